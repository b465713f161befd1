package recording

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lanewatch/lanewatch/internal/avfile"
	"github.com/lanewatch/lanewatch/internal/camera"
	"github.com/lanewatch/lanewatch/internal/logx"
)

// Defaults of a Recorder.
const (
	DefaultSegment = 60 * time.Second
	DefaultQueue   = 1024 // access units between the camera and the writer: 40 s at 25 fps
)

// Recorder writes one camera's access units to segments. It is a
// camera.Sink: WriteAU copies the unit and hands it to a writer goroutine,
// so the camera's reader never waits for the disk. A unit that finds the
// queue full is dropped and counted, and the segment is cut there: the next
// one starts at the next key frame, so every file decodes.
type Recorder struct {
	Camera  string
	Root    string        // the camera's segments go to Root/<Camera>
	Segment time.Duration // target length; default DefaultSegment
	Queue   int           // default DefaultQueue
	Metrics *Metrics      // nil: counted nowhere
	Logger  *slog.Logger
	// OnSegment is called with each finished segment, on the writer goroutine.
	OnSegment func(Segment)

	log    *slog.Logger
	dir    string
	ch     chan unit
	done   chan struct{}
	closed atomic.Bool
	mu     sync.Mutex // WriteAU against Close
	gap    bool       // producer side: a unit was dropped since the last one queued
	pool   sync.Pool

	// writer goroutine state
	w        *avfile.Writer
	cur      Segment
	path     string
	params   camera.Params
	tl       camera.Timeline
	lastAt   time.Time
	lastStep time.Duration
	errLog   time.Time
}

type unit struct {
	buf    *[]byte
	nalus  [][]byte
	pts    time.Duration
	at     time.Time
	key    bool
	gap    bool
	params *camera.Params
}

