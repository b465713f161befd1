package siteledger

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lanewatch/lanewatch/internal/sensors"
	"github.com/lanewatch/lanewatch/internal/testenv"
	"github.com/lanewatch/lanewatch/internal/vehicles"
)

type leaves struct {
	mu  sync.Mutex
	got map[string]time.Time
}

func (l *leaves) leave(plate string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got[plate] = at
}

func (l *leaves) at(plate string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.got[plate]
	return t, ok
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10 s: %s", what)
		}
	}
}

// Two gateways of one site: a car in at A's gate is inside for B, B pairs
// its exit, and A is told its entry is over; an exit at A of a car that
// entered at B ends B's.
func TestInsideAcrossGateways(t *testing.T) {
	nc := testenv.JetStream(t).Conn()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := func(self string, l *leaves) (*Inside, *prometheus.Registry) {
		reg := prometheus.NewRegistry()
		s := &Inside{Conn: nc, Self: self, Leave: l.leave, Logger: quiet, Registerer: reg}
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s, reg
	}
	la, lb := &leaves{got: map[string]time.Time{}}, &leaves{got: map[string]time.Time{}}
	a, _ := start("gw-a", la)
	b, _ := start("gw-b", lb)

	in := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	a.Record(vehicles.Passage{ID: "p1", Plate: "沪A12345", Gate: "north", Direction: sensors.In, Class: vehicles.ClassResident, At: in})
	waitFor(t, "B sees the car A let in", func() bool { _, ok := b.Entered("沪A12345"); return ok })
	v, _ := b.Entered("沪A12345")
	if !v.EntryAt.Equal(in) || v.Gate != "north" || v.Class != vehicles.ClassResident {
		t.Fatalf("B's view of the entry: %+v", v)
	}
	if _, ok := a.Entered("沪A12345"); ok {
		t.Fatal("A's own entry must not come back to it as another gateway's")
	}
	if n := len(b.Others()); n != 1 {
		t.Fatalf("B sees %d others inside, want 1", n)
	}

	out := in.Add(90 * time.Minute)
	b.Record(vehicles.Passage{ID: "p2", Plate: "沪A12345", Gate: "south", Direction: sensors.Out, At: out, EntryAt: &in})
	waitFor(t, "A told its entry is over", func() bool { at, ok := la.at("沪A12345"); return ok && at.Equal(in) })
	if _, ok := b.Entered("沪A12345"); ok {
		t.Fatal("B still has the car inside after its exit")
	}

	// The other way: in at B, out at A.
	b.Record(vehicles.Passage{ID: "p3", Plate: "粤B99999", Gate: "south", Direction: sensors.In, At: in})
	waitFor(t, "A sees B's entry", func() bool { _, ok := a.Entered("粤B99999"); return ok })
	a.Record(vehicles.Passage{ID: "p4", Plate: "粤B99999", Gate: "north", Direction: sensors.Out, At: out, EntryAt: &in})
	waitFor(t, "B told its entry is over", func() bool { _, ok := lb.at("粤B99999"); return ok })
	if got := testutil.ToFloat64(a.written.WithLabelValues("ok")); got != 2 {
		t.Errorf("A wrote %v records, want 2", got)
	}

	// A gateway that starts later (a restart, a new box) builds the inside
	// set from the stream: the car still inside, not those that left.
	a.Record(vehicles.Passage{ID: "p5", Plate: "浙C55555", Gate: "north", Direction: sensors.In, At: out})
	c, _ := start("gw-c", &leaves{got: map[string]time.Time{}})
	waitFor(t, "C sees the car inside through A", func() bool { _, ok := c.Entered("浙C55555"); return ok })
	if others := c.Others(); len(others) != 1 || others[0].Plate != "浙C55555" {
		t.Fatalf("C's inside set at start: %+v, want 浙C55555 only", others)
	}
}

