package incidents

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
)

// Closed after the engine, a Follower hands on every change the engine
// queued before closing, even to a slow Handle.
func TestFollowerDrainsAfterEngineClose(t *testing.T) {
	e, err := New(EngineConfig{Site: "s1", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	v := &versions{delay: 20 * time.Millisecond}
	f := &Follower{Name: "slow", Source: e, Handle: v.handle}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := e.RaiseWait(context.Background(), incident.Signal{Type: incident.SOS, Source: lawn}); err != nil {
		t.Fatal(err)
	}
	inc, err := e.List(Filter{})
	if err != nil || len(inc) != 1 {
		t.Fatalf("list: %v %v", inc, err)
	}
	for range 9 {
		if _, err := e.Ack(inc[0].ID, "p", ""); err != nil {
			t.Fatal(err)
		}
	}
	e.Close()
	f.Close()
	got := v.list()
	if len(got) != 10 {
		t.Fatalf("handled versions %v, want 1..10", got)
	}
	for i, v := range got {
		if v != i+1 {
			t.Fatalf("out of order: %v", got)
		}
	}
	f.Close() // twice is fine
}

// versions is a Handle that records the versions it takes.
type versions struct {
	mu    sync.Mutex
	got   []int
	delay time.Duration
}

func (v *versions) handle(_ context.Context, c Change) error {
	time.Sleep(v.delay)
	v.mu.Lock()
	v.got = append(v.got, c.Incident.Version)
	v.mu.Unlock()
	return nil
}

func (v *versions) list() []int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]int(nil), v.got...)
}

// Closed while the engine runs, a Follower stops at once, ending a Handle
// that waits on its context.
func TestFollowerCloseWhileEngineRuns(t *testing.T) {
	e, _, _ := newTestEngine(t, t.TempDir(), config.Incidents{})
	entered := make(chan struct{})
	f := &Follower{Name: "stuck", Source: e, Drain: time.Minute, Handle: func(ctx context.Context, c Change) error {
		close(entered)
		<-ctx.Done()
		return nil
	}}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.Raise(incident.Signal{Type: incident.SOS, Source: lawn})
	<-entered
	start := time.Now()
	f.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v with the engine running", d)
	}
	select {
	case <-f.Done():
	default:
		t.Fatal("not done after Close")
	}
}

var errDisk = errors.New("disk full")

func TestFollowerRetryAndPass(t *testing.T) {
	tests := []struct {
		name  string
		retry func(error) bool
		fails int // Handle fails this many times on version 1
		want  []int
	}{
		{"retried until taken", func(err error) bool { return errors.Is(err, errDisk) }, 2, []int{1, 1, 1, 2}},
		{"other errors passed", nil, 2, []int{1, 2}},
		{"no errors", nil, 0, []int{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := make(chan Change, 2)
			ch <- Change{Kind: Opened, Incident: incident.Incident{ID: "inc_a", Version: 1}}
			ch <- Change{Kind: Acked, Incident: incident.Incident{ID: "inc_a", Version: 2}}
			close(ch)
			var got []int
			fails := tt.fails
			f := &Follower{Name: tt.name, Source: Chan(ch), Retry: tt.retry, Handle: func(_ context.Context, c Change) error {
				got = append(got, c.Incident.Version)
				if c.Incident.Version == 1 && fails > 0 {
					fails--
					return errDisk
				}
				return nil
			}}
			if err := f.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			select {
			case <-f.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("follower did not finish")
			}
			f.Close()
			if len(got) != len(tt.want) {
				t.Fatalf("handled %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("handled %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// New opens, Start runs: a signal raised before Start waits in the queue;
// an engine closed without Start releases a RaiseWait instead of hanging it.
func TestEngineStart(t *testing.T) {
	e, err := New(EngineConfig{Site: "s1", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.Raise(incident.Signal{Type: incident.SOS, Source: lawn})
	time.Sleep(50 * time.Millisecond)
	if l, _ := e.List(Filter{}); len(l) != 0 {
		t.Fatalf("handled before Start: %v", l)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { l, _ := e.List(Filter{}); return len(l) == 1 })

	e2, err := New(EngineConfig{Site: "s1", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e2.RaiseWait(context.Background(), incident.Signal{Type: incident.SOS, Source: lawn}) }()
	time.Sleep(50 * time.Millisecond)
	e2.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("RaiseWait on an engine closed unstarted: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("RaiseWait hangs on an engine closed without Start")
	}
}
