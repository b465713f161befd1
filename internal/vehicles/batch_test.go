package vehicles

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	bolt "go.etcd.io/bbolt"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/sensors"
)

func withID(e sensors.Event, id string) sensors.Event { e.ID = id; return e }

// state renders everything a caller can see of the log: stored passages
// (with the fields the contract JSON leaves out), the inside set and the
// passages announced through OnPassage.
func (e *env) state() string {
	var b strings.Builder
	pp := func(p Passage) {
		fmt.Fprintf(&b, "  %s %s %s %s %s %s lane=%d confirmed=%v", p.ID, p.Gate, p.Direction, p.Plate, p.Class, p.At.UTC().Format(time.RFC3339Nano), p.Lane, p.Confirmed)
		if p.EntryAt != nil {
			fmt.Fprintf(&b, " entry=%s", p.EntryAt.UTC().Format(time.RFC3339))
		}
		if p.DwellS != nil {
			fmt.Fprintf(&b, " dwell=%d", *p.DwellS)
		}
		b.WriteString("\n")
	}
	b.WriteString("stored:\n")
	for _, p := range e.log.Passages(Query{}) {
		pp(p)
	}
	b.WriteString("announced:\n")
	e.mu.Lock()
	for _, p := range e.seen {
		pp(p)
	}
	e.mu.Unlock()
	b.WriteString("inside:\n")
	for _, v := range e.log.Inside() {
		fmt.Fprintf(&b, "  %s %s %s %s\n", v.Plate, v.Class, v.Gate, v.EntryAt.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// HandleBatch leaves the log exactly as Handle called once per event does,
// whatever the batch boundaries.
func TestHandleBatchEqualsSequentialHandle(t *testing.T) {
	const (
		pr = sensors.PlateRead
		bo = sensors.BarrierOpen
		lp = sensors.Loop
	)
	in, out := sensors.In, sensors.Out
	cases := []struct {
		name   string
		events []sensors.Event
	}{
		{"one read", []sensors.Event{ev(pr, "n", 0, "A12345", in)}},
		{"repeated reads are one passage", []sensors.Event{ev(pr, "n", 0, "A12345", in), ev(pr, "n", 30, "A12345", in), ev(pr, "n", 80, "A12345", in)}},
		{"read after 61s is a new passage", []sensors.Event{ev(pr, "n", 0, "A12345", out), ev(pr, "n", 61, "A12345", out)}},
		{"in then out with dwell in one batch", []sensors.Event{ev(pr, "n", 0, "A12345", in), ev(pr, "s", 3600, "A12345", out), ev(pr, "s", 3700, "C77", out)}},
		{"direction from the inside set within the batch", []sensors.Event{ev(pr, "n", 0, "A12345", ""), ev(pr, "n", 3600, "A12345", ""), ev(pr, "n", 7200, "A12345", "")}},
		{"loop and barrier confirm, per lane", []sensors.Event{lane(ev(pr, "n", 0, "A111", in), 1), lane(ev(pr, "n", 1, "B222", out), 2),
			lane(ev(lp, "n", 2, "", in), 1), ev(bo, "n", 3, "", ""), lane(ev(lp, "n", 30, "", in), 2)}},
		{"barrier with plate confirms or makes a passage", []sensors.Event{ev(pr, "n", 0, "A12345", in), ev(bo, "n", 3, "A12345", ""), ev(bo, "n", 5, "Z999", "")}},
		{"opposite direction and other gate", []sensors.Event{ev(pr, "n", 0, "A12345", in), ev(pr, "n", 20, "A12345", out), ev(pr, "s", 21, "A12345", in)}},
		{"bad plates and other types", []sensors.Event{ev(pr, "n", 0, "a-123 45", in), ev(pr, "n", 1, "!", in), ev(sensors.DoorOpen, "n", 2, "", ""),
			ev(sensors.SOS, "n", 3, "", ""), ev(sensors.AccessGranted, "n", 4, "", in), ev(pr, "n", 5, "青A12345", in)}},
		{"repeated (gate, id) ignored, same id at another gate is not", []sensors.Event{withID(ev(pr, "n", 0, "A1", in), "e1"),
			withID(ev(pr, "n", 100, "A1", out), "e1"), withID(ev(pr, "s", 200, "A1", out), "e1"), withID(ev(pr, "n", 300, "B2", in), "e2")}},
		{"classification", []sensors.Event{ev(pr, "n", 0, "WATCH1", in), ev(pr, "n", 1, "A12345", in)}},
	}
	vcfg := config.Vehicles{Watchlist: []string{"WATCH1"}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			seq := newEnv(t, vcfg)
			for _, x := range c.events {
				seq.log.Handle(x)
			}
			want := seq.state()
			for _, size := range []int{len(c.events), 1, 2, 3} {
				bat := newEnv(t, vcfg)
				for i := 0; i < len(c.events); i += size {
					bat.log.HandleBatch(c.events[i:min(i+size, len(c.events))])
				}
				if got := bat.state(); got != want {
					t.Fatalf("batches of %d:\n%s\nwant (one Handle per event):\n%s", size, got, want)
				}
			}
		})
	}
}

// An event whose (gate, id) the log already has is ignored, also after a
// restart (the sensors dedup is in memory), until EventIDWindow has passed.
func TestRedeliveredEventIgnoredAcrossReopen(t *testing.T) {
	e := newEnv(t, config.Vehicles{})
	first := withID(ev(sensors.PlateRead, "n", 0, "A12345", sensors.In), "evt-1")
	e.log.HandleBatch([]sensors.Event{first, withID(ev(sensors.PlateRead, "n", 1, "B222", sensors.In), "evt-2")})
	if n := len(e.log.Passages(Query{})); n != 2 {
		t.Fatalf("%d passages, want 2", n)
	}
	e.reopen(t)
	e.clk.Set(t0.Add(5 * time.Minute))
	// The broker redelivers both after the restart, with the same sensor
	// times; a read 5 min later would otherwise be a new passage.
	redelivered := withID(ev(sensors.PlateRead, "n", 300, "A12345", sensors.In), "evt-1")
	e.log.HandleBatch([]sensors.Event{redelivered, withID(ev(sensors.PlateRead, "n", 301, "B222", sensors.In), "evt-2"),
		withID(ev(sensors.PlateRead, "s", 302, "A12345", sensors.Out), "evt-1")}) // same id, other gate: new
	ps := e.log.Passages(Query{})
	if len(ps) != 3 || ps[0].Gate != "s" {
		t.Fatalf("after redelivery: %+v", ps)
	}
	if v := testutil.ToFloat64(e.log.m.repeats); v != 2 {
		t.Fatalf("repeated events metric = %v, want 2", v)
	}
	// After the window the id is free again, and pruned from the database.
	e.clk.Set(t0.Add(EventIDWindow + time.Minute))
	e.log.Handle(withID(ev(sensors.PlateRead, "n", 1000, "A12345", sensors.In), "evt-1"))
	if n := len(e.log.Passages(Query{})); n != 4 {
		t.Fatalf("id after the window: %d passages, want 4", n)
	}
	var ids, byTime int
	e.log.db.View(func(tx *bolt.Tx) error {
		ids = tx.Bucket(bucketEventIDs).Stats().KeyN
		byTime = tx.Bucket(bucketEventIDsByTime).Stats().KeyN
		return nil
	})
	// Left: n/evt-1 (handled again now) and s/evt-1 (5 min ago).
	if ids != 2 || byTime != 2 {
		t.Fatalf("event ids kept: %d, by time %d; want 2 and 2", ids, byTime)
	}
}

// When HandleBatch returns, the batch is on disk: a copy of the database
// file taken then, as a power cut would leave it (no Close), opens with
// every passage, the inside set and the event ids, each exactly once.
func TestHandleBatchIsOnDiskWhenItReturns(t *testing.T) {
	e := newEnv(t, config.Vehicles{})
	const n = 300
	evs := make([]sensors.Event, n)
	for i := range evs {
		evs[i] = withID(ev(sensors.PlateRead, "n", float64(i)/10, fmt.Sprintf("沪A%05d", i), sensors.In), fmt.Sprint("id-", i))
	}
	e.log.HandleBatch(evs)

	crash := t.TempDir()
	src, err := os.Open(filepath.Join(e.dir, "vehicles.db"))
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.Create(filepath.Join(crash, "vehicles.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	src.Close()
	dst.Close()

	after := &env{dir: crash, clk: e.clk}
	after.open(t)
	ps := after.log.Passages(Query{Limit: 2 * n})
	if len(ps) != n {
		t.Fatalf("%d passages on disk after HandleBatch returned, want %d", len(ps), n)
	}
	ids := map[string]bool{}
	for _, p := range ps {
		ids[p.ID] = true
	}
	if len(ids) != n {
		t.Fatalf("%d distinct passage ids, want %d", len(ids), n)
	}
	if ins := after.log.Inside(); len(ins) != n {
		t.Fatalf("%d inside after the crash, want %d", len(ins), n)
	}
	// The broker redelivers the unacknowledged batch: nothing new.
	after.log.HandleBatch(evs)
	if got := len(after.log.Passages(Query{Limit: 2 * n})); got != n {
		t.Fatalf("redelivered batch made %d passages, want %d", got, n)
	}
	if len(after.seen) != 0 {
		t.Fatalf("redelivered batch announced %d passages", len(after.seen))
	}
}

// Passage ids stay unique and time-ordered within and across batches.
func TestHandleBatchPassageIDsOrdered(t *testing.T) {
	e := newEnv(t, config.Vehicles{})
	for b := range 3 {
		var evs []sensors.Event
		for i := range 50 {
			evs = append(evs, ev(sensors.PlateRead, "n", float64(b*50+i), fmt.Sprintf("B%d%03d", b, i), sensors.In))
		}
		evs = append(evs, ev(sensors.PlateRead, "s", float64(b*50+49), fmt.Sprintf("S%d", b), sensors.In)) // same time stamp
		e.log.HandleBatch(evs)
	}
	ps := e.log.Passages(Query{})
	if len(ps) != 153 {
		t.Fatalf("%d passages", len(ps))
	}
	for i := 1; i < len(ps); i++ { // newest first
		if ps[i].ID >= ps[i-1].ID || ps[i].At.After(ps[i-1].At) {
			t.Fatalf("passage %d (%s %v) not before %d (%s %v)", i, ps[i].ID, ps[i].At, i-1, ps[i-1].ID, ps[i-1].At)
		}
	}
}

// The recent-passage maps hold about the last minute of traffic, however
// many passages go through in batches.
func TestRecentPassagesPrunedInBatches(t *testing.T) {
	e := newEnv(t, config.Vehicles{})
	for s := range 600 { // 10 minutes, 5 passages a second, one batch a second
		var evs []sensors.Event
		for i := range 5 {
			evs = append(evs, ev(sensors.PlateRead, "n", float64(s)+float64(i)/5, fmt.Sprintf("P%d%d", s, i), sensors.In))
		}
		e.log.HandleBatch(evs)
	}
	e.log.mu.Lock()
	n, g := len(e.log.byPlate), len(e.log.lastAtGate)
	e.log.mu.Unlock()
	if n > 5*62 || g != 1 {
		t.Fatalf("recent passages by plate %d (want at most %d), by gate %d", n, 5*62, g)
	}
}

// A batch that cannot be stored says so: the gateway then holds its events
// unacknowledged instead of losing them, and nothing of it is announced.
func TestHandleBatchReportsAFailedCommit(t *testing.T) {
	e := newEnv(t, config.Vehicles{})
	if err := e.log.HandleBatch([]sensors.Event{ev(sensors.PlateRead, "n", 1, "A111", sensors.In)}); err != nil {
		t.Fatalf("stored batch: %v", err)
	}
	// Events that make no passage need no commit and cannot fail.
	if err := e.log.HandleBatch([]sensors.Event{ev(sensors.DoorOpen, "n", 2, "", "")}); err != nil {
		t.Fatalf("door event: %v", err)
	}
	if err := e.log.db.Close(); err != nil { // the disk is gone
		t.Fatal(err)
	}
	if err := e.log.HandleBatch([]sensors.Event{ev(sensors.PlateRead, "n", 3, "B222", sensors.In)}); err == nil {
		t.Fatal("HandleBatch on a closed database returned nil")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.seen) != 1 || e.seen[0].Plate != "A111" {
		t.Fatalf("announced %+v, want only A111", e.seen)
	}
	if in := e.log.Inside(); len(in) != 1 || in[0].Plate != "A111" {
		t.Fatalf("inside %+v, want only A111 (the failed batch undone)", in)
	}
}
