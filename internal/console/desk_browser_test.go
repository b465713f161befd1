package console_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/console/consoletest"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/recording"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// withNorthGate lists the north gate with its camera, as the gateway does.
func withNorthGate(s *console.Server) {
	s.GateList = func() []console.GateInfo {
		return []console.GateInfo{{ID: "north", Name: "North gate", Cameras: []string{"gate-north"}}}
	}
}

// sampleClip is the project's 10 s H.264 clip.
func sampleClip(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "media", "campus-walk-10s.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// An SOS at the north gate pops up over the wall with the gate camera live
// and its snapshot, stays until acknowledged from the pop-up, and queues
// behind nothing: a later high alarm waits behind it.
func TestAlarmPopupInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	e := newEnv(t, withNorthGate)
	snap, err := e.cams.Snapshot(context.Background(), "gate-north")
	if err != nil {
		t.Fatal(err)
	}
	b := consoletest.NewBrowser(t, e.base)
	b.Open()
	b.Login("olga", password)
	b.WaitJS("unhandled counter", `document.querySelector("#unhandled b").textContent === "0"`)

	sos := sampleIncident("inc-2-sos", incident.Critical)
	sos.Type, sos.Title, sos.Source = incident.SOS, "SOS at the north gate", incident.Source{Gate: "north"}
	e.incs.Put(sos, snap, nil)
	b.WaitJS("the pop-up", `!document.getElementById("alarm").hidden`)
	if got := b.Alarm(); got != sos.ID {
		t.Fatalf("pop-up shows %q", got)
	}
	if got := b.Text("#alarm .a-title"); got != sos.Title {
		t.Errorf("pop-up title %q", got)
	}
	// The gate has no camera of its own in the incident: the gate's first
	// camera is shown live (the picture changes), beside the snapshot.
	if got := b.Text("#alarm .a-live figcaption"); !strings.Contains(got, "gate-north") {
		t.Errorf("live caption %q, want the gate's camera", got)
	}
	b.WaitLiveElement("#alarm-live")
	b.WaitJS("the snapshot", `document.getElementById("alarm-snap").naturalWidth === 640`)
	b.WaitJS("counter 1", `document.querySelector("#unhandled b").textContent === "1"`)

	// A high alarm arrives meanwhile: it waits behind the critical one.
	high := sampleIncident("inc-3-high", incident.High)
	e.incs.Put(high, nil, nil)
	b.WaitJS("queue", `document.querySelector("#alarm .a-queue").textContent === "+1 waiting"`)
	if got := b.Alarm(); got != sos.ID {
		t.Errorf("pop-up switched to %q: the critical one must stay first", got)
	}
	b.Screenshot("desk-alarm-popup")
	// Filtering the feed down to resolved incidents hides the cards, not the
	// alarms: the pop-up and the counter stay.
	consoletest.Eval[any](b, `document.getElementById("f-state").value = "resolved"; document.getElementById("f-apply").click()`)
	b.WaitJS("filtered feed", `document.querySelector("#incidents li.empty") !== null`)
	if got := b.Alarm(); got != sos.ID || b.Text("#unhandled b") != "2" {
		t.Errorf("after filtering the feed: pop-up %q, counter %q", got, b.Text("#unhandled b"))
	}
	consoletest.Eval[any](b, `document.getElementById("f-state").value = ""; document.getElementById("f-type").value = "sos"; document.getElementById("f-apply").click()`)
	b.WaitJS("sos only", `[...document.querySelectorAll("#incidents li")].map(li => li.dataset.id).join() === "inc-2-sos"`)
	consoletest.Eval[any](b, `document.getElementById("f-type").value = ""; document.getElementById("f-apply").click()`)
	b.WaitIncident(high.ID)
	b.AckAlarm("guard sent to the north gate")
	b.WaitJS("next alarm", `window.LWDesk.shown === "inc-3-high"`)
	got, _ := e.incs.Get(sos.ID)
	if got.State != incident.Acknowledged || len(got.Acks) != 1 || got.Acks[0].By != "olga" || got.Acks[0].Note != "guard sent to the north gate" {
		t.Errorf("SOS after the pop-up's ack: %s %+v", got.State, got.Acks)
	}
	b.WaitIncidentState(sos.ID, "acknowledged")
	b.AckAlarm("")
	b.WaitJS("pop-up gone", `document.getElementById("alarm").hidden`)
	b.WaitJS("counter 0", `document.querySelector("#unhandled b").textContent === "0"`)
	b.WaitLiveImage("lawn") // the wall stayed live around the pop-up
	// A low incident never pops up.
	e.incs.Put(sampleIncident("inc-4-low", incident.Low), nil, nil)
	b.WaitIncident("inc-4-low")
	if b.Alarm() != "" {
		t.Error("a low incident popped up")
	}
	if !consoletest.Eval[bool](b, `document.querySelector('#incidents li[data-id="inc-4-low"]').classList.contains("compact")`) {
		t.Error("low-severity card not compact")
	}
	// Feed order: unhandled first, then severity, then time.
	order := consoletest.Eval[string](b, `[...document.querySelectorAll("#incidents li")].map(li => li.dataset.id).join(",")`)
	if order != "inc-4-low,inc-2-sos,inc-3-high" {
		t.Errorf("feed order %s", order)
	}
}

