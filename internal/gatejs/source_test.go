package gatejs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lanewatch/lanewatch/internal/broker"
	"github.com/lanewatch/lanewatch/internal/mqttbus"
	"github.com/lanewatch/lanewatch/internal/testenv"
	"github.com/lanewatch/lanewatch/internal/topics"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var site = topics.Topics{Prefix: "lanewatch", Site: "zh.lane"}

func TestSubject(t *testing.T) {
	for _, c := range []struct{ topic, subj string }{
		{"lanewatch/zh/gates/north/events", "lanewatch.zh.gates.north.events"},
		{"a.b/zh.lane/gates/n-1/events", "a//b.zh//lane.gates.n-1.events"},
		{"", ""}, {"/a", ""}, {"a/", ""}, {"a//b", ""}, {"a b", ""}, {"a/*", ""}, {"a/>", ""},
	} {
		got, err := Subject(c.topic)
		if (err != nil) != (c.subj == "") || got != c.subj {
			t.Errorf("Subject(%q) = %q, %v; want %q", c.topic, got, err, c.subj)
		}
		if err == nil && topicOf(got) != c.topic {
			t.Errorf("topicOf(%q) = %q, want %q", got, topicOf(got), c.topic)
		}
	}
}

type env struct {
	b   *broker.Broker
	dev paho.Client
}

func startEnv(t *testing.T) *env { return startEnvTB(t) }

