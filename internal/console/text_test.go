package console_test

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/incident"
)

// TestFreeTextRefusesControlCharacters: every free-text field that reaches
// MQTT or the audit log refuses control and invisible formatting characters
// with 400; nothing is published, changed or audited.
func TestFreeTextRefusesControlCharacters(t *testing.T) {
	e := newEnv(t)
	e.incs.Put(sampleIncident("inc_text", incident.High), nil, nil)
	olga := e.login(t, "olga")
	from := time.Now().Truncate(time.Second)
	visitor := func(unit, note string) map[string]any {
		return map[string]any{"plate": "沪A12345", "valid_from": from, "valid_until": from.Add(time.Hour), "unit": unit, "note": note}
	}
	for _, bad := range []string{"open \u202egate", "a\nb", "a\x1b[2Jb", "ad\u200bmin", "x\u2066y", "a\x00b"} {
		for _, tc := range []struct {
			path string
			body any
		}{
			{"/api/gates/north/open", map[string]string{"reason": bad}},
			{"/api/incidents/inc_text/ack", map[string]string{"note": bad}},
			{"/api/incidents/inc_text/resolve", map[string]string{"note": bad}},
			{"/api/vehicles/visitors", visitor(bad, "")},
			{"/api/vehicles/visitors", visitor("3-201", bad)},
		} {
			resp, body := olga.do("POST", tc.path, tc.body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s with %q: %d %s, want 400", tc.path, bad, resp.StatusCode, body)
				continue
			}
			if msg := errorBody(t, resp, body); !strings.Contains(msg, "U+") || strings.Contains(msg, bad) {
				t.Errorf("%s: error %q should name the code point, not echo the text", tc.path, msg)
			}
		}
		// The login name goes to the audit log on failure.
		resp, body := e.anon(t).do("POST", "/api/login", map[string]string{"name": "olga" + bad, "password": "x"})
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("login name %q: %d %s", bad, resp.StatusCode, body)
		}
	}
	if sent := e.gates.Sent(); len(sent) != 0 {
		t.Errorf("gate commands published: %+v", sent)
	}
	if inc, _ := e.incs.Get("inc_text"); inc.State != incident.Open {
		t.Errorf("incident changed to %s", inc.State)
	}
	raw, _ := os.ReadFile(e.auditPath)
	if n := strings.Count(string(raw), "\n"); n != 1 || !strings.Contains(string(raw), `"action":"login"`) {
		t.Errorf("audit log beyond olga's login:\n%s", raw)
	}
	// Chinese, punctuation and emoji are fine.
	if resp, body := olga.do("POST", "/api/gates/north/open", map[string]string{"reason": "送货车，车牌无法识别 🚚"}); resp.StatusCode != http.StatusAccepted {
		t.Errorf("ordinary reason: %d %s", resp.StatusCode, body)
	}
}