// A viewer sees the pop-up but cannot acknowledge it.
func TestAlarmPopupViewer(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	e := newEnv(t, withNorthGate)
	e.incs.Put(sampleIncident("inc-1", incident.Critical), nil, nil) // open before the wall starts
	b := consoletest.NewBrowser(t, e.base)
	b.Open()
	b.Login("vic", password)
	b.WaitJS("the pop-up", `window.LWDesk.shown === "inc-1" && !document.getElementById("alarm").hidden`)
	if !consoletest.Eval[bool](b, `document.getElementById("alarm-ack").hidden`) {
		t.Error("acknowledge offered to a viewer")
	}
	b.WaitLiveElement("#alarm-live")
	// "Playback" opens the incident's camera 10 s before it started, above
	// the pop-up, which is back when the playback closes.
	b.Click("#alarm-playback")
	onTop := func(id string) string {
		return `(() => { const e = document.elementFromPoint(960, 500); return e && e.closest("#` + id + `") !== null; })()`
	}
	b.WaitJS("playback above the pop-up", onTop("playback"))
	inc, _ := e.incs.Get("inc-1")
	if cam, at := consoletest.Eval[string](b, `document.getElementById("pb-camera").value`),
		consoletest.Eval[float64](b, `window.LWDesk.playback.at`); cam != "lawn" || int64(at) != inc.StartedAt.Add(-10*time.Second).UnixMilli() {
		t.Errorf("playback of %q at %v, want lawn at %v", cam, at, inc.StartedAt.Add(-10*time.Second).UnixMilli())
	}
	b.Click("#pb-close")
	b.WaitJS("the pop-up again", onTop("alarm"))
}

// An incident's clip plays to its end in its card, and appears in the pop-up
// once the evidence is attached.
func TestClipPlaysInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	e := newEnv(t, withNorthGate)
	clip := sampleClip(t)
	b := consoletest.NewBrowser(t, e.base)
	b.Open()
	b.Login("olga", password)
	inc := sampleIncident("inc-5", incident.High)
	e.incs.Put(inc, nil, nil)
	b.WaitJS("the pop-up", `window.LWDesk.shown === "inc-5"`)
	if got := b.Text("#alarm .a-clip figcaption"); !strings.Contains(got, "not ready") {
		t.Errorf("clip caption before the clip %q", got)
	}
	inc.Evidence.Clip = "/api/incidents/inc-5/clip.mp4"
	inc.Version++
	e.incs.Put(inc, nil, clip)
	b.WaitJS("the clip in the pop-up plays", `(() => { const v = document.getElementById("alarm-clip");
		return v.getAttribute("src") === "/api/incidents/inc-5/clip.mp4" && v.readyState >= 2 && v.currentTime > 0; })()`)
	b.AckAlarm("")
	b.WaitJS("pop-up gone", `document.getElementById("alarm").hidden`)

	sel := `#incidents li[data-id="inc-5"]`
	b.WaitJS("play button in the card", `document.querySelector('`+sel+` .play-clip')`)
	b.Click(sel + " .play-clip")
	// Four times speed: the 10 s clip ends in about 3 s.
	b.WaitJS("video in the card", `(() => { const v = document.querySelector('`+sel+` video'); if (v) v.playbackRate = 4; return v && v.readyState >= 2; })()`)
	// Another incident re-renders the feed: the clip keeps playing.
	e.incs.Put(sampleIncident("inc-6", incident.Low), nil, nil)
	b.WaitIncident("inc-6")
	b.WaitJS("the clip reaches its end", `(() => { const v = document.querySelector('`+sel+` video'); return v && v.ended && v.currentTime > 9.5; })()`)
	if d := consoletest.Eval[float64](b, `document.querySelector('`+sel+` video').duration`); d < 9.5 || d > 10.5 {
		t.Errorf("clip duration %v s, want 10", d)
	}
	if sig := consoletest.Eval[string](b, consoletest.PixelSig(sel+" video")); sig == "" || !strings.HasPrefix(sig, "640x480:") {
		t.Errorf("clip frame %q", sig)
	}
}

