package gaterules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/sensors"
	"github.com/lanewatch/lanewatch/internal/vehicles"
)

var t0 = time.Date(2026, 11, 1, 22, 0, 0, 0, time.UTC)

// step is one thing that happens at t0+at: an event, a console command
// (cmd), or a timer tick (tick).
type step struct {
	at    float64 // seconds
	typ   sensors.Type
	plate string
	dir   sensors.Direction
	cmd   bool
	tick  bool
	gate  string // default "north"
}

// fired is the part of a Signal the tests compare.
type fired struct {
	typ   incident.Type
	gate  string
	plate string
	clear bool
}

func (f fired) String() string {
	s := string(f.typ) + "@" + f.gate
	if f.plate != "" {
		s += "/" + f.plate
	}
	if f.clear {
		s += "/clear"
	}
	return s
}

type classifier map[string]vehicles.Class

func (c classifier) Classify(p string, _ time.Time) vehicles.Class {
	if cl, ok := c[p]; ok {
		return cl
	}
	return vehicles.ClassUnknown
}

type recorder struct {
	mu   sync.Mutex
	sigs []incident.Signal
}

func (r *recorder) Raise(s incident.Signal) { r.mu.Lock(); r.sigs = append(r.sigs, s); r.mu.Unlock() }

func newRules(rec *recorder, now *time.Time) *Rules {
	return &Rules{
		Gates: []config.Gate{
			{ID: "north", Name: "North gate", Cameras: []string{"cam-n", "cam-n2"}},
			{ID: "side", Cameras: nil, AccessWindow: 5 * time.Second, DoorHeldOpen: 10 * time.Second},
		},
		Vehicles: classifier{"青A00000": vehicles.ClassBlacklisted, "A12345": vehicles.ClassResident},
		Raiser:   rec,
		Snapshot: func(cam string) ([]byte, error) {
			if cam == "cam-n" {
				return []byte("jpeg:" + cam), nil
			}
			return nil, errors.New("no camera")
		},
		Now:    func() time.Time { return *now },
		Logger: slog.New(slog.DiscardHandler),
	}
}

func run(t *testing.T, steps []step) []incident.Signal {
	t.Helper()
	rec := &recorder{}
	now := t0
	r := newRules(rec, &now)
	for _, s := range steps {
		now = t0.Add(time.Duration(s.at * float64(time.Second)))
		gate := s.gate
		if gate == "" {
			gate = "north"
		}
		switch {
		case s.cmd:
			r.NoteCommand(gate)
		case s.tick:
			r.Tick(now)
		default:
			r.Handle(sensors.Event{Gate: gate, Type: s.typ, Plate: s.plate, Direction: s.dir, TS: now, Received: now})
		}
	}
	return rec.sigs
}

