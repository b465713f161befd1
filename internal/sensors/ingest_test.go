package sensors

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lanewatch/lanewatch/internal/broker/brokertest"
	"github.com/lanewatch/lanewatch/internal/mqttbus"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

var (
	topics = mqttbus.Topics{Prefix: "lanewatch", Site: "test"}
	quiet  = slog.New(slog.NewTextHandler(io.Discard, nil))
)

func bus(t testing.TB, url, id string) *mqttbus.Client {
	t.Helper()
	c, err := mqttbus.New(mqttbus.Config{Broker: url, ClientID: id, Topics: topics, DataDir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func startBus(t testing.TB, c *mqttbus.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
}

// recorder is a Handle that counts how often each event id was handed on.
type recorder struct {
	mu   sync.Mutex
	byID map[string]int
	evs  []Event
}

func (r *recorder) handle(ev Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byID == nil {
		r.byID = map[string]int{}
	}
	r.byID[ev.ID]++
	r.evs = append(r.evs, ev)
}

// startIngest completes g (bus, topics, decoder) on a gateway client, starts
// it and returns it with a connected sender client.
func startIngest(t testing.TB, url string, g *Ingest) (*Ingest, *mqttbus.Client) {
	t.Helper()
	sub := bus(t, url, "gateway")
	g.Bus, g.Topics, g.Decoder = sub, topics, &Decoder{Salt: testSalt}
	if g.Logger == nil {
		g.Logger = quiet
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	startBus(t, sub)
	pub := bus(t, url, "sender")
	startBus(t, pub)
	return g, pub
}

// missing lists the ids 0..n-1 never handled.
func (r *recorder) missing(n int) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for i := range n {
		if r.byID[fmt.Sprint(i)] == 0 {
			out = append(out, i)
		}
	}
	return out
}

func waitConnected(t testing.TB, c *mqttbus.Client) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !c.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("client did not reconnect")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitCounts(t testing.TB, g *Ingest, d time.Duration, what string, pred func(Counts) bool) Counts {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		c := g.Counts()
		if pred(c) {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, c)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func plateRead(id string, i int) []byte {
	return fmt.Appendf(nil, `{"id":%q,"type":"plate_read","plate":"青A%05d","direction":"in","confidence":0.9}`, id, i%100000)
}

// 2,000 QoS 1 events with a broker restart in the middle: every id reaches
// Handle exactly once (redeliveries are caught by the dedup), and the
// counters add up.
func TestIngestNoLossAcrossBrokerRestart(t *testing.T) {
	for _, b := range brokertest.All {
		t.Run(b.Name, func(t *testing.T) {
			e := b.Start(t)
			rec := &recorder{}
			g, pub := startIngest(t, e.URL, &Ingest{Handle: rec.handle})

			n := 2000
			if b.Name == "embedded" {
				// Its bolt store syncs every in-flight message to disk
				// (~100-300 messages/s here); half the count keeps the
				// package test well under a minute and still restarts
				// with hundreds in flight.
				n = 1000
			}
			sem := make(chan struct{}, 64)
			var failed atomic.Int64
			var wg sync.WaitGroup
			var publish func(i int)
			publish = func(i int) {
				sem <- struct{}{}
				wg.Add(1)
				pub.PublishAsync(topics.GateEvents("north"), false, plateRead(fmt.Sprint(i), i), func(err error) {
					<-sem
					defer wg.Done()
					if err != nil {
						// The sender retries, as a gate controller does: that
						// is what makes repeats (and the dedup) necessary.
						if failed.Add(1) <= 3 {
							t.Logf("publish %d: %v (retrying)", i, err)
						}
						go func() { time.Sleep(100 * time.Millisecond); publish(i) }()
					}
				})
			}
			t0 := time.Now()
			for i := range n {
				if i == n/2 {
					// Mid-stream, with messages in flight: the broker must
					// keep every QoS 1 message it acknowledged.
					t.Logf("restart at %v, %+v", time.Since(t0), g.Counts())
					e.Restart()
					t.Logf("restarted at %v", time.Since(t0))
				}
				publish(i)
			}
			t.Logf("all published at %v, %+v", time.Since(t0), g.Counts())
			deadline := time.Now().Add(40 * time.Second)
			for g.Counts().Processed < uint64(n) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			c := g.Counts()
			if c.Processed < uint64(n) {
				t.Fatalf("not all events processed: %+v; missing ids %v", c, rec.missing(n))
			}
			wg.Wait()
			time.Sleep(200 * time.Millisecond) // let late redeliveries in
			c = g.Counts()
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for i := range n {
				if k := rec.byID[fmt.Sprint(i)]; k != 1 {
					t.Fatalf("event %d handled %d times", i, k)
				}
			}
			if c.Processed != uint64(n) || c.Rejected != 0 || c.In != c.Processed+c.Rejected+c.Duplicates {
				t.Fatalf("counts %+v", c)
			}
			t.Logf("%s: %+v, publisher retries %d", b.Name, c, failed.Load())
		})
	}
}

// Malformed payloads of every kind are counted by reason and do not harm
// the events behind them.
func TestIngestMalformedCountedAndHarmless(t *testing.T) {
	for _, b := range brokertest.All {
		t.Run(b.Name, func(t *testing.T) {
			e := b.Start(t)
			rec := &recorder{}
			g, pub := startIngest(t, e.URL, &Ingest{Handle: rec.handle, Gates: []string{"north"}})

			bad := []struct{ gate, payload, reason string }{
				{"north", `not json`, ReasonInvalidJSON},
				{"north", `[1,2]`, ReasonInvalidJSON},
				{"north", `{"type":"sos"}{}`, ReasonInvalidJSON},
				{"north", `{"type":"heartbeat","pad":"` + strings.Repeat("x", MaxPayload) + `"}`, ReasonTooLarge},
				{"north", `{"type":"warp"}`, ReasonUnknownType},
				{"north", `{"plate":"青A12345"}`, ReasonMissingField},
				{"north", `{"type":"plate_read","plate":"$$","direction":"in","confidence":0.5}`, ReasonBadPlate},
				{"north", `{"type":"loop","direction":"sideways"}`, ReasonBadDirection},
				{"north", `{"type":"plate_read","plate":"青A12345","direction":"in","confidence":2}`, ReasonBadConfidence},
				{"north", `{"type":"sos","ts":"noon"}`, ReasonBadTimestamp},
				{"north", `{"type":"sos","lane":"one"}`, ReasonBadLane},
				{"north", `{"type":"sos","id":{}}`, ReasonBadID},
				{"north", `{"type":"access_denied","credential":""}`, ReasonBadCredential},
				{"North_Gate", `{"type":"sos"}`, ReasonBadGate},
				// A gate not in the config: not even an SOS gets through.
				{"west", `{"type":"sos"}`, ReasonUnknownGate},
				{"west", `{"type":"heartbeat"}`, ReasonUnknownGate},
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			send := func(gate, payload string) {
				if err := pub.Publish(ctx, topics.GateEvents(gate), false, []byte(payload)); err != nil {
					t.Fatal(err)
				}
			}
			for i, x := range bad {
				send(x.gate, x.payload)
				send("north", string(plateRead(fmt.Sprint("ok-", i), i)))
			}
			send("north", string(plateRead("ok-0", 0))) // a repeat
			c := waitCounts(t, g, 10*time.Second, "all messages", func(c Counts) bool {
				return c.In >= uint64(2*len(bad)+1) && c.In == c.Processed+c.Rejected+c.Duplicates
			})
			want := Counts{In: uint64(2*len(bad) + 1), Processed: uint64(len(bad)), Rejected: uint64(len(bad)), Duplicates: 1}
			if c != want {
				t.Fatalf("counts %+v, want %+v", c, want)
			}
			wantReasons := map[string]float64{}
			for _, x := range bad {
				wantReasons[x.reason]++
			}
			for _, r := range append(Reasons, ReasonUnknownGate) {
				if v := testutil.ToFloat64(g.m.rejected.WithLabelValues(r)); v != wantReasons[r] {
					t.Errorf("rejected{reason=%q} = %v, want %v", r, v, wantReasons[r])
				}
			}
			if v := testutil.ToFloat64(g.m.rejected.WithLabelValues(ReasonDuplicate)); v != 1 {
				t.Errorf("duplicates metric %v", v)
			}
			if v := testutil.ToFloat64(g.m.events.WithLabelValues("north", "plate_read")); v != float64(len(bad)) {
				t.Errorf("events{north,plate_read} = %v", v)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for _, ev := range rec.evs {
				if ev.Gate != "north" {
					t.Errorf("event from gate %q handed on: %+v", ev.Gate, ev)
				}
			}
		})
	}
}

// fakeBus hands messages straight to the handler; for the logging and
// panic tests, which are about Ingest alone.
type fakeBus struct{ h mqttbus.Handler }

func (f *fakeBus) Publish(context.Context, string, bool, []byte) error { return nil }
func (f *fakeBus) Subscribe(_ string, h mqttbus.Handler) error         { f.h = h; return nil }

func TestRejectLogRateLimitedPerGate(t *testing.T) {
	var out testenv.SyncBuffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fb := &fakeBus{}
	g := &Ingest{Bus: fb, Topics: topics, Decoder: &Decoder{Salt: testSalt}, Handle: func(Event) {},
		Logger: slog.New(slog.NewTextHandler(&out, nil)), Now: func() time.Time { return now }}
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		fb.h(mqttbus.Message{Topic: topics.GateEvents("north"), Payload: []byte("junk")})
		fb.h(mqttbus.Message{Topic: topics.GateEvents("south"), Payload: []byte("junk")})
	}
	if n := strings.Count(out.String(), "\n"); n != 2 {
		t.Fatalf("%d log lines for 200 rejects from 2 gates within a second, want 2:\n%s", n, out.String())
	}
	now = now.Add(time.Second)
	fb.h(mqttbus.Message{Topic: topics.GateEvents("north"), Payload: []byte("junk")})
	if !strings.Contains(out.String(), "suppressed=99") {
		t.Fatalf("next line must carry the suppressed count:\n%s", out.String())
	}
	if c := g.Counts(); c.Rejected != 201 || c.In != 201 {
		t.Fatalf("counts %+v", c)
	}
}

func TestHandlePanicIsContained(t *testing.T) {
	fb := &fakeBus{}
	calls := 0
	g := &Ingest{Bus: fb, Topics: topics, Decoder: &Decoder{Salt: testSalt}, Logger: quiet,
		Handle: func(Event) { calls++; panic("rule bug") }}
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	fb.h(mqttbus.Message{Topic: topics.GateEvents("north"), Payload: []byte(`{"type":"sos"}`)})
	fb.h(mqttbus.Message{Topic: topics.GateEvents("north"), Payload: []byte(`{"type":"sos"}`)})
	if calls != 2 || g.Counts().Processed != 2 || testutil.ToFloat64(g.m.handlePanics) != 2 {
		t.Fatalf("calls %d counts %+v", calls, g.Counts())
	}
}

func TestIngestStartValidates(t *testing.T) {
	tests := []struct {
		name string
		g    *Ingest
	}{
		{"no bus", &Ingest{Decoder: &Decoder{Salt: testSalt}, Handle: func(Event) {}}},
		{"no decoder", &Ingest{Bus: &fakeBus{}, Handle: func(Event) {}}},
		{"no handle", &Ingest{Bus: &fakeBus{}, Decoder: &Decoder{Salt: testSalt}}},
		{"short salt", &Ingest{Bus: &fakeBus{}, Decoder: &Decoder{Salt: []byte("x")}, Handle: func(Event) {}}},
	}
	for _, tt := range tests {
		if err := tt.g.Start(context.Background()); err == nil {
			t.Errorf("%s: Start succeeded", tt.name)
		}
	}
}

func TestGateFromTopic(t *testing.T) {
	g := &Ingest{Topics: mqttbus.Topics{Prefix: "acme/lw", Site: "s1"}}
	g.prefix = g.Topics.Prefix + "/" + g.Topics.Site + "/gates/"
	tests := map[string]string{
		"acme/lw/s1/gates/north/events":   "north",
		"acme/lw/s1/gates/a/b/events":     "a/b", // rejected later as bad_gate
		"acme/lw/s1/gates/north/commands": "",
		"other/s1/gates/north/events":     "",
	}
	for topic, want := range tests {
		if got := g.gateOf(topic); got != want {
			t.Errorf("%s: %q, want %q", topic, got, want)
		}
	}
}

// The gateway process restarts while events keep coming: whatever the first
// process had received but not finished is not acknowledged, so the broker
// hands it to the second process (same client id, persistent session).
// Every event is handled by one of the two; the dedup is per process, so an
// event may be handled by both (at-least-once across gateway restarts).
func TestIngestNoLossAcrossGatewayRestart(t *testing.T) {
	e := brokertest.Mosquitto(t)
	var rec recorder
	slow := func(ev Event) { rec.handle(ev); time.Sleep(200 * time.Microsecond) }
	newGateway := func() (*Ingest, *mqttbus.Client) {
		c, err := mqttbus.New(mqttbus.Config{Broker: e.URL, ClientID: "gateway", Topics: topics, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		g := &Ingest{Bus: c, Topics: topics, Decoder: &Decoder{Salt: testSalt}, Handle: slow, Logger: quiet}
		if err := g.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		startBus(t, c)
		return g, c
	}
	g1, c1 := newGateway()
	pub := bus(t, e.URL, "gate-north")
	startBus(t, pub)
	const n = 1000
	var wg sync.WaitGroup
	for i := range n {
		if i == n/2 {
			c1.Close() // stops delivery; queued messages stay unacknowledged
			g1.Close()
		}
		wg.Add(1)
		pub.PublishAsync(topics.GateEvents("north"), false, plateRead(fmt.Sprint(i), i), func(err error) {
			if err != nil {
				t.Error(err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	first := g1.Counts()
	g2, c2 := newGateway()
	defer c2.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		missing := rec.missing(n)
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events never handled: %v; first gateway %+v, second %+v", len(missing), n, missing, first, g2.Counts())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("first gateway %+v, second %+v", first, g2.Counts())
}

// The gateway closes inputs before the MQTT client (reverse start order).
// Events arriving in between must not be acknowledged and lost.
func TestIngestClosedBeforeBusLosesNothing(t *testing.T) {
	e := brokertest.Mosquitto(t)
	rec := &recorder{}
	g, pub := startIngest(t, e.URL, &Ingest{Handle: rec.handle})
	g.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 20 {
		if err := pub.Publish(ctx, topics.GateEvents("north"), false, plateRead(fmt.Sprint(i), i)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	g.Bus.(*mqttbus.Client).Close()
	if c := g.Counts(); c.In != 0 {
		t.Fatalf("closed Ingest counted %+v", c)
	}
	// The next gateway process gets all of them.
	rec2 := &recorder{}
	g2, _ := startIngest(t, e.URL, &Ingest{Handle: rec2.handle})
	waitCounts(t, g2, 10*time.Second, "events left for the next process", func(c Counts) bool { return c.Processed == 20 })
}