// withRecording records the sample video as camera gate-north from base on
// (loops of 10 s, in 10 s segments) and serves the store.
func withRecording(t testing.TB, base time.Time, loops int) (envOpt, []recording.Segment) {
	root := t.TempDir()
	segs := consoletest.Record(t, root, "gate-north", filepath.Join(testenv.RepoRoot(t), "media", "campus-walk-10s.mp4"),
		base, loops, 10*time.Second)
	return func(s *console.Server) { s.Recordings = recording.Store{Root: root} }, segs
}

// jsDate is a time as a JavaScript Date.
func jsDate(t time.Time) string { return "new Date(" + strconv.FormatInt(t.UnixMilli(), 10) + ")" }

// "What happened at the north gate at 02:13?": the playback view shows the
// recorded segments with the incident and the passage marked; a click on
// the timeline loads the right segment at the right offset and paints that
// moment's frame.
func TestPlaybackSeekInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	rec, segs := withRecording(t, base, 3)
	if len(segs) != 3 {
		t.Fatalf("%d segments recorded, want 3", len(segs))
	}
	e := newEnv(t, withNorthGate, rec)
	inc := sampleIncident("inc-7", incident.High)
	inc.Source = incident.Source{Camera: "gate-north"}
	inc.StartedAt, inc.UpdatedAt = base.Add(5*time.Second), base.Add(5*time.Second)
	inc.State = incident.Resolved
	e.incs.Put(inc, nil, nil)
	e.veh.AddPassage(console.Passage{ID: "p-1", Site: "s", Gate: "north", Direction: "in", Plate: "沪B99999", Class: "visitor", At: base.Add(12 * time.Second)})

	b := consoletest.NewBrowser(t, e.base)
	b.Open()
	b.Login("olga", password)
	b.Click("#pb-open")
	b.WaitJS("playback view", `!document.getElementById("playback").hidden`)
	// Pick the time in the date-time picker, as an operator types it.
	consoletest.Eval[any](b, `(() => { const d = `+jsDate(base.Add(15*time.Second))+`, p = n => String(n).padStart(2, "0");
		document.getElementById("pb-camera").value = "gate-north";
		document.getElementById("pb-time").value = d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + "T" +
			p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds()); })()`)
	b.Click("#pb-go")
	b.WaitJS("the segment at 15 s", `(() => { const v = document.getElementById("pb-video");
		return window.LWDesk.playback.seg && window.LWDesk.playback.seg.id === `+strconv.Quote(segs[1].ID)+` && v.readyState >= 2 && Math.abs(v.currentTime - 5) < 1.5; })()`)
	b.Click(`#playback .pb-zoom button[data-span="600000"]`)
	b.WaitJS("timeline", `document.querySelectorAll("#pb-timeline .pb-seg").length === 3 &&
		document.querySelectorAll("#pb-timeline .pb-mark.inc.high").length === 1 &&
		document.querySelectorAll("#pb-timeline .pb-mark.pas.visitor").length === 1`)
	b.Screenshot("desk-playback")
	e.waitMJPEGViewers(t, 0) // the tiles behind the playback view rest

	// Seeks by clicking the timeline, the video held still on the frame.
	consoletest.Eval[any](b, `window.LWDesk.playback.autoplay = false; document.getElementById("pb-video").pause()`)
	from := time.UnixMilli(int64(consoletest.Eval[float64](b, `window.LWDesk.playback.from`)))
	to := time.UnixMilli(int64(consoletest.Eval[float64](b, `window.LWDesk.playback.to`)))
	seekTo := func(at time.Time) (string, string) {
		t.Helper()
		f := b.ClickAt("#pb-timeline", float64(at.Sub(from))/float64(to.Sub(from)), 0.5)
		clicked := from.Add(time.Duration(f * float64(to.Sub(from))))
		if d := clicked.Sub(at); d < -time.Second || d > time.Second {
			t.Fatalf("clicked %v, %v from %v", clicked, d, at)
		}
		b.WaitJS("seeked to "+at.String(), `(() => { const v = document.getElementById("pb-video"), P = window.LWDesk.playback;
			return P.seg && v.readyState >= 2 && !v.seeking && Math.abs(P.seg.s + v.currentTime * 1000 - P.at) < 150; })()`)
		var seg recording.Segment
		for _, s := range segs {
			if !clicked.Before(s.Start) && clicked.Before(s.End) {
				seg = s
			}
		}
		if id := consoletest.Eval[string](b, `window.LWDesk.playback.seg.id`); id != seg.ID {
			t.Errorf("seek to %v loaded segment %s, want %s", at, id, seg.ID)
		}
		want := clicked.Sub(seg.Start).Seconds()
		if got := consoletest.Eval[float64](b, `document.getElementById("pb-video").currentTime`); got < want-0.3 || got > want+0.3 {
			t.Errorf("seek to %v: currentTime %.2f, want %.2f", at, got, want)
		}
		time.Sleep(200 * time.Millisecond) // let the compositor take the seeked frame
		return seg.ID, consoletest.Eval[string](b, consoletest.PixelSig("#pb-video"))
	}
	seg1, pic1 := seekTo(base.Add(4 * time.Second))
	seg2, pic2 := seekTo(base.Add(26 * time.Second))
	seg3, pic3 := seekTo(base.Add(4 * time.Second))
	if seg1 == seg2 || seg1 != seg3 {
		t.Errorf("segments %s %s %s", seg1, seg2, seg3)
	}
	if pic1 == "" || pic1 == pic2 || pic1 != pic3 {
		t.Errorf("frames: 4 s %q, 26 s %q, 4 s again %q: want the same picture for the same moment, another for another", pic1, pic2, pic3)
	}
	// After the recording ends there is nothing to show, and the view says so.
	b.ClickAt("#pb-timeline", 0.99, 0.5)
	b.WaitJS("no recording", `document.getElementById("pb-status").textContent.startsWith("No recording")`)
	b.Click("#pb-close")
	e.waitMJPEGViewers(t, 2)
	b.WaitLiveImage("lawn")
}

