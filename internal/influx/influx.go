// Package influx writes lanewatch's metrics and events to InfluxDB (contract
// section 7) without ever blocking the caller.
//
// influxdb-client-go's own non-blocking WriteAPI keeps failed batches in a
// retry buffer that silently discards the oldest batch when full and gives up
// after a retry time, so this package uses the blocking API from a single
// writer goroutine and owns buffering and retries itself: points wait in a
// bounded ring; while InfluxDB is unreachable the writer retries with back-off;
// when the ring is full the OLDEST points are dropped and counted.
package influx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/influxdata/influxdb-client-go/v2/api/write"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/logx"
	"github.com/lanewatch/lanewatch/internal/vehicles"
)

// Defaults for Config's zero values.
const (
	DefaultBufferPoints  = config.DefaultInfluxBufferPoints
	DefaultBatchPoints   = 500
	DefaultFlushInterval = time.Second
	DefaultRetryMin      = time.Second
	DefaultRetryMax      = 30 * time.Second
	DefaultCloseTimeout  = 5 * time.Second
)

// Config configures a Writer.
type Config struct {
	URL    string
	Token  string // InfluxDB 1.8: "user:password" or empty
	Org    string
	Bucket string // InfluxDB 1.8: "database/retention-policy"
	Site   string // the site tag on every point

	BufferPoints  int           // points held while InfluxDB is unreachable; default 100000
	BatchPoints   int           // points per write request; default 500
	FlushInterval time.Duration // a partial batch waits at most this long; default 1s
	RetryMin      time.Duration // first back-off after a failed write; default 1s
	RetryMax      time.Duration // back-off cap; default 30s
	CloseTimeout  time.Duration // Close flushes for at most this long; default 5s

	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// FromConfig maps the configuration file's influx section onto a Config;
// logger and registerer are left for the caller.
func FromConfig(c config.Influx, site string) Config {
	return Config{URL: c.URL, Token: c.Token, Org: c.Org, Bucket: c.Bucket, Site: site, BufferPoints: c.BufferPoints}
}

// Writer queues points and writes them in batches. The zero value is not
// usable; build one with New.
type Writer struct {
	cfg   Config
	log   *slog.Logger
	cli   influxdb2.Client
	wapi  api.WriteAPIBlocking
	kick  chan struct{}
	start sync.Once
	stop  context.CancelFunc
	done  chan struct{}

	mu   sync.Mutex
	ring ring

	dropped  atomic.Int64
	written  atomic.Int64
	rejected atomic.Int64

	mDropped  prometheus.Counter
	mWritten  prometheus.Counter
	mRejected prometheus.Counter
	mErrors   prometheus.Counter
}

// New builds a Writer; nothing is sent before Start.
func New(cfg Config) (*Writer, error) {
	if cfg.URL == "" {
		return nil, errors.New("influx: URL is required")
	}
	if cfg.Bucket == "" {
		return nil, errors.New("influx: bucket is required")
	}
	if cfg.BufferPoints <= 0 {
		cfg.BufferPoints = DefaultBufferPoints
	}
	if cfg.BatchPoints <= 0 {
		cfg.BatchPoints = DefaultBatchPoints
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = DefaultRetryMin
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(DefaultRetryMax, cfg.RetryMin)
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = DefaultCloseTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	reg := cfg.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	opts := influxdb2.DefaultOptions().SetHTTPRequestTimeout(10)
	cli := influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts)
	w := &Writer{
		cfg:  cfg,
		log:  log.With("component", "influx", "url", logx.RedactURL(cfg.URL)),
		cli:  cli,
		wapi: cli.WriteAPIBlocking(cfg.Org, cfg.Bucket),
		kick: make(chan struct{}, 1),
		done: make(chan struct{}),
		ring: newRing(cfg.BufferPoints),
		mDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "lanewatch_influx_dropped_points_total",
			Help: "Points dropped, oldest first, because the buffer was full while InfluxDB was unreachable."}),
		mWritten: prometheus.NewCounter(prometheus.CounterOpts{Name: "lanewatch_influx_written_points_total",
			Help: "Points accepted by InfluxDB."}),
		mRejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "lanewatch_influx_rejected_points_total",
			Help: "Points InfluxDB refused as malformed (HTTP 400/422); not retried."}),
		mErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "lanewatch_influx_write_errors_total",
			Help: "Failed write requests (each is retried)."}),
	}
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lanewatch_influx_queued_points",
		Help: "Points waiting to be written."}, func() float64 { return float64(w.Queued()) })
	for _, c := range []prometheus.Collector{w.mDropped, w.mWritten, w.mRejected, w.mErrors, queued} {
		if err := reg.Register(c); err != nil {
			cli.Close()
			return nil, fmt.Errorf("influx: register metrics: %w", err)
		}
	}
	return w, nil
}

