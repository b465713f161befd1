package console_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/console/consoletest"
	"github.com/lanewatch/lanewatch/internal/incident"
)

func TestMonitorWallInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	e := newEnv(t)
	now := time.Now()
	e.veh.AddPassage(console.Passage{ID: "p1", Site: "s", Gate: "north", Direction: "in", Plate: "青A12345", Class: "resident", At: now.Add(-time.Hour)})
	e.veh.AddPassage(console.Passage{ID: "p2", Site: "s", Gate: "north", Direction: "in", Plate: "沪B99999", Class: "visitor", At: now.Add(-time.Minute)})
	b := consoletest.NewBrowser(t, e.base)
	b.Open()
	if got := b.Text("#login-form h1"); got != "Sign in to lanewatch" {
		t.Errorf("login title %q (browser language en-US)", got)
	}
	b.Login("olga", password)
	if who := b.Text("#who"); who != "olga (operator)" {
		t.Errorf("who %q", who)
	}

	// Vehicle log: both entries, two inside; search by plate as typed on a keyboard.
	b.WaitJS("inside count", `document.getElementById("inside-count").textContent === "2"`)
	b.WaitJS("two passages", `document.querySelectorAll("#passages tbody tr").length === 2`)
	consoletest.Eval[any](b, `document.getElementById("v-plate").value = "沪b 99999"; document.querySelector("#vehicle-search button").click()`)
	b.WaitJS("search result", `document.querySelectorAll("#passages tbody tr").length === 1 && document.querySelector("#passages td.plate").textContent === "沪B99999"`)
	if href := consoletest.Eval[string](b, `document.getElementById("v-csv").href`); !strings.Contains(href, "format=csv") || !strings.Contains(href, "plate=") {
		t.Errorf("CSV link %s", href)
	}

	// Live MJPEG tile in the default 4 layout.
	b.WaitLiveImage("lawn")

	// An incident pushed through the store's subscription reaches the feed.
	inc := sampleIncident("inc-browser-1", incident.Critical)
	inc.Title = "Person on the lawn <b>at night</b>"
	e.incs.Put(inc, nil, nil)
	b.WaitIncident(inc.ID)
	if got := b.Text(`#incidents li[data-id="inc-browser-1"] .title`); got != inc.Title {
		t.Errorf("title shown as %q: markup must stay text", got)
	}
	if !consoletest.Eval[bool](b, `document.getElementById("flash").classList.contains("on")`) {
		t.Error("no flash for a critical incident")
	}
	b.Acknowledge(inc.ID, "guard on the way")
	b.WaitIncidentState(inc.ID, "acknowledged")
	if got, _ := e.incs.Get(inc.ID); got.State != incident.Acknowledged || got.Acks[0].By != "olga" || got.Acks[0].Note != "guard on the way" {
		t.Errorf("store after the click: %s by %+v", got.State, got.Acks)
	}
	// A second incident, resolved straight from the feed.
	inc2 := sampleIncident("inc-browser-2", incident.Low)
	e.incs.Put(inc2, nil, nil)
	b.WaitIncident(inc2.ID)
	b.Resolve(inc2.ID, "")
	b.WaitIncidentState(inc2.ID, "resolved")
	// A camera going offline shows on its tile; the last frame stays.
	e.cams.SetState("gate-north", "offline")
	b.WaitJS("offline badge", `document.querySelector('.tile[data-camera="gate-north"] .badge.offline')`)
	if got := b.Text(`.tile[data-camera="gate-north"] .badge`); !strings.HasPrefix(got, "offline since") {
		t.Errorf("offline badge %q", got)
	}
	b.Screenshot("console-wall-en")

	// Chinese, and the 9 layout (tiles poll the shared annotated frame).
	b.Click("#lang-toggle")
	if got := b.Text(`#feed h2 span[data-i18n="incidents"]`); got != "事件" {
		t.Errorf("incident heading in Chinese: %q", got)
	}
	if got := b.Text(`#incidents li[data-id="inc-browser-1"] .state`); got != "已确认" {
		t.Errorf("state in Chinese: %q", got)
	}
	b.SetLayout(9)
	b.WaitLiveImage("lawn")
	time.Sleep(300 * time.Millisecond)
	path := b.Screenshot("console-wall-zh-9")
	if st, err := os.Stat(path); err != nil || st.Size() < 10000 {
		t.Errorf("screenshot %s: %v", path, err)
	}
	// A laptop-sized window: the side panel must not push the grid away.
	b.Viewport(1280, 800)
	if w := consoletest.Eval[float64](b, `document.getElementById("grid").getBoundingClientRect().width`); w < 600 {
		t.Errorf("grid %v px wide on a 1280 px window", w)
	}
	b.Screenshot("console-wall-laptop")
	b.Viewport(900, 1000)
	if w := consoletest.Eval[float64](b, `document.getElementById("grid").getBoundingClientRect().width`); w < 850 {
		t.Errorf("grid %v px wide on a 900 px window: should take the full width", w)
	}
	b.Screenshot("console-wall-narrow")
	// Layout changes and full screen must not leak MJPEG connections.
	b.Viewport(1920, 1080)
	b.SetLayout(4)
	b.Click(`.tile[data-camera="lawn"]`) // full screen
	b.WaitJS("full-screen tile", `document.querySelector(".tile.full")`)
	b.Click(`.tile[data-camera="lawn"]`)
	b.SetLayout(1)
	b.SetLayout(4)
	b.WaitLiveImage("lawn")
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := e.anon(t).do("GET", "/metrics", nil)
		if strings.Contains(string(body), "\nlanewatch_console_mjpeg_viewers 2\n") {
			break
		}
		if time.Now().After(deadline) {
			i := strings.Index(string(body), "lanewatch_console_mjpeg_viewers ")
			t.Fatalf("MJPEG viewers after layout changes: %.40s, want 2 (one per visible tile)", string(body)[i:])
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The page never sees a secret: the HTML has no password or hash.
	html := consoletest.Eval[string](b, `document.documentElement.outerHTML`)
	if strings.Contains(html, password) || strings.Contains(html, "$2a$") {
		t.Error("secret in the page")
	}
}