// A passage appears in the vehicle log as it happens, with its plate
// snapshot and class colour; the inside list marks overstays; an unknown
// plate becomes a visitor from its row.
func TestLiveVehicleLogInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	e := newEnv(t, withNorthGate, func(s *console.Server) {
		s.PassageSnapshot = func(id string) ([]byte, error) {
			if id != "p-live" {
				return nil, console.ErrNotFound
			}
			return s.Cameras.Snapshot(context.Background(), "gate-north")
		}
	})
	e.veh.Overstay = 24 * time.Hour
	e.veh.AddPassage(console.Passage{ID: "p-old", Site: "s", Gate: "north", Direction: "in", Plate: "青A12345", Class: "resident", At: time.Now().Add(-30 * time.Hour)})
	b := consoletest.NewBrowser(t, e.base)
	b.Open()
	b.Login("olga", password)
	b.WaitJS("inside list", `document.querySelector('#inside-list .inside-chip.overstay[data-plate="青A12345"]')`)
	consoletest.Eval[any](b, `window.notReloaded = true`)

	p := console.Passage{ID: "p-live", Site: "s", Gate: "north", Direction: "in", Plate: "沪C77777", Class: "unknown",
		At: time.Now(), Snapshot: "/api/vehicles/passages/p-live/snapshot.jpg"}
	e.veh.AddPassage(p)
	e.srv.PublishPassage(p)
	row := `#passages tr[data-id="p-live"]`
	b.WaitJS("the live passage with its snapshot", `(() => { const img = document.querySelector('`+row+` img.pthumb');
		return img && img.complete && img.naturalWidth === 640; })()`)
	if !consoletest.Eval[bool](b, `window.notReloaded === true && document.querySelector("#passages tbody tr").dataset.id === "p-live"`) {
		t.Error("the passage is not the first row of the same page")
	}
	if got := b.Text(row + " td.plate .ptext"); got != "沪C77777" {
		t.Errorf("plate %q", got)
	}
	b.WaitJS("inside now 2", `document.getElementById("inside-count").textContent === "2" && document.querySelector('#inside-list .inside-chip[data-plate="沪C77777"]')`)
	// Class colours: the resident green, the unknown grey.
	colour := func(sel string) string {
		return consoletest.Eval[string](b, `getComputedStyle(document.querySelector('`+sel+`')).color`)
	}
	if a, c := colour(`#passages tr[data-id="p-old"] td.resident`), colour(row+` td.unknown`); a == c {
		t.Errorf("resident and unknown in the same colour %s", a)
	}
	b.Screenshot("desk-vehicle-log")
	// The unknown plate becomes a visitor from its row.
	b.Click(row + " .as-visitor")
	b.WaitJS("visitor form filled", `document.getElementById("visitors").open && document.getElementById("vis-plate").value === "沪C77777"`)
	consoletest.Eval[any](b, `document.getElementById("vis-unit").value = "5-2-301"; document.querySelector("#visitor-form button").click()`)
	b.WaitJS("visitor listed", `document.querySelector('#visitor-list tr[data-plate="沪C77777"]')`)
}