func TestRules(t *testing.T) {
	const (
		pr  = sensors.PlateRead
		bo  = sensors.BarrierOpen
		bc  = sensors.BarrierClose
		lp  = sensors.Loop
		ag  = sensors.AccessGranted
		ad  = sensors.AccessDenied
		do  = sensors.DoorOpen
		dc  = sensors.DoorClose
		sos = sensors.SOS
	)
	in := sensors.In
	cases := []struct {
		name  string
		steps []step
		want  []fired
	}{
		// gate_forced, door
		{"authorised door open", []step{{at: 0, typ: ag, dir: in}, {at: 10, typ: do}, {at: 15, typ: dc}}, nil},
		{"door open with no access grant", []step{{at: 0, typ: do}, {at: 5, typ: dc}},
			[]fired{{incident.GateForced, "north", "", false}}},
		{"access grant too long before", []step{{at: 0, typ: ag, dir: in}, {at: 16, typ: do}},
			[]fired{{incident.GateForced, "north", "", false}}},
		{"access grant exactly at the window edge", []step{{at: 0, typ: ag, dir: in}, {at: 15, typ: do}}, nil},
		{"access denied does not authorise", []step{{at: 0, typ: ad}, {at: 2, typ: do}},
			[]fired{{incident.GateForced, "north", "", false}}},
		{"access grant at another gate does not authorise", []step{{at: 0, typ: ag, gate: "side"}, {at: 2, typ: do}},
			[]fired{{incident.GateForced, "north", "", false}}},
		{"console command authorises the door", []step{{at: 0, cmd: true}, {at: 3, typ: do}}, nil},
		{"per-gate access window", []step{{at: 0, typ: ag, gate: "side"}, {at: 6, typ: do, gate: "side"}},
			[]fired{{incident.GateForced, "side", "", false}}},

		// gate_forced, barrier
		{"barrier after a plate read", []step{{at: 0, typ: pr, plate: "B777", dir: in}, {at: 2, typ: bo}, {at: 4, typ: lp}, {at: 8, typ: bc}}, nil},
		{"barrier opened with a plate", []step{{at: 0, typ: bo, plate: "B777"}, {at: 4, typ: lp}, {at: 8, typ: bc}}, nil},
		{"barrier after an access grant", []step{{at: 0, typ: ag}, {at: 1, typ: bo}, {at: 3, typ: bc}}, nil},
		{"barrier after a console command", []step{{at: 0, cmd: true}, {at: 1, typ: bo}, {at: 3, typ: lp}, {at: 5, typ: bc}}, nil},
		{"barrier with nothing before", []step{{at: 0, typ: bo}, {at: 3, typ: lp}, {at: 6, typ: bc}},
			[]fired{{incident.GateForced, "north", "", false}}},
		{"barrier long after the read", []step{{at: 0, typ: pr, plate: "B777", dir: in}, {at: 30, typ: bo}},
			[]fired{{incident.GateForced, "north", "", false}}},

		// door_held_open
		{"door closed in time", []step{{at: 0, typ: ag}, {at: 1, typ: do}, {at: 50, tick: true}, {at: 60, typ: dc}, {at: 100, tick: true}}, nil},
		{"door held open, then closed", []step{{at: 0, typ: ag}, {at: 1, typ: do}, {at: 61, tick: true}, {at: 62, tick: true},
			{at: 90, typ: dc}, {at: 200, tick: true}},
			[]fired{{incident.DoorHeldOpen, "north", "", false}, {incident.DoorHeldOpen, "north", "", true}}},
		{"per-gate held-open limit", []step{{at: 0, typ: ag, gate: "side"}, {at: 1, typ: do, gate: "side"}, {at: 12, tick: true}},
			[]fired{{incident.DoorHeldOpen, "side", "", false}}},
		{"close without held-open raises no clear", []step{{at: 0, typ: ag}, {at: 1, typ: do}, {at: 5, typ: dc}, {at: 6, typ: dc}}, nil},

		// tailgating
		{"one car in one cycle", []step{{at: 0, typ: pr, plate: "B777", dir: in}, {at: 1, typ: bo}, {at: 4, typ: lp, dir: in}, {at: 7, typ: bc}}, nil},
		{"two cars on one read", []step{{at: 0, typ: pr, plate: "B777", dir: in}, {at: 1, typ: bo}, {at: 4, typ: lp, dir: in},
			{at: 5, typ: lp, dir: in}, {at: 7, typ: bc}},
			[]fired{{incident.Tailgating, "north", "", false}}},
		{"repeated reads of one plate are one authorisation", []step{{at: 0, typ: pr, plate: "B777", dir: in},
			{at: 0.5, typ: pr, plate: "B777", dir: in}, {at: 1, typ: bo}, {at: 4, typ: lp}, {at: 5, typ: lp}, {at: 7, typ: bc}},
			[]fired{{incident.Tailgating, "north", "", false}}},
		{"two cars, two reads", []step{{at: 0, typ: pr, plate: "B777", dir: in}, {at: 1, typ: bo}, {at: 3, typ: pr, plate: "C888", dir: in},
			{at: 4, typ: lp}, {at: 5, typ: lp}, {at: 7, typ: bc}}, nil},
		{"loops outside a cycle do not count", []step{{at: 0, typ: lp}, {at: 1, typ: lp}, {at: 2, typ: ag}, {at: 3, typ: bo}, {at: 5, typ: lp}, {at: 7, typ: bc}, {at: 8, typ: lp}}, nil},

		// blacklisted_vehicle
		{"watch-list plate read", []step{{at: 0, typ: pr, plate: "青A00000", dir: in}},
			[]fired{{incident.BlacklistedVehicle, "north", "青A00000", false}}},
		{"watch-list plate read repeatedly is one sighting", []step{{at: 0, typ: pr, plate: "青A00000", dir: in},
			{at: 2, typ: pr, plate: "青A00000", dir: in}, {at: 3, typ: bo, plate: "青A00000"}, {at: 200, typ: pr, plate: "青A00000", dir: in}},
			[]fired{{incident.BlacklistedVehicle, "north", "青A00000", false}, {incident.BlacklistedVehicle, "north", "青A00000", false}}},
		{"resident plate read", []step{{at: 0, typ: pr, plate: "A12345", dir: in}}, nil},

		// sos
		{"sos", []step{{at: 0, typ: sos}}, []fired{{incident.SOS, "north", "", false}}},
		{"heartbeat", []step{{at: 0, typ: sensors.Heartbeat}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sigs := run(t, c.steps)
			var got []string
			for _, s := range sigs {
				got = append(got, fired{s.Type, s.Source.Gate, s.Plate, s.Clear}.String())
			}
			var want []string
			for _, w := range c.want {
				want = append(want, w.String())
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("signals = %v, want %v", got, want)
			}
			for _, s := range sigs {
				if s.Title == "" || (!s.Clear && s.Description == "") || s.At.IsZero() {
					t.Errorf("signal lacks text or time: %+v", s)
				}
				if s.Source.Camera != "" || s.Source.Zone != "" {
					t.Errorf("gate signal with camera source: %+v", s.Source)
				}
			}
		})
	}
}