// An operator registers a visitor's plate from the page and removes it; the
// outbox panel is for admins only.
func TestVisitorsInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	e := newEnv(t)
	b := consoletest.NewBrowser(t, e.base)
	b.Open()
	b.Login("olga", password)
	b.WaitJS("visitor form", `!document.getElementById("visitor-form").hidden`)
	if !consoletest.Eval[bool](b, `document.getElementById("outbox-box").hidden`) {
		t.Error("outbox panel shown to an operator")
	}
	b.Click("#visitors summary")
	consoletest.Eval[any](b, `document.getElementById("vis-plate").value = "粤b 12345";
		document.getElementById("vis-unit").value = "3-1-402";
		document.getElementById("vis-note").value = "moving van";
		document.querySelector("#visitor-form button").click()`)
	b.WaitJS("visitor listed", `document.querySelector('#visitor-list tr[data-plate="粤B12345"]')`)
	list, _ := e.veh.Visitors(context.Background())
	if len(list) != 1 || list[0].Plate != "粤B12345" || list[0].Unit != "3-1-402" || list[0].Note != "moving van" {
		t.Fatalf("visitors in the store: %+v", list)
	}
	// The form's default window: from now, four hours.
	if w := list[0].ValidUntil.Sub(list[0].ValidFrom); w < 3*time.Hour+59*time.Minute || w > 4*time.Hour+time.Minute ||
		time.Since(list[0].ValidFrom) > 5*time.Minute {
		t.Errorf("window %v from %v", w, list[0].ValidFrom)
	}
	// A bad plate is refused with the API's reason on the page.
	consoletest.Eval[any](b, `document.getElementById("vis-plate").value = "??";
		document.querySelector("#visitor-form button").click()`)
	b.WaitJS("plate refused", `document.getElementById("vis-error").textContent.includes("plate")`)
	b.Click(`#visitor-list tr[data-plate="粤B12345"] .visitor-remove`)
	b.WaitJS("visitor removed", `!document.querySelector('#visitor-list tr[data-plate="粤B12345"]')`)
	if list, _ := e.veh.Visitors(context.Background()); len(list) != 0 {
		t.Errorf("visitors after removal: %+v", list)
	}
	b.Screenshot("console-visitors")
}

// An admin sees the tickets the platform refused and can send one again or
// discard it.
func TestOutboxInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	e := newEnv(t)
	e.outbox.Add(console.OutboxTicket{Key: "inc-3:2", IncidentID: "inc-3", Version: 2, State: "dead", Attempts: 1,
		CreatedAt: time.Now(), LastStatus: 400, Response: `{"error":"unknown household"}`})
	b := consoletest.NewBrowser(t, e.base)
	b.Open()
	b.Login("ada", password)
	b.WaitJS("outbox panel", `!document.getElementById("outbox-box").hidden && document.querySelectorAll("#outbox-list tbody tr").length === 3`)
	if got := b.Text("#outbox-summary"); got != "2 refused, 1 waiting" {
		t.Errorf("summary %q", got)
	}
	b.Click("#outbox summary")
	if got := b.Text(`#outbox-list tr[data-key="inc-3:2"] td.answer`); got != `400 {"error":"unknown household"}` {
		t.Errorf("answer shown %q", got)
	}
	if consoletest.Eval[bool](b, `!!document.querySelector('#outbox-list tr[data-key="inc-2:3"] button')`) {
		t.Error("actions offered on a ticket still waiting")
	}
	b.Click(`#outbox-list tr[data-key="inc-1:1"] .ob-resend`)
	b.WaitJS("resent", `document.querySelector('#outbox-list tr[data-key="inc-1:1"]').className === "pending"`)
	consoletest.Eval[any](b, `window.confirm = () => true`)
	b.Click(`#outbox-list tr[data-key="inc-3:2"] .ob-discard`)
	b.WaitJS("discarded", `!document.querySelector('#outbox-list tr[data-key="inc-3:2"]')`)
	list, _ := e.outbox.List(context.Background())
	states := map[string]string{}
	for _, k := range list {
		states[k.Key] = k.State
	}
	if len(list) != 2 || states["inc-1:1"] != "pending" || states["inc-2:3"] != "pending" {
		t.Errorf("outbox after the clicks: %v", states)
	}
	b.Screenshot("console-outbox")
}
