package sensors

import (
	"sync"
	"time"
)

// DedupWindow is how long a (gate, id) pair is remembered (contract 2.1).
const DedupWindow = 10 * time.Minute

// MaxIDs bounds the ids remembered at once, about 100 bytes each. At more
// than MaxIDs ids per DedupWindow (≈170 events/s sustained, far above a
// compound's gates) the oldest are forgotten early: memory stays bounded and
// only a very late repeat could get through.
const MaxIDs = 100_000

// Dedup remembers recently seen (gate, id) pairs. Entries expire in arrival
// order, so a FIFO ring beside the map is enough: no timer, no heap.
type Dedup struct {
	Window time.Duration // default DedupWindow
	Max    int           // default MaxIDs

	mu   sync.Mutex
	seen map[dedupKey]time.Time
	ring []dedupEntry // FIFO of insertions, head at start
	head int
	n    int
}

type dedupKey struct{ gate, id string }

type dedupEntry struct {
	key dedupKey
	at  time.Time
}

// Seen records (gate, id) at now and reports whether it was already seen
// within the window. An empty id is never a duplicate: the sender gave us
// nothing to compare.
func (d *Dedup) Seen(gate, id string, now time.Time) bool {
	if id == "" {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen == nil {
		if d.Window <= 0 {
			d.Window = DedupWindow
		}
		if d.Max <= 0 {
			d.Max = MaxIDs
		}
		d.seen = make(map[dedupKey]time.Time)
		d.ring = make([]dedupEntry, d.Max)
	}
	d.expire(now)
	k := dedupKey{gate, id}
	if at, ok := d.seen[k]; ok && now.Sub(at) < d.Window {
		return true
	}
	if d.n == len(d.ring) {
		d.pop()
	}
	d.seen[k] = now
	d.ring[(d.head+d.n)%len(d.ring)] = dedupEntry{k, now}
	d.n++
	return false
}

// Forget drops (gate, id), so that the same event is accepted when it comes
// again: for events that were accepted but could not be stored, which the
// broker resends.
func (d *Dedup) Forget(gate, id string) {
	if id == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	// Its ring entry stays; pop removes a key only when the times match.
	delete(d.seen, dedupKey{gate, id})
}

// Len is the number of ids remembered.
func (d *Dedup) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.seen)
}

func (d *Dedup) expire(now time.Time) {
	for d.n > 0 && now.Sub(d.ring[d.head].at) >= d.Window {
		d.pop()
	}
}

func (d *Dedup) pop() {
	e := d.ring[d.head]
	// A key re-inserted after expiry has a newer time in the map; only the
	// entry that matches removes it.
	if at, ok := d.seen[e.key]; ok && at.Equal(e.at) {
		delete(d.seen, e.key)
	}
	d.ring[d.head] = dedupEntry{}
	d.head = (d.head + 1) % len(d.ring)
	d.n--
}