func TestSignalDetails(t *testing.T) {
	sigs := run(t, []step{{at: 0, typ: sensors.SOS}, {at: 10, typ: sensors.DoorOpen, gate: "side"}})
	if len(sigs) != 2 {
		t.Fatalf("signals = %+v", sigs)
	}
	sos, forced := sigs[0], sigs[1]
	if sos.Severity != incident.Critical || !sos.At.Equal(t0) || !strings.Contains(sos.Title, "North gate") {
		t.Errorf("sos = %+v", sos)
	}
	// Snapshot from the gate's first camera; a gate without cameras has none.
	if string(sos.Snapshot) != "jpeg:cam-n" {
		t.Errorf("sos snapshot = %q", sos.Snapshot)
	}
	if forced.Snapshot != nil || !forced.At.Equal(t0.Add(10*time.Second)) || !strings.Contains(forced.Title, "gate side") {
		t.Errorf("forced = %+v", forced)
	}
}

func TestOverstayAndUnknownGate(t *testing.T) {
	rec := &recorder{}
	now := t0
	r := newRules(rec, &now)
	r.Overstay(vehicles.InsideVehicle{Plate: "B777", Class: vehicles.ClassVisitor, Gate: "north",
		EntryAt: t0.Add(-25 * time.Hour), Dwell: 25 * time.Hour})
	// Events from a gate missing in the configuration still get the defaults.
	r.Handle(sensors.Event{Gate: "east", Type: sensors.DoorOpen, TS: now, Received: now})
	now = now.Add(61 * time.Second)
	r.Tick(now)
	if len(rec.sigs) != 3 {
		t.Fatalf("signals = %+v", rec.sigs)
	}
	o := rec.sigs[0]
	if o.Type != incident.VehicleOverstay || o.Plate != "B777" || o.Source.Gate != "north" ||
		!strings.Contains(o.Description, "25h0m0s") || string(o.Snapshot) != "jpeg:cam-n" {
		t.Errorf("overstay = %+v", o)
	}
	if rec.sigs[1].Type != incident.GateForced || rec.sigs[2].Type != incident.DoorHeldOpen || rec.sigs[2].Source.Gate != "east" {
		t.Errorf("unknown gate signals = %+v", rec.sigs[1:])
	}
	if v := testutil.ToFloat64(r.fired.WithLabelValues("door_held_open", "east")); v != 1 {
		t.Errorf("fired metric = %v", v)
	}
}

