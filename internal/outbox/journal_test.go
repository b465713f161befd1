package outbox

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lanewatch/lanewatch/internal/testenv"
)

// journalOutbox is one gateway's outbox over the shared stream.
func journalOutbox(t *testing.T, js jetstream.JetStream, url string, maxBytes int64) *Outbox {
	t.Helper()
	cfg := testConfig(filepath.Join(t.TempDir(), "outbox.db"), url)
	cfg.MaxBytes = maxBytes
	cfg.Journal = &Journal{JS: js, Stream: "lanewatch_outbox_test", Subject: "_lanewatch.outbox.test"}
	return start(t, cfg)
}

func streamMsgs(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), "lanewatch_outbox_test")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// Accepted means in the stream; only the holder sends, and what it
// delivered leaves the stream.
func TestJournalOnlyHolderSends(t *testing.T) {
	p := newPlatform(t)
	js := testenv.JetStream(t)
	a := journalOutbox(t, js, p.URL, 0)
	b := journalOutbox(t, js, p.URL, 0)
	for v := 1; v <= 3; v++ {
		if err := a.Enqueue(inc("i1", v), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Enqueue(inc("i1", 2), nil); err != nil { // a repeat: the servers drop it
		t.Fatal(err)
	}
	if n := streamMsgs(t, js); n != 3 {
		t.Fatalf("stream holds %d messages, want 3 (the repeat is a duplicate)", n)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(p.requests()); n != 0 {
		t.Fatalf("%d tickets sent with no sender", n)
	}
	b.Hold(true)
	waitFor(t, "3 delivered", 10*time.Second, func() bool { return len(p.accepted()) == 3 })
	checkOrder(t, p.accepted(), 3)
	waitFor(t, "stream emptied", 10*time.Second, func() bool { return streamMsgs(t, js) == 0 })
	// Accepted while b sends: b follows the stream.
	if err := a.Enqueue(inc("i2", 1), nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "i2 delivered", 10*time.Second, func() bool { return len(p.accepted()) == 4 })
	// The platform counts a ticket before the sender has its answer.
	waitFor(t, "nothing pending at the sender", 5*time.Second, func() bool { return b.Stats().Pending == 0 })
	waitFor(t, "stream emptied", 10*time.Second, func() bool { return streamMsgs(t, js) == 0 })
}

// A sender that stops mid-attempt stops at once; the next one sends what
// was not confirmed, under the same key and body.
func TestJournalHandOver(t *testing.T) {
	p := newPlatform(t)
	js := testenv.JetStream(t)
	a := journalOutbox(t, js, p.URL, 0)
	b := journalOutbox(t, js, p.URL, 0)
	var inFlight, overlap atomic.Int32
	release := make(chan struct{})
	var once sync.Once
	p.setAnswer(func(r received, n int) (int, map[string]string, string) {
		if inFlight.Add(1) > 1 {
			overlap.Add(1)
		}
		defer inFlight.Add(-1)
		if r.Key == "i1:1" && n == 0 {
			once.Do(func() { <-release }) // hangs until a lets go
			return 503, nil, ""
		}
		return 200, nil, ""
	})
	if err := b.Enqueue(inc("i1", 1), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Enqueue(inc("i1", 2), nil); err != nil {
		t.Fatal(err)
	}
	a.Hold(true)
	waitFor(t, "first attempt in flight", 10*time.Second, func() bool { return inFlight.Load() == 1 })
	done := make(chan struct{})
	go func() { a.Hold(false); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Hold(false) did not return within a second with an attempt in flight")
	}
	close(release)
	waitFor(t, "the hung request answered", 5*time.Second, func() bool { return inFlight.Load() == 0 })
	if got := len(p.accepted()); got != 0 {
		t.Fatalf("%d accepted before the hand-over", got)
	}
	b.Hold(true)
	waitFor(t, "both delivered", 10*time.Second, func() bool { return len(p.accepted()) == 2 })
	checkOrder(t, p.accepted(), 2)
	reqs := p.requests()
	bodies := map[string][]byte{}
	for _, r := range reqs {
		if prev, ok := bodies[r.Key]; ok && string(prev) != string(r.Body) {
			t.Fatalf("%s sent with two bodies", r.Key)
		}
		bodies[r.Key] = r.Body
	}
	if overlap.Load() != 0 {
		t.Fatal("two attempts overlapped")
	}
}

// A dead letter stays in the stream: the next sender lists it without
// sending it again, keeps its incident's later versions behind it, and a
// re-send from there delivers it.
func TestJournalDeadLetterSurvivesHandOver(t *testing.T) {
	p := newPlatform(t)
	js := testenv.JetStream(t)
	a := journalOutbox(t, js, p.URL, 0)
	b := journalOutbox(t, js, p.URL, 0)
	var refuse atomic.Bool
	refuse.Store(true)
	p.setAnswer(func(r received, n int) (int, map[string]string, string) {
		if r.Key == "i1:1" && refuse.Load() {
			return 422, nil, `{"error":"bad zone"}`
		}
		return 200, nil, ""
	})
	a.Hold(true)
	for v := 1; v <= 2; v++ {
		if err := a.Enqueue(inc("i1", v), nil); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "dead-lettered", 10*time.Second, func() bool { return a.Stats().Dead == 1 })
	if err := b.Resend("i1:1"); !errors.Is(err, ErrNotSender) {
		t.Fatalf("resend on a gateway that does not send: %v, want ErrNotSender", err)
	}
	a.Hold(false)
	sent := len(p.requests())
	b.Hold(true)
	waitFor(t, "b lists the dead letter", 10*time.Second, func() bool { return b.Stats().Dead == 1 && b.Stats().Pending == 1 })
	time.Sleep(200 * time.Millisecond)
	if n := len(p.requests()); n != sent {
		t.Fatalf("the new sender sent %d requests; the dead letter and what waits behind it must not go", n-sent)
	}
	es, err := b.List(0)
	if err != nil || len(es) != 2 || es[0].State != "dead" || es[0].Status != 422 || es[1].State != "blocked" {
		t.Fatalf("list on the new sender: %+v %v", es, err)
	}
	refuse.Store(false)
	if err := b.Resend("i1:1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both delivered", 10*time.Second, func() bool { return len(p.accepted()) == 2 })
	checkOrder(t, p.accepted(), 2)
	waitFor(t, "stream emptied", 10*time.Second, func() bool { return streamMsgs(t, js) == 0 })
}

// At the stream's cap a ticket is refused loudly (ErrFull), as on a box.
func TestJournalFull(t *testing.T) {
	p := newPlatform(t)
	js := testenv.JetStream(t)
	full := make(chan struct{}, 1)
	cfg := testConfig(filepath.Join(t.TempDir(), "outbox.db"), p.URL)
	cfg.MaxBytes = 4 << 10
	cfg.OnFull = func() { full <- struct{}{} }
	cfg.Journal = &Journal{JS: js, Stream: "lanewatch_outbox_test", Subject: "_lanewatch.outbox.test"}
	o := start(t, cfg)
	var err error
	for v := 1; v <= 100 && err == nil; v++ {
		err = o.Enqueue(inc("i1", v), nil)
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("err %v, want ErrFull", err)
	}
	select {
	case <-full:
	case <-time.After(5 * time.Second):
		t.Fatal("OnFull not called")
	}
	if !o.Stats().Full {
		t.Fatal("Stats().Full not set")
	}
}
