package console_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/console/consoletest"
	"github.com/lanewatch/lanewatch/internal/incident"
)

// The wall shows times in the site's zone, in one format, whatever the
// screen's own zone: an incident at 14:14:05 UTC reads 22:14:05 on a wall
// in New York for a site in Shanghai.
func TestWallShowsSiteTime(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	e := newEnv(t, func(s *console.Server) {
		s.Site = console.SiteInfo{ID: "zhonghua-lane", Name: "Zhonghua Lane", Timezone: "Asia/Shanghai", Language: "zh"}
	})
	c := e.token(t, viewerToken)
	resp, body := c.do("GET", "/api/site", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"timezone":"Asia/Shanghai"`) {
		t.Fatalf("/api/site: %d %s", resp.StatusCode, body)
	}
	inc := sampleIncident("inc-tz", incident.Low)
	inc.StartedAt = time.Date(2026, 12, 3, 14, 14, 5, 0, time.UTC)
	inc.UpdatedAt = inc.StartedAt
	e.incs.Put(inc, nil, nil)

	b := consoletest.NewBrowser(t, e.base)
	b.TimeZone("America/New_York")
	b.Open()
	b.Login("vic", password)
	b.WaitIncident(inc.ID)
	b.WaitJS("the incident's time in Shanghai time", `document.getElementById("incidents").textContent.includes("2026-12-03 22:14:05")`)
	b.WaitJS("the clock in Shanghai time", `(() => {
		const now = new Intl.DateTimeFormat("sv-SE", {timeZone: "Asia/Shanghai", hour: "2-digit", hour12: false}).format(new Date());
		return document.getElementById("clock").textContent.slice(11, 13) === now; })()`)
}