func startEnvTB(t testing.TB) *env {
	b, err := broker.New(broker.Config{Listen: testenv.FreeAddr(t), DataDir: t.TempDir(), Logger: quiet,
		Gateway: broker.Gateway{Username: "gw", Password: "pw-0123456789", ClientID: "gw"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	b.Admit()
	o := paho.NewClientOptions().AddBroker(b.URL()).SetClientID("dev").SetUsername("gw").SetPassword("pw-0123456789")
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return &env{b: b, dev: c}
}

func (e *env) conn(t *testing.T) *nats.Conn { return e.connTB(t) }

func (e *env) connTB(t testing.TB) *nats.Conn {
	nc, err := e.b.Conn("test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func (e *env) publish(t *testing.T, gate string, n, from int) {
	for i := from; i < from+n; i++ {
		tok := e.dev.Publish(site.GateEvents(gate), 1, false, fmt.Sprintf(`{"id":"e%d"}`, i))
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
}

// recorder is a handler that records what it got.
type recorder struct {
	mu   sync.Mutex
	got  map[string]int // payload → times
	msgs []mqttbus.Message
}

func (r *recorder) handle(ms []mqttbus.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.got == nil {
		r.got = map[string]int{}
	}
	for _, m := range ms {
		r.got[string(m.Payload)]++
		r.msgs = append(r.msgs, m)
	}
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func newSource(t *testing.T, nc *nats.Conn) *Source { return newSourceTB(t, nc) }

func newSourceTB(t testing.TB, nc *nats.Conn) *Source {
	s := &Source{Conn: nc, Topics: site, Gates: []string{"north", "south"}, AckWait: time.Second, Batch: 16, Logger: quiet}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The broker stores a gate's PUBACKed events only because its consumer
// exists; they wait, unacknowledged, for a holder, and a second holder
// after the first stopped gets each event not acknowledged once.
func TestSourceHandOver(t *testing.T) {
	e := startEnv(t)
	nc := e.conn(t)
	js, _ := jetstream.New(nc)
	st, err := js.Stream(context.Background(), MQTTStream)
	if err != nil {
		t.Fatal(err)
	}
	// No consumer yet: acknowledged, not stored (what the design rests on).
	e.publish(t, "north", 1, -1)
	if info, _ := st.Info(context.Background()); info.State.Msgs != 0 {
		t.Fatalf("stored without interest: %d", info.State.Msgs)
	}

	a := newSource(t, nc)
	var ra recorder
	if err := a.SubscribeBatch(site.AllGateEvents(), ra.handle); err != nil {
		t.Fatal(err)
	}
	e.publish(t, "north", 50, 0) // before anyone holds north: kept
	if info, _ := st.Info(context.Background()); info.State.Msgs != 50 {
		t.Fatalf("stored %d of 50", info.State.Msgs)
	}
	a.Hold("north", true)
	waitFor(t, "50 events at a", func() bool { return ra.count() == 50 })
	a.Hold("north", false)
	e.publish(t, "north", 50, 50) // held by nobody
	if ra.count() != 50 {
		t.Fatalf("a got %d after release", ra.count())
	}

	// b's handler blocks the first batch, then b "dies" without acking:
	// the connection closes under it.
	nc2 := e.conn(t)
	b := newSource(t, nc2)
	block := make(chan struct{})
	var once sync.Once
	dead := make(chan struct{})
	t.Cleanup(func() { close(dead) }) // before b.Close, which waits for it
	b.SubscribeBatch("", func(ms []mqttbus.Message) error {
		once.Do(func() { close(block) })
		<-dead // returns only after the test: never acks
		return fmt.Errorf("dead")
	})
	b.Hold("north", true)
	<-block
	nc2.Close()

	c := newSource(t, e.conn(t))
	var rc recorder
	c.SubscribeBatch("", rc.handle)
	c.Hold("north", true)
	waitFor(t, "50 events at c", func() bool { return rc.count() >= 50 })
	time.Sleep(1500 * time.Millisecond) // an AckWait: nothing comes twice
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i := 50; i < 100; i++ {
		if n := rc.got[fmt.Sprintf(`{"id":"e%d"}`, i)]; n != 1 {
			t.Errorf("e%d handled %d times by the new holder", i, n)
		}
	}
	if len(rc.msgs) != 50 {
		t.Errorf("new holder got %d events, want 50", len(rc.msgs))
	}
	for _, m := range rc.msgs {
		if m.Topic != site.GateEvents("north") {
			t.Fatalf("topic %q", m.Topic)
		}
	}
	waitFor(t, "acked events removed", func() bool {
		info, _ := st.Info(context.Background())
		return info.State.Msgs == 0
	})
}

// Events of a gate that is not configured are not stored but still reach
// the handler (which rejects them: unknown_gate).
func TestSourceUnknownGate(t *testing.T) {
	e := startEnv(t)
	s := newSource(t, e.conn(t))
	var r recorder
	s.SubscribeBatch("", r.handle)
	e.publish(t, "west", 3, 0)
	waitFor(t, "3 unknown", func() bool { return r.count() == 3 })
	if r.msgs[0].Topic != site.GateEvents("west") {
		t.Fatalf("topic %q", r.msgs[0].Topic)
	}
	e.publish(t, "north", 1, 0) // known, not held: not handed on
	time.Sleep(300 * time.Millisecond)
	if r.count() != 3 {
		t.Fatalf("a known gate's event came through the unknown path")
	}
}

// A batch is acknowledged only once its Settle wait returned, and the next
// batch is handled meanwhile (an SOS does not queue behind a quorum's
// round trip); a release returns only after the held batches' acks.
func TestSourceSettleBeforeAck(t *testing.T) {
	e := startEnv(t)
	nc := e.conn(t)
	js, _ := jetstream.New(nc)
	release := make(chan struct{})
	var settles sync.WaitGroup
	var r recorder
	s := settledSource(t, nc, &r, func() func() error {
		settles.Add(1)
		return func() error { defer settles.Done(); <-release; return nil }
	})
	pending := func() int {
		c, err := js.Consumer(context.Background(), MQTTStream, ConsumerName("north"))
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return info.NumAckPending
	}
	e.publish(t, "north", 1, 0)
	waitFor(t, "the first event handled", func() bool { return r.count() == 1 })
	e.publish(t, "north", 1, 1)
	waitFor(t, "the second handled while the first waits", func() bool { return r.count() == 2 })
	if n := pending(); n != 2 {
		t.Fatalf("%d events await their ack, want 2 (none acked before its settle)", n)
	}
	released := make(chan struct{})
	go func() { s.Hold("north", false); close(released) }()
	select {
	case <-released:
		t.Fatal("the gate was released before its handled events were acknowledged")
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	<-released
	settles.Wait()
	waitFor(t, "both acknowledged", func() bool { return pending() == 0 })
}

// A batch whose Settle wait fails is given back, not acknowledged: it comes
// again, and is acknowledged once a wait succeeds.
func TestSourceSettleFailureGivesBack(t *testing.T) {
	e := startEnv(t)
	nc := e.conn(t)
	js, _ := jetstream.New(nc)
	var mu sync.Mutex
	fail := true
	var r recorder
	settledSource(t, nc, &r, func() func() error {
		return func() error {
			mu.Lock()
			defer mu.Unlock()
			if fail {
				fail = false
				return fmt.Errorf("no quorum")
			}
			return nil
		}
	})
	e.publish(t, "north", 1, 0)
	waitFor(t, "the event handled again after the failed wait", func() bool { return r.count() == 2 })
	waitFor(t, "then acknowledged", func() bool {
		c, err := js.Consumer(context.Background(), MQTTStream, ConsumerName("north"))
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	})
}

// settledSource holds gate north with settle as its Settle, handing to r.
func settledSource(t *testing.T, nc *nats.Conn, r *recorder, settle func() func() error) *Source {
	s := &Source{Conn: nc, Topics: site, Gates: []string{"north"}, AckWait: 30 * time.Second, Batch: 16, Logger: quiet, Settle: settle}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.SubscribeBatch("", r.handle)
	s.Hold("north", true)
	return s
}

// An event Early picks, at a gate held here, is handled as the broker
// routes it, while its gate's consumer delivers nothing (paused): an SOS
// does not wait for the store and the pull. Its stored copy still comes
// and is acknowledged; other events, and SOS at gates not held here, wait
// for theirs.
func TestSourceEarly(t *testing.T) {
	e := startEnv(t)
	nc := e.conn(t)
	js, _ := jetstream.New(nc)
	var r recorder
	s := &Source{Conn: nc, Topics: site, Gates: []string{"north", "south"}, AckWait: 30 * time.Second, Batch: 16, Logger: quiet,
		Early: func(_ string, p []byte) bool { return strings.Contains(string(p), `"sos"`) }}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	if _, err := js.PauseConsumer(ctx, MQTTStream, ConsumerName("north"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	s.SubscribeBatch("", r.handle)
	s.Hold("north", true)
	send := func(gate, payload string) {
		if tok := e.dev.Publish(site.GateEvents(gate), 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	const sos, plate = `{"id":"s1","type":"sos"}`, `{"id":"p1","type":"plate_read"}`
	send("north", plate)
	send("north", sos)
	send("south", `{"id":"s2","type":"sos"}`) // not held here
	waitFor(t, "the SOS handled ahead of its stored copy", func() bool { return r.count() == 1 })
	time.Sleep(300 * time.Millisecond)
	r.mu.Lock()
	got := string(r.msgs[0].Payload)
	n := len(r.msgs)
	r.mu.Unlock()
	if got != sos || n != 1 {
		t.Fatalf("handled %d events, first %s; want only the SOS while the consumer is paused", n, got)
	}

	if _, err := js.ResumeConsumer(ctx, MQTTStream, ConsumerName("north")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stored copies", func() bool { return r.count() == 3 })
	r.mu.Lock()
	if r.got[sos] != 2 || r.got[plate] != 1 {
		t.Errorf("handled %v; want the SOS twice (early, stored: the handler drops the copy) and the plate read once", r.got)
	}
	r.mu.Unlock()
	waitFor(t, "both stored copies acknowledged", func() bool {
		c, err := js.Consumer(ctx, MQTTStream, ConsumerName("north"))
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	})
}
