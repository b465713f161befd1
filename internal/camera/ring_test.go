package camera

import (
	"context"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

// fill pushes n units of size bytes at fps with a key frame every gop.
func fill(r *ring, t0 time.Time, from, n, gop, size int, fps float64) time.Time {
	payload := make([]byte, size)
	var at time.Time
	for i := from; i < from+n; i++ {
		at = t0.Add(time.Duration(float64(i) / fps * float64(time.Second)))
		payload[0] = byte(i)
		r.push([][]byte{payload[:size/2], payload[size/2:]}, time.Duration(i), at, i%gop == 0)
	}
	return at
}

func TestRingBounds(t *testing.T) {
	for _, tc := range []struct {
		name      string
		preRoll   time.Duration
		maxBytes  int
		gop, size int
		wantMin   time.Duration // span covered at least
		wantMax   time.Duration // and at most
		wantEmpty bool
	}{
		{name: "time bound", preRoll: 2 * time.Second, maxBytes: 1 << 30, gop: 10, size: 100, wantMin: 2 * time.Second, wantMax: 3 * time.Second},
		{name: "gop longer than pre-roll", preRoll: 500 * time.Millisecond, maxBytes: 1 << 30, gop: 40, size: 100, wantMin: 500 * time.Millisecond, wantMax: 4500 * time.Millisecond},
		{name: "byte bound", preRoll: time.Hour, maxBytes: 25 * 1000, gop: 10, size: 1000, wantMin: 1 * time.Second, wantMax: 2500 * time.Millisecond},
		{name: "one gop over the byte cap", preRoll: time.Hour, maxBytes: 5 * 1000, gop: 1000, size: 1000, wantEmpty: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRing(tc.preRoll, tc.maxBytes)
			t0 := time.Unix(1000, 0)
			end := fill(r, t0, 0, 203, tc.gop, tc.size, 10)
			if r.bytes > tc.maxBytes {
				t.Errorf("bytes %d over cap %d", r.bytes, tc.maxBytes)
			}
			if tc.wantEmpty {
				if len(r.entries) > tc.maxBytes/tc.size {
					t.Errorf("%d entries kept over the cap", len(r.entries))
				}
				return
			}
			if len(r.entries) == 0 || !r.entries[0].au.Key {
				t.Fatalf("ring does not start at a key frame")
			}
			span := end.Sub(r.entries[0].au.At)
			if span < tc.wantMin || span > tc.wantMax {
				t.Errorf("span %v, want [%v, %v]", span, tc.wantMin, tc.wantMax)
			}
		})
	}
}

func TestRingClip(t *testing.T) {
	r := newRing(10*time.Second, 1<<30)
	t0 := time.Unix(1000, 0)
	fill(r, t0, 0, 100, 10, 50, 10) // 10 s, key frames every second
	from, to := t0.Add(3500*time.Millisecond), t0.Add(5*time.Second)
	aus, _ := r.clip(from, to)
	if len(aus) == 0 || !aus[0].Key || !aus[0].At.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("clip should start at the key frame at 3s: %d units", len(aus))
	}
	if last := aus[len(aus)-1].At; last.After(to) || last.Before(to.Add(-100*time.Millisecond)) {
		t.Errorf("clip ends at %v", last.Sub(t0))
	}
	// Clips are copies: recycling ring buffers must not change them.
	first := aus[0].NALUs[0][0]
	fill(r, t0, 100, 200, 10, 50, 10)
	if aus[0].NALUs[0][0] != first {
		t.Errorf("clip shares memory with the ring")
	}
}

func TestRingSteadyStateAllocs(t *testing.T) {
	r := newRing(time.Second, 1<<30)
	t0 := time.Unix(1000, 0)
	fill(r, t0, 0, 100, 10, 2000, 10)
	i := 100
	payload := make([]byte, 2000)
	nalus := [][]byte{payload[:1000], payload[1000:]}
	allocs := testing.AllocsPerRun(200, func() {
		r.push(nalus, 0, t0.Add(time.Duration(i)*100*time.Millisecond), i%10 == 0)
		i++
	})
	if allocs > 0.1 {
		t.Errorf("%.2f allocations per push in steady state", allocs)
	}
}

