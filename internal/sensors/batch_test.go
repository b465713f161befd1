package sensors

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/broker/brokertest"
	"github.com/lanewatch/lanewatch/internal/mqttbus"
)

// With HandleBatch, events queued behind a slow call arrive together, in
// order; rejects and duplicates never reach it, and the counters add up.
func TestIngestHandleBatch(t *testing.T) {
	e := brokertest.Mosquitto(t)
	var (
		mu      sync.Mutex
		ids     []string
		biggest int
	)
	first := make(chan struct{})
	var once sync.Once
	g, pub := startIngest(t, e.URL, &Ingest{HandleBatch: func(evs []Event) error {
		mu.Lock()
		for _, ev := range evs {
			ids = append(ids, ev.ID)
		}
		biggest = max(biggest, len(evs))
		mu.Unlock()
		once.Do(func() { <-first })
		return nil
	}})
	const n = 80
	var wg sync.WaitGroup
	send := func(p []byte) {
		wg.Add(1)
		pub.PublishAsync(topics.GateEvents("north"), false, p, func(err error) {
			if err != nil {
				t.Error(err)
			}
			wg.Done()
		})
	}
	for i := range n {
		send(plateRead(fmt.Sprint(i), i))
		if i%10 == 5 {
			send([]byte(`{"type":"nope"}`))   // rejected
			send(plateRead(fmt.Sprint(i), i)) // duplicate
		}
		if i == 0 {
			time.Sleep(200 * time.Millisecond) // the first call is blocked now
		}
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond)
	close(first)
	c := waitCounts(t, g, 10*time.Second, "every event", func(c Counts) bool { return c.Processed == n && c.Rejected == 8 && c.Duplicates == 8 })
	if c.In != c.Processed+c.Rejected+c.Duplicates {
		t.Fatalf("counts do not add up: %+v", c)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != n {
		t.Fatalf("HandleBatch got %d events, want %d", len(ids), n)
	}
	for i, id := range ids {
		if id != fmt.Sprint(i) {
			t.Fatalf("event %d has id %s: order lost", i, id)
		}
	}
	if biggest < 2 {
		t.Fatal("no batch bigger than one event")
	}
}

// A batch its handler could not store is reported to the bus (so it is not
// acknowledged) and its ids are forgotten: when the broker sends it again it
// is handled, not dropped as a duplicate.
func TestIngestBatchNotStoredIsAcceptedAgain(t *testing.T) {
	e := brokertest.Mosquitto(t)
	var calls []int
	fail := true
	g, _ := startIngest(t, e.URL, &Ingest{HandleBatch: func(evs []Event) error {
		calls = append(calls, len(evs))
		if fail {
			return errors.New("vehicle log: no space left on device")
		}
		return nil
	}})
	msgs := []mqttbus.Message{{Topic: topics.GateEvents("north"), Payload: plateRead("a", 1)},
		{Topic: topics.GateEvents("north"), Payload: plateRead("b", 2)}}
	if err := g.onBatch(msgs); err == nil {
		t.Fatal("onBatch hid the handler's error: the bus would acknowledge unstored events")
	}
	fail = false
	if err := g.onBatch(msgs); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(calls) != "[2 2]" {
		t.Fatalf("handler calls %v, want [2 2]: the resent events were taken for duplicates", calls)
	}
	if c := g.Counts(); c.Processed != 2 || c.Duplicates != 0 {
		t.Fatalf("counts %+v", c)
	}
	if err := g.onBatch(msgs); err != nil || fmt.Sprint(calls) != "[2 2]" {
		t.Fatalf("a third copy after success was handled again: calls %v, err %v", calls, err)
	}
}
