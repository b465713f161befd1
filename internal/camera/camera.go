// Package camera is the gateway's per-camera RTSP client: it connects with
// gortsplib, depacketizes H.264/H.265, decodes into a reused Mat handed to the
// analysis loop through frames.Latest, keeps a pre-roll ring of encoded access
// units for incident clips, serves snapshots on demand, and reports a status
// (online/degraded/offline with a reason). A camera that misbehaves only ever
// affects itself: every failure ends in a reconnect with back-off.
package camera

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/decode"
	"github.com/lanewatch/lanewatch/internal/frames"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/logx"
)

// Defaults for the zero values of Camera's fields.
const (
	DefaultDetectWidth   = config.DefaultDetectWidth
	DefaultIdleKeyframes = config.DefaultKeyframesWhenIdle
	DefaultWakeSigmas    = 4.0
	DefaultWakeHold      = 3 * time.Second
	DefaultReadTimeout   = 10 * time.Second
	DefaultReadBatch     = config.DefaultReadBatch
	DefaultPreRoll       = 10 * time.Second
	DefaultPreRollBytes  = 64 << 20
	DefaultBackoffMin    = time.Second
	DefaultBackoffMax    = 30 * time.Second
	DefaultStableAfter   = 30 * time.Second
	DefaultProbeEvery    = time.Second
	DefaultStatusWindow  = 5 * time.Second
)

// Camera is one RTSP camera. Set the fields, then Start; Close stops it.
// Fields must not change after Start.
type Camera struct {
	ID, Name string
	URL      string // rtsp://user:pass@host/path; never logged unredacted
	// Transport is "tcp" (default: survives NAT and lossy Wi-Fi bridges) or "udp".
	Transport string
	// DetectWidth is the width of the Mats handed to analysis (aspect kept).
	DetectWidth int
	// NominalFPS is the camera's frame rate; below half of it the camera is
	// degraded. 0: not checked.
	NominalFPS float64
	// IdleKeyframes: without motion for this long, decode key frames only.
	// 0: DefaultIdleKeyframes; negative: always decode every frame.
	IdleKeyframes time.Duration
	// WakeSigmas: while idle, a P-frame more than this many spreads above
	// the level of the recent P-frames (median and median absolute
	// deviation of their sizes) ends idle mode at once, and the units since
	// the last key frame are decoded so that this one decodes: something
	// moved between two key frames (see sizeWatch). 0: DefaultWakeSigmas;
	// negative: never (idle mode sees key frames only, the old behaviour).
	WakeSigmas float64
	// WakeHold: a wake decodes every frame for this long; motion seen by
	// the analysis loop meanwhile (SetMotion) keeps it awake as usual.
	// 0: DefaultWakeHold.
	WakeHold time.Duration
	// ReadBatch: over TCP, read the stream in batches on a grid of this
	// period instead of packet by packet (see batchConn): less CPU for up to
	// this much latency. 0: DefaultReadBatch; negative: off. Not for UDP.
	ReadBatch time.Duration
	// ReadTimeout: no RTP packet for this long is a stall (offline, reconnect).
	ReadTimeout time.Duration
	// PreRoll and PreRollBytes bound the ring of encoded access units.
	PreRoll      time.Duration
	PreRollBytes int
	// Reconnect back-off grows from BackoffMin to BackoffMax with jitter and
	// resets once a connection has delivered frames for StableAfter.
	BackoffMin, BackoffMax, StableAfter time.Duration
	// ProbeEvery: while waiting to reconnect, try a TCP connection to the
	// camera this often. When it answers after it did not (or after the
	// last attempt could not connect), the camera is back from an outage:
	// the wait ends at once and the back-off starts over, so that a camera
	// is online within seconds of its return however long it was away. A
	// camera that answers TCP but fails RTSP (wrong password, no stream,
	// no video) keeps its back-off. 0: DefaultProbeEvery; negative: off.
	ProbeEvery time.Duration
	// StatusWindow is the sliding window for frame rates and degradation.
	StatusWindow time.Duration

	Out *frames.Latest // decoded frames go here; required unless NoDecode
	// NoDecode reads the stream without decoding it, for a main stream whose
	// analysis runs on a sub-stream: the ring, the sinks and snapshots
	// (decoded on demand) only. The picture size comes from the SPS.
	NoDecode bool
	// Sinks receive every access unit of the stream besides the ring and the
	// decoder (the recorder), each on its own goroutine behind a queue of
	// SinkQueue units; see Sink and AddSink.
	Sinks      []Sink
	SinkQueue  int // 0: DefaultSinkQueue
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// OnStatus is called (from the camera's monitor goroutine) on every
	// change of state or reason; it must not block for long.
	OnStatus func(Status)

	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ring   *ring
	out    *stream     // the source writes here; the readers take from it
	dec    *decodeSink // nil with NoDecode
	// pic is the picture the decoder decodes into; Out hands back another
	// one for the next frame (no pixels are copied).
	pic    *decode.Picture
	seq    uint64
	unreg  []prometheus.Collector
	reg    prometheus.Registerer
	closed atomic.Bool

	// Counters shared with the monitor; atomics keep the packet path lock-free.
	packetsIn, framesIn, framesDecoded, framesSkipped, framesDropped atomic.Uint64
	decodeErrors, packetsLost, analyzed, reconnects, wakes           atomic.Uint64
	lastPacket, lastFrame, connectedAt, lastMotion, wakeUntil        atomic.Int64
	connected, gotPacket, motion                                     atomic.Bool
	backoff                                                          atomic.Int64
	srcW, srcH                                                       atomic.Int32
	decodeNanos                                                      atomic.Uint64 // libav time in DecodePicture, for Status.DecodeMS

	mu     sync.Mutex // guards the fields below
	errMsg string     // why the last session ended (redacted)
	status Status

	snapMu   sync.Mutex
	snapSeq  uint64
	snapJPEG []byte
}

