package console

import (
	"fmt"
	"image"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/config"
	"gocv.io/x/gocv"
)

func mjpegDefaults(c config.MJPEG) config.MJPEG {
	if c.FPS <= 0 {
		c.FPS = 5
	}
	if c.Width <= 0 {
		c.Width = 640
	}
	if c.Quality <= 0 || c.Quality > 100 {
		c.Quality = 75
	}
	return c
}

// mjpegHub runs one broadcaster per watched camera: each frame is resized
// and JPEG-encoded once, and the same bytes go to every viewer, whether it
// streams (MJPEG) or polls (annotated snapshots, used by wall layouts with
// more tiles than the browser has connections for).
type mjpegHub struct {
	src CameraSource
	cfg config.MJPEG
	m   *serverMetrics
	log *slog.Logger

	mu     sync.Mutex
	casts  map[string]*broadcaster
	closed bool
	wg     sync.WaitGroup
}

type broadcaster struct {
	id      string
	viewers map[*viewer]struct{}
	last    []byte    // newest frame, given at once to a viewer that joins
	lastAt  time.Time // when last was encoded
	fresh   chan struct{}
	// linger keeps the broadcaster running without streaming viewers, for
	// pollers; it stops at the first tick after linger with no viewers.
	linger time.Time
	stop   chan struct{}
}

// viewer receives frames latest-wins: its channel holds one frame, and a
// frame it has not taken yet is replaced by the newer one.
type viewer struct {
	ch   chan []byte
	gone chan struct{} // closed when the hub closes
}

// pollLinger is how long a poll keeps a broadcaster alive.
const pollLinger = 3 * time.Second

func newMJPEGHub(src CameraSource, cfg config.MJPEG, m *serverMetrics, log *slog.Logger) *mjpegHub {
	return &mjpegHub{src: src, cfg: cfg, m: m, log: log, casts: map[string]*broadcaster{}}
}

// castLocked returns the running broadcaster of id, starting one if needed.
// Called with h.mu held and the hub open.
func (h *mjpegHub) castLocked(id string) *broadcaster {
	b := h.casts[id]
	if b == nil {
		b = &broadcaster{id: id, viewers: map[*viewer]struct{}{}, stop: make(chan struct{}), fresh: make(chan struct{})}
		h.casts[id] = b
		h.wg.Add(1)
		go h.run(b)
	}
	return b
}

// join adds a viewer of camera id, starting its broadcaster if it is the
// first. leave must be called when the viewer goes; once the last one has
// left the broadcaster stops. v is nil when the hub is closed.
func (h *mjpegHub) join(id string) (v *viewer, leave func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, func() {}
	}
	b := h.castLocked(id)
	v = &viewer{ch: make(chan []byte, 1), gone: make(chan struct{})}
	b.viewers[v] = struct{}{}
	if b.last != nil {
		v.ch <- b.last
	}
	h.m.viewers.Inc()
	var once sync.Once
	return v, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.m.viewers.Dec()
			delete(b.viewers, v)
		})
	}
}

// poll returns the camera's current wall frame, encoded once for everyone.
// It waits up to wait for a frame when there is none fresh (the broadcaster
// just started, or the camera is offline); false if none came.
func (h *mjpegHub) poll(id string, wait time.Duration) ([]byte, bool) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, false
	}
	b := h.castLocked(id)
	b.linger = time.Now().Add(pollLinger)
	if b.last != nil && time.Since(b.lastAt) < h.staleAfter() {
		jpg := b.last
		h.mu.Unlock()
		return jpg, true
	}
	fresh := b.fresh
	h.mu.Unlock()
	select {
	case <-fresh:
	case <-time.After(wait):
		return nil, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return b.last, b.last != nil
}

// staleAfter is the age from which a frame no longer counts as the latest:
// a few frame intervals, at least a second.
func (h *mjpegHub) staleAfter() time.Duration {
	d := time.Duration(3 * float64(time.Second) / h.cfg.FPS)
	if d < time.Second {
		d = time.Second
	}
	return d
}

