package console_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/console/consoletest"
	"github.com/lanewatch/lanewatch/internal/incidents"
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

	sos := sampleIncident("inc-2-sos", incidents.Critical)
	sos.Type, sos.Title, sos.Source = incidents.SOS, "SOS at the north gate", incidents.Source{Gate: "north"}
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
	high := sampleIncident("inc-3-high", incidents.High)
	e.incs.Put(high, nil, nil)
	b.WaitJS("queue", `document.querySelector("#alarm .a-queue").textContent === "+1 waiting"`)
	if got := b.Alarm(); got != sos.ID {
		t.Errorf("pop-up switched to %q: the critical one must stay first", got)
	}
	b.Screenshot("desk-alarm-popup")
	b.AckAlarm("guard sent to the north gate")
	b.WaitJS("next alarm", `window.LWDesk.shown === "inc-3-high"`)
	got, _ := e.incs.Get(sos.ID)
	if got.State != incidents.Acknowledged || len(got.Acks) != 1 || got.Acks[0].By != "olga" || got.Acks[0].Note != "guard sent to the north gate" {
		t.Errorf("SOS after the pop-up's ack: %s %+v", got.State, got.Acks)
	}
	b.WaitIncidentState(sos.ID, "acknowledged")
	b.AckAlarm("")
	b.WaitJS("pop-up gone", `document.getElementById("alarm").hidden`)
	b.WaitJS("counter 0", `document.querySelector("#unhandled b").textContent === "0"`)
	// A low incident never pops up.
	e.incs.Put(sampleIncident("inc-4-low", incidents.Low), nil, nil)
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
	e.incs.Put(sampleIncident("inc-1", incidents.Critical), nil, nil) // open before the wall starts
	b := consoletest.NewBrowser(t, e.base)
	b.Open()
	b.Login("vic", password)
	b.WaitJS("the pop-up", `window.LWDesk.shown === "inc-1" && !document.getElementById("alarm").hidden`)
	if !consoletest.Eval[bool](b, `document.getElementById("alarm-ack").hidden`) {
		t.Error("acknowledge offered to a viewer")
	}
	b.WaitLiveElement("#alarm-live")
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
	inc := sampleIncident("inc-5", incidents.High)
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
	e.incs.Put(sampleIncident("inc-6", incidents.Low), nil, nil)
	b.WaitIncident("inc-6")
	b.WaitJS("the clip reaches its end", `(() => { const v = document.querySelector('`+sel+` video'); return v && v.ended && v.currentTime > 9.5; })()`)
	if d := consoletest.Eval[float64](b, `document.querySelector('`+sel+` video').duration`); d < 9.5 || d > 10.5 {
		t.Errorf("clip duration %v s, want 10", d)
	}
	if sig := consoletest.Eval[string](b, consoletest.PixelSig(sel+" video")); sig == "" || !strings.HasPrefix(sig, "640x480:") {
		t.Errorf("clip frame %q", sig)
	}
}