// Start runs the writer goroutine until ctx ends or Close is called. A
// second Start does nothing.
func (w *Writer) Start(ctx context.Context) error {
	w.start.Do(func() {
		ctx, w.stop = context.WithCancel(ctx)
		go w.run(ctx)
	})
	return nil
}

// Close stops the writer, first trying for up to CloseTimeout to write what
// is queued. Points still queued after that are counted as dropped.
func (w *Writer) Close() error {
	started := false
	w.start.Do(func() { close(w.done) }) // never started: nothing to wait for
	if w.stop != nil {
		started = true
		w.stop()
	}
	<-w.done
	w.cli.Close()
	if !started {
		return nil
	}
	w.mu.Lock()
	left := w.ring.len()
	w.mu.Unlock()
	if left > 0 {
		return fmt.Errorf("influx: %d points not written before close", left)
	}
	return nil
}

// Dropped is the number of points dropped because the buffer was full.
func (w *Writer) Dropped() int64 { return w.dropped.Load() }

// Written is the number of points InfluxDB accepted.
func (w *Writer) Written() int64 { return w.written.Load() }

// Queued is the number of points waiting to be written.
func (w *Writer) Queued() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ring.len()
}

// Add queues a point. It never blocks on the network: when the buffer is
// full the oldest queued point is dropped to make room, because recent
// metrics are worth more to the monitor wall than old ones.
func (w *Writer) Add(p *write.Point) {
	w.mu.Lock()
	if w.ring.push(p) {
		w.countDropped(1)
	}
	n := w.ring.len()
	w.mu.Unlock()
	if n >= w.cfg.BatchPoints {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

func (w *Writer) countDropped(n int) {
	w.dropped.Add(int64(n))
	w.mDropped.Add(float64(n))
}

func (w *Writer) point(measurement string, tags map[string]string, fields map[string]any, at time.Time) {
	if w.cfg.Site != "" {
		tags["site"] = w.cfg.Site
	}
	if at.IsZero() {
		at = time.Now() // a zero time would be written as year 1 and vanish from every dashboard
	}
	w.Add(write.NewPoint(measurement, tags, fields, at))
}

// Camera writes a camera status sample.
func (w *Writer) Camera(camera string, fpsIn, fpsDecoded, fpsAnalyzed, decodeMs, detectMs float64, reconnects int, online bool, at time.Time) {
	on := 0
	if online {
		on = 1
	}
	w.point("camera", map[string]string{"camera": camera}, map[string]any{
		"fps_in": fpsIn, "fps_decoded": fpsDecoded, "fps_analyzed": fpsAnalyzed,
		"decode_ms": decodeMs, "detect_ms": detectMs, "reconnects": int64(reconnects), "online": int64(on),
	}, at)
}

// Incident writes one incident change. Its time is the incident's last
// update (its start when it has none).
func (w *Writer) Incident(inc incident.Incident) {
	tags := map[string]string{"type": string(inc.Type), "severity": string(inc.Severity)}
	if inc.Source.Camera != "" {
		tags["camera"] = inc.Source.Camera
	}
	if inc.Source.Gate != "" {
		tags["gate"] = inc.Source.Gate
	}
	at := inc.UpdatedAt
	if at.IsZero() {
		at = inc.StartedAt
	}
	w.point("incident", tags, map[string]any{"count": int64(1), "id": inc.ID}, at)
}

// Passage writes a vehicle passage; dwell_s is present only on an "out"
// passage with a known entry.
func (w *Writer) Passage(p vehicles.Passage) {
	fields := map[string]any{"plate": p.Plate}
	if p.DwellS != nil {
		fields["dwell_s"] = *p.DwellS
	}
	w.point("vehicle_passage", map[string]string{"gate": p.Gate, "direction": string(p.Direction),
		"class": string(p.Class)}, fields, p.At)
}

// GateEvent counts one gate sensor event.
func (w *Writer) GateEvent(gate, typ string, at time.Time) {
	w.point("gate_event", map[string]string{"gate": gate, "type": typ}, map[string]any{"count": int64(1)}, at)
}

func (w *Writer) run(ctx context.Context) {
	defer close(w.done)
	tick := time.NewTicker(w.cfg.FlushInterval)
	defer tick.Stop()
	backoff := time.Duration(0)
	var down downLog
	for {
		if backoff > 0 {
			t := time.NewTimer(jitter(backoff))
			select {
			case <-ctx.Done():
				t.Stop()
				w.drain()
				return
			case <-t.C:
			}
		} else {
			select {
			case <-ctx.Done():
				w.drain()
				return
			case <-w.kick:
			case <-tick.C:
			}
		}
		// Write full batches back to back; stop at the first failure.
		for {
			n, err := w.flushOne(ctx)
			if err != nil {
				w.mErrors.Inc()
				down.failed(w.log, err, w.dropped.Load())
				backoff = min(max(backoff*2, w.cfg.RetryMin), w.cfg.RetryMax)
				break
			}
			if backoff > 0 || down.isDown {
				down.recovered(w.log, w.dropped.Load())
			}
			backoff = 0
			if n < w.cfg.BatchPoints {
				break
			}
		}
	}
}

// flushOne writes the oldest batch. On a retryable failure the batch goes
// back to the front of the ring, where it is again the oldest and thus the
// first to be dropped if the ring overflows meanwhile.
func (w *Writer) flushOne(ctx context.Context) (int, error) {
	w.mu.Lock()
	batch := w.ring.popN(w.cfg.BatchPoints)
	w.mu.Unlock()
	if len(batch) == 0 {
		return 0, nil
	}
	err := w.wapi.WritePoint(ctx, batch...)
	if err == nil {
		w.written.Add(int64(len(batch)))
		w.mWritten.Add(float64(len(batch)))
		return len(batch), nil
	}
	var he *ihttp.Error
	if errors.As(err, &he) && (he.StatusCode == http.StatusBadRequest || he.StatusCode == http.StatusUnprocessableEntity) {
		// Malformed points will never be accepted; retrying would wedge the queue.
		w.rejected.Add(int64(len(batch)))
		w.mRejected.Add(float64(len(batch)))
		w.log.Error("InfluxDB rejected points", "points", len(batch), "err", err)
		return len(batch), nil
	}
	w.mu.Lock()
	if lost := w.ring.pushFront(batch); lost > 0 {
		w.countDropped(lost)
	}
	w.mu.Unlock()
	return 0, &WriteError{Points: len(batch), Err: err}
}

// drain writes what is queued, for at most CloseTimeout.
func (w *Writer) drain() {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.CloseTimeout)
	defer cancel()
	for ctx.Err() == nil {
		n, err := w.flushOne(ctx)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		if n == 0 {
			return
		}
	}
	if left := w.Queued(); left > 0 {
		w.log.Error("InfluxDB unreachable at close; points lost", "points", left)
	}
}

// WriteError is a failed write request; the points stay queued.
type WriteError struct {
	Points int
	Err    error
}

func (e *WriteError) Error() string {
	return fmt.Sprintf("influx: write of %d points failed: %v", e.Points, e.Err)
}

func (e *WriteError) Unwrap() error { return e.Err }

// downLog keeps an outage to one loud log line a minute instead of one per retry.
type downLog struct {
	isDown      bool
	last        time.Time
	lastDropped int64
}

func (d *downLog) failed(log *slog.Logger, err error, dropped int64) {
	if d.isDown && time.Since(d.last) < time.Minute {
		return
	}
	d.isDown, d.last = true, time.Now()
	log.Error("InfluxDB unreachable; buffering points", "err", err,
		"dropped_since_last_report", dropped-d.lastDropped, "dropped_total", dropped)
	d.lastDropped = dropped
}

func (d *downLog) recovered(log *slog.Logger, dropped int64) {
	if !d.isDown {
		return
	}
	d.isDown = false
	log.Warn("InfluxDB reachable again", "dropped_total", dropped)
	d.lastDropped = dropped
}

// jitter spreads retries by ±20% so that many gateways do not retry in step.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

// ring is a fixed-capacity FIFO of points.
type ring struct {
	buf        []*write.Point
	head, size int
}

func newRing(n int) ring { return ring{buf: make([]*write.Point, n)} }

func (r *ring) len() int { return r.size }

// push appends p, overwriting the oldest point when full; reports whether one was dropped.
func (r *ring) push(p *write.Point) bool {
	if r.size == len(r.buf) {
		r.buf[r.head] = p
		r.head = (r.head + 1) % len(r.buf)
		return true
	}
	r.buf[(r.head+r.size)%len(r.buf)] = p
	r.size++
	return false
}

// popN removes and returns up to n of the oldest points.
func (r *ring) popN(n int) []*write.Point {
	n = min(n, r.size)
	out := make([]*write.Point, n)
	for i := range out {
		out[i] = r.buf[r.head]
		r.buf[r.head] = nil
		r.head = (r.head + 1) % len(r.buf)
	}
	r.size -= n
	return out
}

// pushFront puts ps (older than everything queued) back at the front. When
// they do not all fit, the oldest of ps are dropped; it returns how many.
func (r *ring) pushFront(ps []*write.Point) int {
	free := len(r.buf) - r.size
	lost := max(0, len(ps)-free)
	ps = ps[lost:]
	for i := len(ps) - 1; i >= 0; i-- {
		r.head = (r.head - 1 + len(r.buf)) % len(r.buf)
		r.buf[r.head] = ps[i]
		r.size++
	}
	return lost
}