// The held-open timer runs on local receipt time: a sensor whose clock is an
// hour behind must not make a door look open for an hour.
func TestHeldOpenUsesReceiptTime(t *testing.T) {
	rec := &recorder{}
	now := t0
	r := newRules(rec, &now)
	skew := -time.Hour
	r.Handle(sensors.Event{Gate: "north", Type: sensors.AccessGranted, TS: now.Add(skew), Received: now})
	r.Handle(sensors.Event{Gate: "north", Type: sensors.DoorOpen, TS: now.Add(skew + time.Second), Received: now.Add(time.Second)})
	r.Tick(now.Add(30 * time.Second))
	if len(rec.sigs) != 0 {
		t.Fatalf("signals = %+v", rec.sigs)
	}
	// A console command (local time) authorises a door on a skewed gate too.
	r.Handle(sensors.Event{Gate: "north", Type: sensors.DoorClose, TS: now.Add(skew + 40*time.Second), Received: now.Add(40 * time.Second)})
	now = now.Add(100 * time.Second)
	r.NoteCommand("north")
	r.Handle(sensors.Event{Gate: "north", Type: sensors.DoorOpen, TS: now.Add(skew + 2*time.Second), Received: now.Add(2 * time.Second)})
	if len(rec.sigs) != 0 {
		t.Fatalf("console-opened door on a skewed gate raised %+v", rec.sigs)
	}
}

func TestRunTicks(t *testing.T) {
	rec := &recorder{}
	var mu sync.Mutex
	now := t0
	r := newRules(rec, &now)
	r.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	r.Handle(sensors.Event{Gate: "side", Type: sensors.DoorOpen, TS: t0, Received: t0})
	mu.Lock()
	now = t0.Add(11 * time.Second)
	mu.Unlock()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec.mu.Lock()
		n := len(rec.sigs)
		rec.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the timers did not raise door_held_open")
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.Close()
	if rec.sigs[1].Type != incident.DoorHeldOpen {
		t.Fatalf("signals = %+v", rec.sigs)
	}
}

// waitRecorder stores a signal only when RaiseWait's caller may go on: Handle
// must not return before the signal is stored.
type waitRecorder struct {
	recorder
	waited  int
	release chan struct{}
}

func (w *waitRecorder) RaiseWait(ctx context.Context, s incident.Signal) error {
	select {
	case <-w.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	w.mu.Lock()
	w.waited++
	w.mu.Unlock()
	w.Raise(s)
	return nil
}

// With the incident engine as Raiser, Handle waits until an SOS is stored:
// the sensor event is acknowledged to the broker only after Handle returns.
func TestHandleWaitsUntilStored(t *testing.T) {
	w := &waitRecorder{release: make(chan struct{})}
	now := t0
	r := newRules(&w.recorder, &now)
	r.Raiser = w
	done := make(chan struct{})
	go func() {
		r.Handle(sensors.Event{Gate: "north", Type: sensors.SOS, TS: now, Received: now})
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("Handle returned before the SOS was stored")
	case <-time.After(100 * time.Millisecond):
	}
	close(w.release)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Handle did not return once stored")
	}
	if w.waited != 1 || len(w.sigs) != 1 || w.sigs[0].Type != incident.SOS {
		t.Fatalf("waited %d, signals %+v", w.waited, w.sigs)
	}
}
