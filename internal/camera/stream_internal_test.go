package camera

import (
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lanewatch/lanewatch/internal/testenv"
)

// recSink records what it gets; block, when set, holds WriteAU until closed.
type recSink struct {
	mu    sync.Mutex
	keys  []bool
	pts   []time.Duration
	sizes []int // Params.Width on key frames, 0 otherwise
	block chan struct{}
	panic bool
	// scribble: write on the unit, as a queued sink may (its own copy)
	scribble bool
}

func (s *recSink) WriteAU(au AU, p *Params) {
	if s.block != nil {
		<-s.block
	}
	if s.panic {
		panic("sink broken")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, au.Key)
	s.pts = append(s.pts, au.PTS)
	w := 0
	if p != nil {
		w = p.Width
	}
	s.sizes = append(s.sizes, w)
	if s.scribble {
		au.NALUs[0][0] = 0xff
	}
}

func (s *recSink) got() ([]bool, []time.Duration, []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]bool(nil), s.keys...), append([]time.Duration(nil), s.pts...), append([]int(nil), s.sizes...)
}

// A sink attached to a stream gets its units from the first key frame on
// with the parameters there; one that blocks or panics stalls neither the
// inline readers nor the other sinks, and its losses are counted (a
// blocked one resumes at a key frame, so that what it gets decodes).
func TestStreamSinksIndependent(t *testing.T) {
	reg := prometheus.NewRegistry()
	inline := &recSink{}
	s := &stream{inline: []Sink{inline}, params: func() Params { return Params{Codec: "H264", Width: 640} },
		queue: 4, camera: "c1", log: slog.New(slog.DiscardHandler), reg: reg}
	good, slow, broken := &recSink{scribble: true}, &recSink{block: make(chan struct{})}, &recSink{panic: true}
	for _, a := range []struct {
		name string
		s    Sink
	}{{"good", good}, {"slow", slow}, {"broken", broken}} {
		if _, err := s.add(a.name, a.s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.add("good", &recSink{}); err == nil {
		t.Error("a second sink named good was attached")
	}
	const gop = 5
	payload := []byte{1, 2, 3}
	write := func(from, to int) {
		for i := from; i < to; i++ {
			// Starts mid-GOP: the sinks must wait for the first key frame.
			s.write(AU{NALUs: [][]byte{payload}, PTS: time.Duration(i), Key: i%gop == 0})
			// The good sink keeps up (a real camera's units are apart).
			testenv.WaitFor(t, fmt.Sprintf("good sink keeps up at %d", i), 5*time.Second, func() bool { k, _, _ := good.got(); return len(k) == max(i-gop+1, 0) })
		}
	}
	write(gop-1, 40+gop-1) // 40 units, the first a P-frame before any key frame
	if payload[0] != 1 {
		t.Fatal("a queued sink's copy shares the source's unit")
	}
	keys, pts, sizes := good.got()
	if len(keys) != 40-1 || !keys[0] || pts[0] != gop || sizes[0] != 640 {
		t.Fatalf("good sink got %d units, first key %v at %v with width %d; want 39 from the key frame at %d with 640",
			len(keys), keys[0], pts[0], sizes[0], gop)
	}
	if k, _, _ := inline.got(); len(k) != 40 {
		t.Errorf("inline reader got %d of 40 units", len(k))
	}
	st := map[string]SinkStats{}
	for _, x := range s.stats() {
		st[x.Name] = x
	}
	if st["good"].Dropped != 0 || st["good"].Delivered != 39 {
		t.Errorf("good: %+v", st["good"])
	}
	// slow holds one unit in WriteAU and 4 in its queue: the rest is lost.
	if d := st["slow"].Dropped; d < 39-5 {
		t.Errorf("slow sink: %d dropped, want at least %d", d, 39-5)
	}
	if got := testutil.ToFloat64(slowMetric(t, s)); got != float64(st["slow"].Dropped) {
		t.Errorf("metric %v, stats %d", got, st["slow"].Dropped)
	}
	testenv.WaitFor(t, "broken sink detached", 5*time.Second, func() bool {
		for _, x := range s.stats() {
			if x.Name == "broken" {
				return x.Failed
			}
		}
		return false
	})

	// Released, the slow sink takes its queue, then resumes at a key frame.
	close(slow.block)
	testenv.WaitFor(t, "slow sink drained", 5*time.Second, func() bool { k, _, _ := slow.got(); return len(k) == 5 })
	write(40+gop-1, 40+gop-1+2*gop)
	testenv.WaitFor(t, "slow sink resumed", 5*time.Second, func() bool { k, _, _ := slow.got(); return len(k) > 5 })
	keys, pts, _ = slow.got()
	if !keys[5] || pts[5]%gop != 0 {
		t.Errorf("slow sink resumed at a P-frame (pts %v)", pts[5])
	}
	s.close()
	if _, err := s.add("late", &recSink{}); err != ErrClosed {
		t.Errorf("add after close: %v", err)
	}
}

func slowMetric(t *testing.T, s *stream) prometheus.Collector {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.queued {
		if q.name == "slow" {
			return q.metric
		}
	}
	t.Fatal("no slow sink")
	return nil
}
