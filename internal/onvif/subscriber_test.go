package onvif_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanewatch/lanewatch/internal/camsim"
	"github.com/lanewatch/lanewatch/internal/onvif"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// camera is camsim serving the shipped clip as ONVIF device "gate".
func camera(t *testing.T) *camsim.ONVIF {
	t.Helper()
	srv := &camsim.Server{Listen: "127.0.0.1:0", UDPRTPPort: -1,
		Streams: map[string]string{"gate": filepath.Join(testenv.RepoRoot(t), "media", "campus-walk-10s.mp4")}}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ov := &camsim.ONVIF{Listen: "127.0.0.1:0", RTSP: srv, Username: "admin", Password: "s3cret"}
	if err := ov.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ov.Close() })
	return ov
}

type events struct {
	mu  sync.Mutex
	evs []onvif.Event
}

func (e *events) add(ev onvif.Event) { e.mu.Lock(); e.evs = append(e.evs, ev); e.mu.Unlock() }

func (e *events) kinds() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.evs {
		out = append(out, string(ev.Kind))
	}
	return out
}

func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what)
		}
	}
}

func start(t *testing.T, ov *camsim.ONVIF, password string, reg prometheus.Registerer) (*onvif.Subscriber, *events) {
	t.Helper()
	got := &events{}
	s := &onvif.Subscriber{Camera: "gate", URL: ov.DeviceURL("gate"), Client: &onvif.Client{Username: "admin", Password: password, Timeout: 2 * time.Second},
		OnEvent: got.add, TTL: 3 * time.Second, PullWait: 300 * time.Millisecond, MinBackoff: 100 * time.Millisecond, MaxBackoff: 400 * time.Millisecond,
		Registerer: reg}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, got
}

// Events arrive in order, the subscription is renewed rather than left to
// lapse, and Close unsubscribes.
func TestSubscriberDeliversAndRenews(t *testing.T) {
	ov := camera(t)
	reg := prometheus.NewRegistry()
	s, got := start(t, ov, "s3cret", reg)
	eventually(t, "subscribed", 5*time.Second, func() bool { return ov.Subscriptions("gate") == 1 })
	for _, topic := range []string{"tns1:RuleEngine/LineDetector/Crossed", "tns1:Device/Trigger/DigitalInput", "tns1:VideoSource/SignalLoss"} {
		if n, err := ov.Emit("gate", onvif.Notification{Topic: topic, Data: map[string]string{"State": "true"}}); err != nil || n != 1 {
			t.Fatalf("emit %s: %d %v", topic, n, err)
		}
	}
	// The initial motion state first, then the two known kinds; the digital input is not one.
	eventually(t, "events", 5*time.Second, func() bool { return len(got.kinds()) == 3 })
	if k := strings.Join(got.kinds(), ","); k != "motion,line_crossing,camera_offline" {
		t.Fatalf("kinds %s", k)
	}
	// Outlive the 3 s TTL twice over: only renewals keep it.
	time.Sleep(6 * time.Second)
	st := s.Status()
	if st.Subscriptions != 1 || st.Renewals < 2 || !st.Subscribed || st.Failures != 0 {
		t.Fatalf("status %+v", st)
	}
	if n, _ := ov.Emit("gate", onvif.Notification{Topic: "tns1:RuleEngine/FieldDetector/ObjectsInside", Data: map[string]string{"IsInside": "true"}}); n != 1 {
		t.Fatal("subscription lapsed")
	}
	eventually(t, "intrusion", 5*time.Second, func() bool { return len(got.kinds()) == 4 })
	if v := counterSum(t, reg, "lanewatch_onvif_events_total"); v != 4 {
		t.Errorf("events metric %v", v)
	}
	s.Close()
	if n := ov.Subscriptions("gate"); n != 0 {
		t.Fatalf("%d subscriptions after Close", n)
	}
}

// A camera that reboots loses the subscription; the subscriber notices on
// its next pull and subscribes again.
func TestSubscriberResubscribesAfterRestart(t *testing.T) {
	ov := camera(t)
	s, got := start(t, ov, "s3cret", nil)
	eventually(t, "subscribed", 5*time.Second, func() bool { return ov.Subscriptions("gate") == 1 })
	ov.Close()
	eventually(t, "the failure noticed", 5*time.Second, func() bool { return s.Status().Failures > 0 })
	time.Sleep(time.Second) // down for a few attempts
	if err := ov.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "subscribed again", 5*time.Second, func() bool { return ov.Subscriptions("gate") == 1 })
	if st := s.Status(); st.Subscriptions != 2 {
		t.Fatalf("status %+v", st)
	}
	if n, _ := ov.Emit("gate", onvif.Notification{Topic: "tns1:RuleEngine/LineDetector/Crossed"}); n != 1 {
		t.Fatal("emit reached no subscription")
	}
	eventually(t, "line crossing after restart", 5*time.Second, func() bool {
		k := got.kinds()
		return len(k) > 0 && k[len(k)-1] == "line_crossing"
	})
}

// Refused credentials: retried with back-off, counted, never subscribed,
// and the password is not in the error.
func TestSubscriberWrongPassword(t *testing.T) {
	ov := camera(t)
	s, _ := start(t, ov, "wrong-pass", nil)
	eventually(t, "a few refusals", 5*time.Second, func() bool { return s.Status().Failures >= 3 })
	st := s.Status()
	if st.Subscribed || st.Subscriptions != 0 || !strings.Contains(st.LastError, "NotAuthorized") || strings.Contains(st.LastError, "wrong-pass") {
		t.Fatalf("status %+v", st)
	}
	if ov.Refused() < 3 {
		t.Fatalf("refused %d", ov.Refused())
	}
}

// counterSum adds up a counter's series.
func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// A camera that answers PullMessages at once, without waiting for events,
// is not polled in a tight loop.
func TestSubscriberImpatientCamera(t *testing.T) {
	ov := camera(t)
	ov.ImmediatePull = true
	got := &events{}
	s := &onvif.Subscriber{Camera: "gate", URL: ov.DeviceURL("gate"), Client: &onvif.Client{Username: "admin", Password: "s3cret"},
		OnEvent: got.add, PullWait: 2 * time.Second}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	eventually(t, "subscribed", 5*time.Second, func() bool { return ov.Subscriptions("gate") == 1 })
	before := ov.Answered()
	time.Sleep(2500 * time.Millisecond)
	// At most one empty pull a second (a tight loop makes hundreds).
	if n := ov.Answered() - before; n < 1 || n > 4 {
		t.Fatalf("%d calls in 2.5 s", n)
	}
	if _, err := ov.Emit("gate", onvif.Notification{Topic: "tns1:RuleEngine/LineDetector/Crossed"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the event", 3*time.Second, func() bool { return len(got.kinds()) == 2 })
}