// The site plan shows the cameras and gates where the configuration put
// them; a marker flashes with the colour of its open incident, and a click
// opens that camera's live view.
func TestSitePlanInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	path, _ := planPNG(t)
	e := newEnv(t, withNorthGate, withPlan(path))
	b := consoletest.NewBrowser(t, e.base)
	b.Open()
	b.Login("olga", password)
	b.WaitJS("plan button", `!document.getElementById("plan-open").hidden`)
	b.Click("#plan-open")
	b.WaitJS("plan image", `document.getElementById("plan-img").naturalWidth === 1200 && document.querySelectorAll("#plan .marker").length === 3`)
	// Markers sit at their fractions of the image.
	for _, m := range []struct {
		sel  string
		x, y float64
	}{{`.marker.camera[data-camera="lawn"]`, 0.3, 0.35}, {`.marker.gate[data-gate="north"]`, 0.85, 0.05}} {
		pos := consoletest.Eval[[]float64](b, `(() => { const i = document.getElementById("plan-img").getBoundingClientRect(),
			m = document.querySelector('#plan `+m.sel+`').getBoundingClientRect();
			return [(m.left + m.width / 2 - i.left) / i.width, (m.top + m.height / 2 - i.top) / i.height]; })()`)
		if len(pos) != 2 || math.Abs(pos[0]-m.x) > 0.01 || math.Abs(pos[1]-m.y) > 0.01 {
			t.Errorf("%s at %v, want [%v %v]", m.sel, pos, m.x, m.y)
		}
	}
	// A medium incident at the north gate: the gate marker flashes, no pop-up.
	gate := sampleIncident("inc-8", incident.Medium)
	gate.Type, gate.Source = incident.GateForced, incident.Source{Gate: "north"}
	e.incs.Put(gate, nil, nil)
	b.WaitJS("gate marker flashing", `document.querySelector('#plan .marker.gate[data-gate="north"]').classList.contains("alarm") &&
		document.querySelector('#plan .marker.gate[data-gate="north"]').classList.contains("medium")`)
	if consoletest.Eval[bool](b, `document.querySelector('#plan .marker.camera[data-camera="lawn"]').classList.contains("alarm")`) {
		t.Error("lawn marker flashing without an incident")
	}
	b.Screenshot("desk-site-plan")
	// A critical one on the lawn: its marker flashes red and the pop-up comes
	// above the plan.
	e.incs.Put(sampleIncident("inc-9", incident.Critical), nil, nil)
	b.WaitJS("lawn marker critical", `document.querySelector('#plan .marker.camera[data-camera="lawn"]').classList.contains("critical")`)
	b.WaitJS("pop-up above the plan", `(() => { const e = document.elementFromPoint(960, 500); return e && e.closest("#alarm") !== null; })()`)
	b.AckAlarm("")
	b.WaitJS("pop-up gone", `document.getElementById("alarm").hidden`)
	b.WaitJS("lawn marker calm", `!document.querySelector('#plan .marker.camera[data-camera="lawn"]').classList.contains("alarm")`)
	// A click on the marker opens the camera's live view.
	b.Click(`#plan .marker.camera[data-camera="lawn"]`)
	b.WaitJS("live view of lawn", `document.getElementById("plan").hidden && document.querySelector('.tile.full[data-camera="lawn"]')`)
	b.WaitLiveImage("lawn")
}

