package camera

import (
	"sync"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/incident"
)

type signals struct {
	mu  sync.Mutex
	got []incident.Signal
}

func (s *signals) Raise(sig incident.Signal) { s.mu.Lock(); s.got = append(s.got, sig); s.mu.Unlock() }

func (s *signals) list() []incident.Signal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]incident.Signal(nil), s.got...)
}

func TestOfflineIncidents(t *testing.T) {
	const grace = 60 * time.Millisecond
	st := func(state string) Status { return Status{State: state, Reason: "refused"} }
	tests := []struct {
		name  string
		steps []string // states, "wait" sleeps past the grace, "close" closes
		want  []bool   // signals raised: true = clear
	}{
		{"back within the grace: nothing", []string{StateOffline, StateOnline, "wait"}, nil},
		{"offline past the grace: one incident", []string{StateOffline, StateOffline, "wait", StateOffline, "wait"}, []bool{false}},
		{"back after: resolved", []string{StateOffline, "wait", StateDegraded}, []bool{false, true}},
		{"two outages: two incidents", []string{StateOffline, "wait", StateOnline, StateOffline, "wait"}, []bool{false, true, false}},
		{"a stopping gateway raises nothing", []string{StateOffline, "close", "wait"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &signals{}
			o := &OfflineIncidents{Camera: "lawn", Name: "Lawn", Grace: grace, Raiser: r}
			for _, step := range tc.steps {
				switch step {
				case "wait":
					time.Sleep(3 * grace)
				case "close":
					o.Close()
				default:
					o.Update(st(step))
				}
			}
			got := r.list()
			if len(got) != len(tc.want) {
				t.Fatalf("%d signals, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, s := range got {
				if s.Type != incident.CameraOffline || s.Clear != tc.want[i] || s.Source.Camera != "lawn" {
					t.Errorf("signal %d: %+v", i, s)
				}
			}
		})
	}
}
