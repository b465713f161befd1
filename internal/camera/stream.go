package camera

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultSinkQueue is how many access units a sink may fall behind the
// camera before units are dropped for it: a few seconds at camera rates,
// enough for a scheduling hiccup; a sink that needs more (the recorder,
// waiting for the disk) queues behind its own WriteAU.
const DefaultSinkQueue = 64

// stream hands a source's access units to its readers, as mediamtx's
// source → stream → readers: the inline readers (the ring, then the
// decoder, so that a frame handed to analysis is in the ring for its
// snapshot) run on the source's goroutine and must be fast; every other sink gets its own goroutine and a bounded queue,
// so that a slow or failing sink stalls neither the stream nor another
// sink. A sink that falls a queue behind loses units (counted) up to the
// next key frame, so that what it gets always decodes.
type stream struct {
	inline []Sink
	params func() Params // what a sink starting at a key frame needs
	queue  int
	camera string
	log    *slog.Logger
	reg    prometheus.Registerer

	mu     sync.Mutex // guards queued and closed against the writer
	queued []*queuedSink
	closed bool
}

// SinkStats is what a sink attached to a camera got and lost.
type SinkStats struct {
	Name      string
	Delivered uint64 // units it took
	Dropped   uint64 // units it lost: its queue was full, then up to the next key frame
	Failed    bool   // it panicked and was detached
}

type queuedSink struct {
	name string
	sink Sink
	ch   chan queuedAU
	done chan struct{}
	log  *slog.Logger
	pool sync.Pool // *[]byte

	delivered, dropped atomic.Uint64
	failed             atomic.Bool
	// Writer side: wait for a key frame (a sink starts at one, and after a
	// drop resumes at one); started once it has had one.
	resync, started bool
	metric          prometheus.Collector
}

type queuedAU struct {
	au  AU
	p   *Params
	buf *[]byte
}

// write delivers one unit to every reader.
// The inline readers get no Params (they are the camera's own); the
// queued sinks get them on key frames, taken after the decoder has seen
// the unit, so that a recorder starting at the first key frame has its
// size.
func (s *stream) write(au AU) {
	for _, r := range s.inline {
		r.WriteAU(au, nil)
	}
	s.mu.Lock()
	if len(s.queued) > 0 {
		var p *Params
		if au.Key {
			cp := s.params()
			p = &cp
		}
		for _, q := range s.queued {
			q.offer(au, p)
		}
	}
	s.mu.Unlock()
}

// add attaches a sink with its own queue; remove detaches it after it has
// taken what was queued for it.
func (s *stream) add(name string, sink Sink) (remove func(), err error) {
	q := &queuedSink{name: name, sink: sink, ch: make(chan queuedAU, s.queue), done: make(chan struct{}),
		log: s.log.With("sink", name), resync: true}
	q.metric = prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lanewatch_camera_sink_dropped_total",
		Help:        "Access units a camera's sink lost: it fell a queue behind (then up to the next key frame) or failed.",
		ConstLabels: prometheus.Labels{"camera": s.camera, "sink": name}},
		func() float64 { return float64(q.dropped.Load()) })
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	for _, o := range s.queued {
		if o.name == name {
			return nil, fmt.Errorf("camera %s: a sink named %q is attached already", s.camera, name)
		}
	}
	if err := s.reg.Register(q.metric); err != nil {
		return nil, fmt.Errorf("camera %s: sink %s: metrics: %w", s.camera, name, err)
	}
	s.queued = append(s.queued, q)
	go q.run()
	var once sync.Once
	return func() { once.Do(func() { s.remove(q) }) }, nil
}

func (s *stream) remove(q *queuedSink) {
	s.mu.Lock()
	i := -1
	for j, o := range s.queued {
		if o == q {
			i = j
		}
	}
	if i >= 0 {
		s.queued = append(s.queued[:i:i], s.queued[i+1:]...)
		close(q.ch)
	}
	s.mu.Unlock()
	if i >= 0 {
		// A sink stuck in WriteAU must not hang the camera's Close.
		t := time.NewTimer(sinkCloseWait)
		defer t.Stop()
		select {
		case <-q.done:
		case <-t.C:
			q.log.Warn("camera sink did not finish its queue: left behind", "waited", sinkCloseWait)
		}
		s.reg.Unregister(q.metric)
	}
}

// sinkCloseWait bounds how long detaching a sink waits for it.
const sinkCloseWait = 5 * time.Second

// close detaches every sink once it has taken its queue; the source must
// have stopped writing.
func (s *stream) close() {
	s.mu.Lock()
	s.closed = true
	qs := s.queued
	s.mu.Unlock()
	for _, q := range qs {
		s.remove(q)
	}
}

func (s *stream) stats() []SinkStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SinkStats, len(s.queued))
	for i, q := range s.queued {
		out[i] = SinkStats{Name: q.name, Delivered: q.delivered.Load(), Dropped: q.dropped.Load(), Failed: q.failed.Load()}
	}
	return out
}

// offer copies the unit into the sink's queue, or drops it (never waits).
func (q *queuedSink) offer(au AU, p *Params) {
	if q.failed.Load() || (q.resync && !au.Key) {
		if q.started {
			q.dropped.Add(1)
		}
		return
	}
	bp, _ := q.pool.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	buf := (*bp)[:0]
	u := queuedAU{au: au, p: p, buf: bp}
	u.au.NALUs = make([][]byte, 0, len(au.NALUs))
	for _, n := range au.NALUs {
		off := len(buf)
		buf = append(buf, n...)
		u.au.NALUs = append(u.au.NALUs, buf[off:len(buf):len(buf)])
	}
	*bp = buf
	select {
	case q.ch <- u:
		q.resync, q.started = false, true
	default:
		q.pool.Put(bp)
		q.dropped.Add(1)
		if !q.resync {
			q.log.Warn("camera sink too slow: dropping up to the next key frame", "queue", cap(q.ch))
		}
		q.resync = true
	}
}

func (q *queuedSink) run() {
	defer close(q.done)
	for u := range q.ch {
		if q.failed.Load() {
			q.dropped.Add(1)
		} else {
			q.deliver(u)
		}
		q.pool.Put(u.buf)
	}
}

// deliver hands one unit over; a sink that panics is detached (its units
// are counted as dropped from then on) and the camera goes on.
func (q *queuedSink) deliver(u queuedAU) {
	defer func() {
		if r := recover(); r != nil {
			q.failed.Store(true)
			q.dropped.Add(1)
			q.log.Error("camera sink failed: detached", "panic", fmt.Sprint(r))
		}
	}()
	q.sink.WriteAU(u.au, u.p)
	q.delivered.Add(1)
}

// sinkName names a sink in logs and metrics: its own name when it has one,
// else its type.
func sinkName(s Sink, i int) string {
	if n, ok := s.(interface{ SinkName() string }); ok {
		return n.SinkName()
	}
	name := fmt.Sprintf("%T", s)
	name = strings.TrimPrefix(name[strings.LastIndexByte(name, '.')+1:], "*")
	return fmt.Sprintf("%d-%s", i, strings.ToLower(name))
}
