package cluster

import (
	"sync"
	"testing"
	"time"
)

// Items whose leases end together are all unassigned before any is
// stopped, and stopped side by side: a dozen cameras stopped one after
// another (a few hundred ms each) would overrun the margin, and another
// gateway would start them while they still run here.
func TestExpireStopsTogether(t *testing.T) {
	const stop = 300 * time.Millisecond
	c := &Cluster{Self: "gw-a", Logger: quiet, held: map[Item]*lease{}}
	c.metrics = newMetrics(c, nil)
	c.log = quiet
	past := time.Now().Add(-time.Millisecond)
	for _, it := range items() {
		c.held[it] = &lease{rev: 1, until: past}
	}
	live := Item{KindGate, "still-held"}
	c.held[live] = &lease{rev: 1, until: time.Now().Add(time.Hour)}
	var mu sync.Mutex
	stopped := map[Item]bool{}
	c.OnChange = func(it Item, held bool) {
		if held {
			t.Errorf("%v reported held", it)
		}
		for _, other := range items() {
			if c.Assigned(other.Kind, other.ID) {
				t.Errorf("%v still assigned while %v stops", other, it)
			}
		}
		time.Sleep(stop)
		mu.Lock()
		stopped[it] = true
		mu.Unlock()
	}
	start := time.Now()
	c.expire(time.Now())
	took := time.Since(start)
	if len(stopped) != len(items()) {
		t.Fatalf("%d stopped, want %d", len(stopped), len(items()))
	}
	if took > 3*stop {
		t.Errorf("expire took %v for %d items of %v each: not side by side", took, len(items()), stop)
	}
	if !c.Assigned(live.Kind, live.ID) {
		t.Error("an item with time left was dropped")
	}
}