func (h *mjpegHub) run(b *broadcaster) {
	defer h.wg.Done()
	src, scaled := gocv.NewMat(), gocv.NewMat()
	defer src.Close()
	defer scaled.Close()
	t := time.NewTicker(time.Duration(float64(time.Second) / h.cfg.FPS))
	defer t.Stop()
	encoded := h.m.encoded.WithLabelValues(b.id)
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		if h.idle(b) {
			return
		}
		if !h.src.Annotated(b.id, &src) {
			// No new frame (camera offline): viewers keep the last one they got.
			continue
		}
		jpg, err := encodeJPEG(src, &scaled, h.cfg.Width, h.cfg.Quality)
		if err != nil {
			h.log.Warn("mjpeg encode failed", "camera", b.id, "err", err)
			continue
		}
		encoded.Inc()
		h.fanOut(b, jpg)
	}
}

// idle removes b from the hub when nobody watches or polls it any more.
func (h *mjpegHub) idle(b *broadcaster) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(b.viewers) > 0 || time.Now().Before(b.linger) {
		return false
	}
	if h.casts[b.id] == b {
		delete(h.casts, b.id)
	}
	return true
}

func (h *mjpegHub) fanOut(b *broadcaster, jpg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b.last, b.lastAt = jpg, time.Now()
	close(b.fresh)
	b.fresh = make(chan struct{})
	for v := range b.viewers {
		select {
		case v.ch <- jpg:
		default:
			// The viewer has not taken the previous frame: replace it. Never
			// block, so one slow connection cannot stall the others.
			select {
			case <-v.ch:
				h.m.skipped.Inc()
			default:
			}
			select {
			case v.ch <- jpg:
			default:
			}
		}
	}
}

func (h *mjpegHub) close() {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		for id, b := range h.casts {
			close(b.stop)
			for v := range b.viewers {
				close(v.gone)
			}
			delete(h.casts, id)
		}
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// encodeJPEG scales src down to width (0: keep) into scaled and encodes it.
// The Mat is checked first: gocv aborts the process on an empty or odd Mat.
func encodeJPEG(src gocv.Mat, scaled *gocv.Mat, width, quality int) ([]byte, error) {
	if src.Empty() || src.Cols() < 2 || src.Rows() < 2 {
		return nil, fmt.Errorf("empty frame")
	}
	switch src.Type() {
	case gocv.MatTypeCV8UC3, gocv.MatTypeCV8UC1, gocv.MatTypeCV8UC4:
	default:
		return nil, fmt.Errorf("unsupported frame type %v", src.Type())
	}
	img := src
	if width > 0 && src.Cols() > width {
		h := src.Rows() * width / src.Cols()
		if h < 1 {
			h = 1
		}
		gocv.Resize(src, scaled, image.Pt(width, h), 0, 0, gocv.InterpolationArea)
		img = *scaled
	}
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, img, []int{gocv.IMWriteJpegQuality, quality})
	if err != nil {
		return nil, err
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...), nil
}

const mjpegBoundary = "lanewatchframe"

func (s *Server) mjpeg(w http.ResponseWriter, r *http.Request) {
	id, ok := s.cameraID(w, r)
	if !ok {
		return
	}
	release, ok := s.live.acquire(w, r)
	if !ok {
		return
	}
	defer release()
	v, leave := s.streams.join(id)
	defer leave()
	if v == nil {
		auth.WriteError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+mjpegBoundary)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	beforeWrite := streamDeadlines(w, s.Limits.StreamStall)
	rc := http.NewResponseController(w)
	beforeWrite()
	_ = rc.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-v.gone:
			return
		case jpg := <-v.ch:
			// A viewer whose network stalls is dropped instead of holding a
			// goroutine and a frame forever.
			beforeWrite()
			head := "--" + mjpegBoundary + "\r\nContent-Type: image/jpeg\r\nContent-Length: " +
				strconv.Itoa(len(jpg)) + "\r\n\r\n"
			if _, err := w.Write([]byte(head)); err != nil {
				return
			}
			if _, err := w.Write(jpg); err != nil {
				return
			}
			if _, err := w.Write([]byte("\r\n")); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}