// The feed shows the newest hundred and pages back through the rest; the
// sound is off until armed, then follows the chosen severities.
func TestFeedPagingAndSoundInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	e := newEnv(t)
	base := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	for i := range 130 {
		inc := sampleIncident(fmt.Sprintf("inc-%03d", i), incident.Low)
		inc.State = incident.Resolved
		inc.StartedAt, inc.UpdatedAt = base.Add(time.Duration(i)*time.Minute), base.Add(time.Duration(i)*time.Minute)
		e.incs.Put(inc, nil, nil)
	}
	b := consoletest.NewBrowser(t, e.base)
	b.Open()
	b.Login("olga", password)
	count := `document.querySelectorAll("#incidents li.incident").length`
	b.WaitJS("first page", count+` === 100`)
	if b.Text(`#incidents li:last-child .title`) == "" || consoletest.Eval[string](b, `document.querySelector("#incidents li:last-child").dataset.id`) != "inc-030" {
		t.Errorf("last card of the first page: %s", consoletest.Eval[string](b, `document.querySelector("#incidents li:last-child").dataset.id`))
	}
	b.Click("#feed-more")
	b.WaitJS("second page", count+` === 130 && document.getElementById("feed-end").textContent === "No older incidents"`)
	if got := consoletest.Eval[string](b, `document.querySelector("#incidents li:last-child").dataset.id`); got != "inc-000" {
		t.Errorf("oldest card %s", got)
	}

	// Sound: nothing until armed; armed, critical and high beep by default.
	sound := func(sev string) bool { return consoletest.Eval[bool](b, `window.LW.S.soundFor("`+sev+`")`) }
	if sound("critical") {
		t.Error("sound before the operator armed it")
	}
	b.Click("#sound-arm")
	b.WaitJS("armed", `document.getElementById("sound-arm").classList.contains("on") && window.LW.S.audio !== null`)
	if !sound("critical") || !sound("high") || sound("medium") {
		t.Error("armed: want critical and high only")
	}
	consoletest.Eval[any](b, `const s = document.getElementById("sound-sev"); s.value = "critical"; s.dispatchEvent(new Event("change"))`)
	if !sound("critical") || sound("high") {
		t.Error("critical only: high still sounds")
	}
	if got := consoletest.Eval[string](b, `localStorage.getItem("lw-sound")`); got != "critical" {
		t.Errorf("choice kept as %q", got)
	}
	// The desk's own controls follow the language switch.
	b.Click("#lang-toggle")
	if got, arm := b.Text("#unhandled"), b.Text("#sound-arm"); got != "未处理 0" || arm != "声音已开" {
		t.Errorf("in Chinese: counter %q, sound button %q", got, arm)
	}
	if got := b.Text("#feed-more"); got != "更早…" {
		t.Errorf("older button in Chinese %q", got)
	}
}