// FromConfig builds a camera from its configuration entry. A camera with a
// falling_object zone never idles: a fall lasts 1–2 s, and the size wake
// that ends idle mode depends on the encoder (a constant-bit-rate camera
// spends its spare bits on sensor noise, and a small object does not show
// in its P-frame sizes).
func FromConfig(c config.Camera, out *frames.Latest) *Camera {
	idle := c.Detect.KeyframesWhenIdle
	for _, z := range c.Zones {
		if z.Rule == string(incident.FallingObject) {
			idle = -1
		}
	}
	return &Camera{
		ID: c.ID, Name: c.Name, URL: c.URL, Transport: c.Transport, ReadBatch: c.ReadBatch,
		DetectWidth: c.Detect.Width, IdleKeyframes: idle, Out: out,
	}
}

// ErrClosed is returned by calls on a closed camera.
var ErrClosed = errors.New("camera closed")

func (c *Camera) defaults() error {
	if c.Out == nil && !c.NoDecode {
		return fmt.Errorf("camera %s: Out is nil", c.ID)
	}
	if c.Transport == "" {
		c.Transport = "tcp"
	}
	if c.Transport != "tcp" && c.Transport != "udp" {
		return fmt.Errorf("camera %s: transport %q: want tcp or udp", c.ID, c.Transport)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.IdleKeyframes == 0 {
		c.IdleKeyframes = DefaultIdleKeyframes
	}
	if c.WakeSigmas == 0 {
		c.WakeSigmas = DefaultWakeSigmas
	}
	if c.ReadBatch == 0 {
		c.ReadBatch = DefaultReadBatch
	}
	if c.DetectWidth <= 0 {
		c.DetectWidth = DefaultDetectWidth
	}
	def(&c.WakeHold, DefaultWakeHold)
	def(&c.ReadTimeout, DefaultReadTimeout)
	def(&c.PreRoll, DefaultPreRoll)
	def(&c.BackoffMin, DefaultBackoffMin)
	def(&c.BackoffMax, DefaultBackoffMax)
	def(&c.StableAfter, DefaultStableAfter)
	def(&c.StatusWindow, DefaultStatusWindow)
	if c.ProbeEvery == 0 {
		c.ProbeEvery = DefaultProbeEvery
	}
	if c.PreRollBytes <= 0 {
		c.PreRollBytes = DefaultPreRollBytes
	}
	if c.SinkQueue <= 0 {
		c.SinkQueue = DefaultSinkQueue
	}
	if c.Name == "" {
		c.Name = c.ID
	}
	return nil
}

// Start connects in the background and returns at once; the camera keeps
// reconnecting until ctx ends or Close is called.
func (c *Camera) Start(ctx context.Context) error {
	if err := c.defaults(); err != nil {
		return err
	}
	logger := c.Logger
	if logger == nil {
		logger = slog.Default()
	}
	c.log = logger.With("camera", c.ID, "url", logx.RedactURL(c.URL))
	if err := c.registerMetrics(); err != nil {
		return err
	}
	c.ring = newRing(c.PreRoll, c.PreRollBytes)
	c.pic = decode.NewPicture()
	c.out = &stream{params: c.sinkParams, queue: c.SinkQueue, camera: c.ID, log: c.log, reg: c.reg}
	rs := &ringSink{r: c.ring}
	c.out.inline = append(c.out.inline, rs)
	if !c.NoDecode {
		c.dec = &decodeSink{c: c, ring: rs}
		c.out.inline = append(c.out.inline, c.dec)
	}
	for i, s := range c.Sinks {
		if _, err := c.out.add(sinkName(s, i), s); err != nil {
			c.out.close()
			c.unregister()
			return err
		}
	}
	now := time.Now()
	c.lastMotion.Store(now.UnixNano())
	c.status = Status{ID: c.ID, Name: c.Name, State: StateOffline, Reason: "connecting", Since: now}
	ctx, c.cancel = context.WithCancel(ctx)
	c.wg.Add(2)
	go c.run(ctx)
	go c.monitor(ctx)
	return nil
}

// Close stops the camera, waits for its goroutines and frees its memory.
// The last status reported is offline "stopped".
func (c *Camera) Close() error {
	if c.closed.Swap(true) || c.cancel == nil {
		return nil
	}
	c.cancel()
	c.wg.Wait()
	c.out.close()
	c.ring.close()
	c.pic.Close()
	c.unregister()
	c.setStatus(StateOffline, "stopped", time.Now())
	return nil
}

func (c *Camera) unregister() {
	for _, col := range c.unreg {
		c.reg.Unregister(col)
	}
}

// AddSink attaches a sink to the running camera: from the next key frame
// on it gets every access unit, on its own goroutine behind a queue of
// SinkQueue units, and touches no other reader; a sink that falls behind
// loses units (counted, up to the next key frame), one that panics is
// detached. name labels its metrics and must be unique for the camera.
// remove detaches it once it has taken its queue.
func (c *Camera) AddSink(name string, s Sink) (remove func(), err error) {
	if c.out == nil {
		return nil, fmt.Errorf("camera %s: AddSink before Start", c.ID)
	}
	return c.out.add(name, s)
}

// RingUsage is what the pre-roll ring holds and what its slab takes in
// memory (pages written at least once; the slab is outside the Go heap).
func (c *Camera) RingUsage() (held, resident int) {
	if c.ring == nil {
		return 0, 0
	}
	return c.ring.usage()
}

// SinkStats reports what each sink (Sinks and AddSink) took and lost.
func (c *Camera) SinkStats() []SinkStats {
	if c.out == nil {
		return nil
	}
	return c.out.stats()
}

// sinkParams is what a sink starting at a key frame needs.
func (c *Camera) sinkParams() Params {
	p := c.ring.currentParams()
	p.Width, p.Height = int(c.srcW.Load()), int(c.srcH.Load())
	return p
}

// SetMotion tells the camera whether the analysis loop sees motion; after
// IdleKeyframes without it, only key frames are decoded.
func (c *Camera) SetMotion(active bool) {
	c.motion.Store(active)
	if active {
		c.lastMotion.Store(time.Now().UnixNano())
	}
}

// MarkAnalyzed counts one frame analysed (for FPSAnalyzed).
func (c *Camera) MarkAnalyzed() { c.analyzed.Add(1) }

// Clip returns copies of the access units from the key frame at or before
// from up to to, with what a muxer needs to write them without re-encoding.
func (c *Camera) Clip(from, to time.Time) ([]AU, Params) {
	aus, p := c.ring.clip(from, to)
	p.Width, p.Height = int(c.srcW.Load()), int(c.srcH.Load())
	return aus, p
}

// WaitUntil blocks until the camera has received video up to t (post-roll),
// ctx ends, or the camera closes.
func (c *Camera) WaitUntil(ctx context.Context, t time.Time) error {
	return c.ring.waitUntil(ctx, t)
}

func (c *Camera) idleMode(now time.Time) bool {
	if c.IdleKeyframes < 0 || c.motion.Load() || now.UnixNano() < c.wakeUntil.Load() {
		return false
	}
	return now.Sub(time.Unix(0, c.lastMotion.Load())) >= c.IdleKeyframes
}

// run is the reconnect loop.
func (c *Camera) run(ctx context.Context) {
	defer c.wg.Done()
	attempt := 0
	lastMsg := ""
	for {
		start := time.Now()
		decodedBefore := c.framesDecoded.Load()
		err := c.session(ctx)
		c.connected.Store(false)
		if ctx.Err() != nil {
			return
		}
		msg := logx.RedactText(err.Error())
		c.mu.Lock()
		c.errMsg = msg
		c.mu.Unlock()
		// A connection that delivered frames for a while was healthy: the
		// next failure is news, not a continuation, so retry quickly.
		if time.Since(start) >= c.StableAfter && c.framesDecoded.Load() > decodedBefore {
			attempt, lastMsg = 0, ""
		}
		delay := backoffDelay(c.BackoffMin, c.BackoffMax, attempt)
		attempt++
		c.backoff.Store(int64(delay))
		// A camera that stays down repeats the same error every retry: say
		// it once at warning level, then keep the repeats at debug.
		level := slog.LevelWarn
		if msg == lastMsg {
			level = slog.LevelDebug
		}
		lastMsg = msg
		c.log.Log(ctx, level, "camera disconnected", "err", msg, "retry_in", delay.Round(time.Millisecond))
		// A session that could not even connect saw the host down: the
		// first probe that gets through means it is back.
		down := isDialError(err)
		back, ok := c.waitRetry(ctx, delay, down)
		if !ok {
			return
		}
		if back {
			c.log.Info("camera reachable again: reconnecting now")
			attempt, lastMsg = 0, ""
		}
		c.reconnects.Add(1)
	}
}

// waitRetry waits delay before the next attempt, probing the camera's TCP
// port every ProbeEvery meanwhile; back is true when a probe got through
// after the host was seen unreachable (down, or a failed probe), which ends
// the wait early. ok is false when ctx ended.
func (c *Camera) waitRetry(ctx context.Context, delay time.Duration, down bool) (back, ok bool) {
	deadline := time.Now().Add(delay)
	t := time.NewTimer(delay)
	defer t.Stop()
	addr := c.probeAddr()
	for {
		wait := time.Until(deadline)
		if c.ProbeEvery > 0 && addr != "" {
			wait = min(wait, c.ProbeEvery)
		}
		if wait <= 0 {
			return false, true
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return false, false
		case <-t.C:
		}
		if !time.Now().Before(deadline) {
			return false, true
		}
		if reached := probe(ctx, addr, c.ProbeEvery); !reached {
			down = true
		} else if down {
			return true, true
		}
	}
}

// probeAddr is the host:port the RTSP session dials ("" if the URL does
// not parse: the session reports that).
func (c *Camera) probeAddr() string {
	u, err := base.ParseURL(c.URL)
	if err != nil || u.Host == "" {
		return ""
	}
	if _, _, err := net.SplitHostPort(u.Host); err == nil {
		return u.Host
	}
	port := "554"
	if u.Scheme == "rtsps" {
		port = "322"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// probe reports whether a TCP connection to addr opens within timeout. It
// sends nothing: the cheapest question a camera can answer.
func probe(ctx context.Context, addr string, timeout time.Duration) bool {
	nc, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	nc.Close()
	return true
}

// isDialError: the session failed to open a connection at all (refused,
// unreachable, timed out dialling), as opposed to a camera that answered.
func isDialError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// backoffDelay is min·2^attempt capped at max, with jitter in [d/2, d] so
// that cameras behind one failed switch do not reconnect in lockstep.
func backoffDelay(lo, hi time.Duration, attempt int) time.Duration {
	d := lo
	for i := 0; i < attempt && d < hi; i++ {
		d *= 2
	}
	if d > hi {
		d = hi
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}
