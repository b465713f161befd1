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
// and JPEG-encoded once, and the same bytes go to every viewer.
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
	last    []byte // newest frame, given at once to a viewer that joins
	stop    chan struct{}
}

// viewer receives frames latest-wins: its channel holds one frame, and a
// frame it has not taken yet is replaced by the newer one.
type viewer struct {
	ch   chan []byte
	gone chan struct{} // closed when the hub closes
}

func newMJPEGHub(src CameraSource, cfg config.MJPEG, m *serverMetrics, log *slog.Logger) *mjpegHub {
	return &mjpegHub{src: src, cfg: cfg, m: m, log: log, casts: map[string]*broadcaster{}}
}

// join adds a viewer of camera id, starting its broadcaster if it is the
// first. leave must be called when the viewer goes; the last one out stops
// the broadcaster. nil when the hub is closed.
func (h *mjpegHub) join(id string) (v *viewer, leave func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, func() {}
	}
	b := h.casts[id]
	if b == nil {
		b = &broadcaster{id: id, viewers: map[*viewer]struct{}{}, stop: make(chan struct{})}
		h.casts[id] = b
		h.wg.Add(1)
		go h.run(b)
	}
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
			if len(b.viewers) == 0 && h.casts[id] == b {
				delete(h.casts, id)
				close(b.stop)
			}
		})
	}
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

func (h *mjpegHub) fanOut(b *broadcaster, jpg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b.last = jpg
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

// snapshot encodes the current annotated frame of id at full size.
func (h *mjpegHub) snapshot(id string) ([]byte, bool) {
	src, scratch := gocv.NewMat(), gocv.NewMat()
	defer src.Close()
	defer scratch.Close()
	if h.src == nil || !h.src.Annotated(id, &src) {
		return nil, false
	}
	b, err := encodeJPEG(src, &scratch, 0, h.cfg.Quality)
	if err != nil {
		h.log.Warn("snapshot encode failed", "camera", id, "err", err)
		return nil, false
	}
	return b, true
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
	v, leave := s.streams.join(id)
	defer leave()
	if v == nil {
		auth.WriteError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+mjpegBoundary)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
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
			_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
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
