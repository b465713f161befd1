package mqttbus

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanewatch/lanewatch/internal/broker/brokertest"
)

// batchRecorder records the batches a SubscribeBatch handler got; the first
// call blocks until release is closed, so that messages queue up behind it.
type batchRecorder struct {
	mu      sync.Mutex
	batches [][]string
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newBatchRecorder() *batchRecorder {
	return &batchRecorder{entered: make(chan struct{}), release: make(chan struct{})}
}

func (r *batchRecorder) handle(ms []Message) error {
	var b []string
	for _, m := range ms {
		b = append(b, string(m.Payload))
	}
	r.mu.Lock()
	r.batches = append(r.batches, b)
	r.mu.Unlock()
	r.once.Do(func() { close(r.entered); <-r.release })
	return nil
}

func (r *batchRecorder) all() (flat []string, biggest int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.batches {
		flat = append(flat, b...)
		biggest = max(biggest, len(b))
	}
	return flat, biggest
}

func publishN(t *testing.T, pub *Client, from, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for i := from; i < from+n; i++ {
		wg.Add(1)
		pub.PublishAsync(topics.GateEvents("north"), false, []byte(fmt.Sprint("m", i)), func(err error) {
			if err != nil {
				t.Error(err)
			}
			wg.Done()
		})
	}
	wg.Wait()
}

// Messages queued while the handler runs come in one later call, in order,
// and every message arrives exactly once.
func TestSubscribeBatchTakesWhatIsQueued(t *testing.T) {
	e := brokertest.Mosquitto(t)
	rec := newBatchRecorder()
	c := newClient(t, e.URL, "gateway", nil)
	if err := c.SubscribeBatch("lanewatch/test/gates/+/events", rec.handle); err != nil {
		t.Fatal(err)
	}
	start(t, c)
	pub := newClient(t, e.URL, "gate", nil)
	start(t, pub)
	publishN(t, pub, 0, 1)
	<-rec.entered
	publishN(t, pub, 1, 60) // under Mosquitto's in-flight window of 100
	time.Sleep(200 * time.Millisecond)
	close(rec.release)
	deadline := time.Now().Add(10 * time.Second)
	for {
		flat, biggest := rec.all()
		if len(flat) == 61 {
			for i, p := range flat {
				if p != fmt.Sprint("m", i) {
					t.Fatalf("message %d is %q: order lost (%v)", i, p, flat)
				}
			}
			if biggest < 2 {
				t.Fatalf("no batch bigger than 1 message")
			}
			return
		}
		if len(flat) > 61 || time.Now().After(deadline) {
			t.Fatalf("got %d messages, want 61", len(flat))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A batch whose handler has not returned is not acknowledged: after the
// process gives up on it, the next session with the same client id gets
// every message of it again.
func TestSubscribeBatchUnfinishedBatchIsRedelivered(t *testing.T) {
	e := brokertest.Mosquitto(t)
	rec := newBatchRecorder()
	defer close(rec.release)
	c := newClient(t, e.URL, "gateway", func(c *Config) { c.CloseTimeout = 300 * time.Millisecond })
	if err := c.SubscribeBatch("lanewatch/test/gates/+/events", rec.handle); err != nil {
		t.Fatal(err)
	}
	start(t, c)
	pub := newClient(t, e.URL, "gate", nil)
	start(t, pub)
	publishN(t, pub, 0, 1)
	<-rec.entered // stuck on m0, which is not acknowledged
	publishN(t, pub, 1, 9)
	time.Sleep(200 * time.Millisecond)
	c.Close()

	next := nextSession(t, e)
	next.waitFor(t, 10*time.Second, "the unacknowledged batch and the queued messages",
		hasSeq("m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"))
}

// A handler that returns an error (its store failed) gets its batch left
// unacknowledged: the broker sends it to the next session, and the
// subscription goes on with the messages after it.
func TestSubscribeBatchHandlerErrorIsNotAcknowledged(t *testing.T) {
	e := brokertest.Mosquitto(t)
	reg := prometheus.NewRegistry()
	c := newClient(t, e.URL, "gateway", func(c *Config) { c.Registerer = reg })
	later := newCollector()
	if err := c.SubscribeBatch("lanewatch/test/gates/+/events", func(ms []Message) error {
		for _, m := range ms {
			if string(m.Payload) == "m0" {
				return errors.New("disk full")
			}
			later.handle(m)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	start(t, c)
	pub := newClient(t, e.URL, "gate", nil)
	start(t, pub)
	publishN(t, pub, 0, 1)
	waitMetric(t, reg, "lanewatch_mqttbus_handler_errors_total", 1)
	publishN(t, pub, 1, 1)
	later.waitFor(t, 10*time.Second, "the message after the failed one", hasSeq("m1"))
	c.Close()

	next := nextSession(t, e)
	next.waitFor(t, 10*time.Second, "the batch its handler failed", hasSeq("m0"))
}

// nextSession starts the gateway's next session (same client id) with a
// batch subscription to the gate events and collects what it gets.
func nextSession(t *testing.T, e *brokertest.Env) *collector {
	t.Helper()
	next := newCollector()
	c2 := newClient(t, e.URL, "gateway", nil)
	if err := c2.SubscribeBatch("lanewatch/test/gates/+/events", func(ms []Message) error {
		for _, m := range ms {
			next.handle(m)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	start(t, c2)
	return next
}

func waitMetric(t *testing.T, g prometheus.Gatherer, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mfs, _ := g.Gather()
		for _, mf := range mfs {
			if mf.GetName() == name && mf.GetMetric()[0].GetCounter().GetValue() >= want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not reach %v", name, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