func TestRingWaitUntil(t *testing.T) {
	r := newRing(time.Second, 1<<30)
	t0 := time.Now()
	go func() {
		time.Sleep(50 * time.Millisecond)
		fill(r, t0, 0, 5, 1, 10, 10) // last unit at t0+400ms
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.waitUntil(ctx, t0.Add(400*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if err := r.waitUntil(short, t0.Add(time.Hour)); err != context.DeadlineExceeded {
		t.Errorf("wait past the end: %v", err)
	}
	r.close()
	if err := r.waitUntil(context.Background(), t0.Add(time.Hour)); err != ErrClosed {
		t.Errorf("after close: %v", err)
	}
}

func TestBackoffDelay(t *testing.T) {
	lo, hi := time.Second, 30*time.Second
	for _, tc := range []struct {
		attempt  int
		min, max time.Duration
	}{
		{0, 500 * time.Millisecond, time.Second},
		{1, time.Second, 2 * time.Second},
		{4, 8 * time.Second, 16 * time.Second},
		{5, 15 * time.Second, 30 * time.Second},
		{50, 15 * time.Second, 30 * time.Second},
	} {
		for i := 0; i < 100; i++ {
			if d := backoffDelay(lo, hi, tc.attempt); d < tc.min || d > tc.max {
				t.Fatalf("attempt %d: %v not in [%v, %v]", tc.attempt, d, tc.min, tc.max)
			}
		}
	}
}

// The slab is reused circularly from its start as soon as there is room:
// with a cap far above the pre-roll, the bytes it touches stay near what
// the ring holds, the pre-roll is never cut short by the wrap, and every
// unit reads back as pushed.
func TestRingSlabWrap(t *testing.T) {
	r := newRing(2*time.Second, 64<<20)
	defer r.close()
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Unix(1000, 0)
	extent, held := 0, 0
	for i := range 3000 {
		size := 200 + rng.IntN(1800) // P-frames of varied size
		key := i%20 == 0
		if key {
			size = 20000 + rng.IntN(10000)
		}
		payload := make([]byte, size)
		for j := range payload {
			payload[j] = byte(i + j)
		}
		at := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		r.push([][]byte{payload[:size/3], payload[size/3:]}, time.Duration(i), at, key)
		for _, e := range r.entries {
			extent = max(extent, e.off+e.size)
		}
		held = max(held, r.bytes)
		if i > 100 {
			if span := at.Sub(r.entries[0].au.At); span < 2*time.Second {
				t.Fatalf("unit %d: pre-roll cut to %v by the slab", i, span)
			}
		}
	}
	// A GOP is at most 30000+19*2000 bytes: the margin is two of them.
	if limit := held + 3*68000; extent > limit {
		t.Errorf("slab touched up to %d bytes for a ring of at most %d (limit %d)", extent, held, limit)
	}
	// Evicted units' pages are given back: what is in memory is what the
	// ring holds, give or take a page at each end of its runs.
	if held, res := r.usage(); held != r.bytes || res < held || res > held+4*os.Getpagesize() {
		t.Errorf("usage: %d held, %d resident; want %d held, about as much resident (%d bytes touched)", held, res, r.bytes, extent)
	}
	for _, e := range r.entries {
		i := int(e.au.PTS)
		b := append(append([]byte(nil), e.au.NALUs[0]...), e.au.NALUs[1]...)
		for j, v := range b {
			if v != byte(i+j) {
				t.Fatalf("unit %d byte %d: %d, want %d", i, j, v, byte(i+j))
			}
		}
	}
	r.close()
	if aus, _ := r.clip(t0, t0.Add(time.Hour)); len(aus) != 0 {
		t.Errorf("closed ring still has %d units", len(aus))
	}
	if r.push([][]byte{{1}}, 0, t0, true) != 0 {
		t.Error("push after close kept a unit")
	}
}