// The site's passages: one recorded at A is in B's list under the same id,
// not twice in A's, and a gateway with an empty store (a lost disk)
// imports them all; a restart imports nothing again.
func TestPassagesAcrossGateways(t *testing.T) {
	nc := testenv.JetStream(t).Conn()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ledger := func() *vehicles.Log {
		l, err := vehicles.Open(vehicles.Config{DataDir: t.TempDir(), Site: "zl", Logger: quiet, Registerer: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	join := func(self string, l *vehicles.Log) *Inside {
		s := &Inside{Conn: nc, Self: self, Ledger: l, Logger: quiet, Registerer: prometheus.NewRegistry(),
			Leave: func(string, time.Time) {}}
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		l.OnPassage = s.Record
		return s
	}
	la, lb := ledger(), ledger()
	sa, sb := join("gw-a", la), join("gw-b", lb)
	defer sa.Close()
	at := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	if err := la.HandleBatch([]sensors.Event{{Gate: "north", Type: sensors.PlateRead, Plate: "沪A12345", Direction: sensors.In, TS: at, Received: at}}); err != nil {
		t.Fatal(err)
	}
	mine := la.Passages(vehicles.Query{})
	if len(mine) != 1 {
		t.Fatalf("A has %d passages", len(mine))
	}
	// Sync: once it returns, the passage is in the stream (the gate handler
	// acknowledges its events only then).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sa.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := streamMsgs(t, sa); n != 1 {
		t.Fatalf("after Sync the stream holds %d passages, want 1", n)
	}
	waitFor(t, "A's passage in B's list", func() bool {
		ps := lb.Passages(vehicles.Query{})
		return len(ps) == 1 && ps[0].ID == mine[0].ID && ps[0].Plate == "沪A12345" && ps[0].Gate == "north"
	})
	waitFor(t, "A's import caught up", func() bool { n, _ := la.ImportedUpTo(); return n >= 1 })
	if n := len(la.Passages(vehicles.Query{})); n != 1 {
		t.Fatalf("A lists its own passage %d times", n)
	}
	lc := ledger() // a gateway back with an empty disk
	sc := join("gw-c", lc)
	defer sc.Close()
	waitFor(t, "the empty store filled from the stream", func() bool { return len(lc.Passages(vehicles.Query{})) == 1 })
	sb.Close()
	sb = join("gw-b", lb)
	defer sb.Close()
	time.Sleep(300 * time.Millisecond)
	if n := len(lb.Passages(vehicles.Query{})); n != 1 {
		t.Fatalf("B imported again after a restart: %d passages", n)
	}
}

// A passage recorded while the stream cannot take it (no leader: here,
// no stream at all) is written again until it can; until then Sync does
// not report it in, so its gate event is not acknowledged.
func TestWriteRetriesUntilTheStreamTakesIt(t *testing.T) {
	nc := testenv.JetStream(t).Conn()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := &Inside{Conn: nc, Self: "gw-a", Logger: quiet, Registerer: prometheus.NewRegistry()}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	st, err := s.js.Stream(ctx, Stream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	if err := s.js.DeleteStream(ctx, Stream); err != nil {
		t.Fatal(err)
	}
	s.Record(vehicles.Passage{ID: "p1", Plate: "沪A12345", Gate: "north", Direction: sensors.In, At: time.Now()})
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if err := s.Sync(short); err == nil {
		t.Fatal("Sync reported the passage in while there was no stream")
	}
	if _, err := s.js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	long, cancel2 := context.WithTimeout(ctx, 15*time.Second)
	defer cancel2()
	if err := s.Sync(long); err != nil {
		t.Fatalf("the passage never reached the stream once it was back: %v", err)
	}
	if n := streamMsgs(t, s); n != 1 {
		t.Fatalf("the stream holds %d passages, want 1", n)
	}
}

// streamMsgs is how many passages the site's stream holds.
func streamMsgs(t *testing.T, s *Inside) uint64 {
	t.Helper()
	st, err := s.js.Stream(context.Background(), Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}