// Start creates the camera's folder, finishes segments a crash left open,
// and starts the writer. ctx ending stops it like Close.
func (r *Recorder) Start(ctx context.Context) error {
	r.log = r.Logger
	if r.log == nil {
		r.log = slog.Default()
	}
	r.log = r.log.With("camera", r.Camera)
	if r.Camera == "" || r.Camera[0] == '.' || strings.ContainsAny(r.Camera, `/\`) {
		return fmt.Errorf("recording: bad camera id %q", r.Camera)
	}
	if r.Segment <= 0 {
		r.Segment = DefaultSegment
	}
	if r.Queue <= 0 {
		r.Queue = DefaultQueue
	}
	r.dir = filepath.Join(r.Root, r.Camera)
	if err := os.MkdirAll(r.dir, 0o750); err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	r.recoverLive()
	r.ch = make(chan unit, r.Queue)
	r.done = make(chan struct{})
	go r.run()
	go func() {
		select {
		case <-ctx.Done():
			r.Close()
		case <-r.done:
		}
	}()
	return nil
}

// recoverLive renames segments left open by a crash to finished ones, ending
// at their last write: fragmented, they play up to their last fragment.
func (r *Recorder) recoverLive() {
	segs, err := Store{Root: r.Root}.Segments(r.Camera, time.Time{}, time.Time{})
	if err != nil {
		r.log.Warn("recording: cannot list segments", "err", err)
		return
	}
	for _, s := range segs {
		if !s.Live {
			continue
		}
		from := filepath.Join(r.dir, s.ID+ext)
		if s.Bytes == 0 {
			os.Remove(from)
			continue
		}
		if err := os.Rename(from, filepath.Join(r.dir, finishedName(s.Start, s.End))); err != nil {
			r.log.Warn("recording: cannot finish a segment left open", "file", from, "err", err)
			continue
		}
		r.Metrics.recovered()
		r.log.Info("recording: finished a segment left open by a stop", "start", s.Start)
	}
}

// SinkName names the recorder in the camera's sink metrics.
func (r *Recorder) SinkName() string { return "recorder" }

// WriteAU implements camera.Sink.
func (r *Recorder) WriteAU(au camera.AU, p *camera.Params) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() || r.ch == nil {
		return
	}
	size := 0
	for _, n := range au.NALUs {
		size += len(n)
	}
	bp, _ := r.pool.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 0, size+size/4)
		bp = &b
	}
	buf := (*bp)[:0]
	u := unit{pts: au.PTS, at: au.At, key: au.Key, gap: r.gap}
	u.nalus = make([][]byte, 0, len(au.NALUs))
	for _, n := range au.NALUs {
		off := len(buf)
		buf = append(buf, n...)
		u.nalus = append(u.nalus, buf[off:len(buf):len(buf)])
	}
	*bp = buf
	u.buf = bp
	if p != nil {
		cp := *p // parameter sets are replaced, never changed in place, by the camera
		u.params = &cp
	}
	select {
	case r.ch <- u:
		r.gap = false
	default:
		r.gap = true
		r.pool.Put(bp)
		r.Metrics.dropped(r.Camera)
	}
}

// Close finishes the segment being written and stops. Safe to call twice.
func (r *Recorder) Close() error {
	r.mu.Lock()
	if r.closed.Swap(true) || r.ch == nil {
		r.mu.Unlock()
		return nil
	}
	close(r.ch)
	r.mu.Unlock()
	<-r.done
	return nil
}

func (r *Recorder) run() {
	defer close(r.done)
	// The muxer holds one unit back (its duration comes from the next), so
	// a unit's buffer is recycled only once the following one is written.
	var held *[]byte
	for u := range r.ch {
		r.take(u)
		if held != nil {
			r.pool.Put(held)
		}
		held = u.buf
	}
	r.finish()
}

func (r *Recorder) take(u unit) {
	if u.gap && r.w != nil {
		r.finish() // the units in between are gone: the next file starts at a key frame
	}
	if r.w != nil && u.key && u.params != nil &&
		(u.at.Sub(r.cur.Start) >= r.Segment || !sameStream(r.params, *u.params)) {
		r.finish()
	}
	if r.w == nil {
		if !u.key || u.params == nil || u.params.Width <= 0 || u.params.Height <= 0 {
			return // wait for a key frame a muxer can start at
		}
		if err := r.open(u); err != nil {
			r.fail("open", err)
			return
		}
	}
	if r.lastAt.IsZero() || u.at.After(r.lastAt) {
		r.lastStep = u.at.Sub(r.lastAt)
	}
	dts := r.tl.Next(u.pts, u.at)
	err := r.w.WriteAU(avfile.AU{NALUs: u.nalus, PTS: dts, DTS: dts, KeyFrame: u.key})
	if err != nil {
		r.fail("write", err)
		r.finish()
		return
	}
	r.lastAt = u.at
	r.Metrics.wrote(r.Camera, u.nalus)
}

func (r *Recorder) open(u unit) error {
	p := u.params
	var ps [][]byte
	for _, b := range [][]byte{p.VPS, p.SPS, p.PPS} {
		if len(b) > 0 {
			ps = append(ps, b)
		}
	}
	path := filepath.Join(r.dir, liveName(u.at))
	w, err := avfile.CreateFragmentedMP4(path, p.Codec, ps, p.Width, p.Height)
	if err != nil {
		os.Remove(path)
		return err
	}
	r.w, r.path, r.params = w, path, *p
	r.cur = Segment{Camera: r.Camera, Start: u.at}
	r.tl = camera.Timeline{}
	r.lastAt, r.lastStep = time.Time{}, 0
	return nil
}

// finish closes the segment being written and gives it its final name.
func (r *Recorder) finish() {
	if r.w == nil {
		return
	}
	err := r.w.Close()
	r.w = nil
	if err != nil {
		r.fail("close", err)
	}
	end := r.lastAt.Add(max(r.lastStep, 0))
	if !end.After(r.cur.Start) {
		end = r.cur.Start.Add(time.Millisecond)
	}
	final := filepath.Join(r.dir, finishedName(r.cur.Start, end))
	if err := os.Rename(r.path, final); err != nil {
		r.fail("rename", err)
		return
	}
	r.cur.End = end
	r.cur.ID = finishedName(r.cur.Start, end)
	r.cur.ID = r.cur.ID[:len(r.cur.ID)-len(ext)]
	if fi, err := os.Stat(final); err == nil {
		r.cur.Bytes = fi.Size()
	}
	r.Metrics.segment(r.Camera)
	if r.OnSegment != nil {
		r.OnSegment(r.cur)
	}
}

// fail counts a write error and logs it at most every 10 s: a full disk
// fails every unit, and the camera's next key frame retries by itself.
func (r *Recorder) fail(op string, err error) {
	r.Metrics.failed(r.Camera, op)
	if now := time.Now(); now.Sub(r.errLog) >= 10*time.Second {
		r.errLog = now
		r.log.Error("recording: cannot write", "op", op, "err", logx.RedactText(err.Error()),
			"full_disk", isNoSpace(err))
	}
}

// isNoSpace: libav reports errno as text, so both forms are checked.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || strings.Contains(err.Error(), "No space left")
}

func sameStream(a, b camera.Params) bool {
	return a.Codec == b.Codec && a.Width == b.Width && a.Height == b.Height &&
		string(a.SPS) == string(b.SPS) && string(a.PPS) == string(b.PPS) && string(a.VPS) == string(b.VPS)
}
