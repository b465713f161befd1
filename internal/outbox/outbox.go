// Package outbox is the durable ticket outbox of contract section 4: every
// incident change becomes a ticket on disk (bbolt, fsynced on commit) that is
// POSTed to the community platform, signed the Standard Webhooks way, retried
// for ever with back-off on transient failures, in order per incident, and
// dead-lettered on a permanent rejection until an admin re-sends it.
//
// Only a small per-incident schedule lives in memory; ticket bodies stay on
// disk until the moment they are sent, so a long platform outage costs disk,
// not RAM.
package outbox

import (
	"container/heap"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/lanewatch/lanewatch/internal/logx"
	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/lanewatch/lanewatch/internal/storecheck"
)

// Typed errors callers branch on (errors.Is).
var (
	// ErrFull: the outbox reached its size cap; the ticket was not accepted.
	ErrFull   = errors.New("outbox full")
	ErrClosed = errors.New("outbox closed")
	// ErrNotStored: outbox.db refused the ticket (disk full, I/O error);
	// nothing of it was kept. Follow retries these.
	ErrNotStored = errors.New("ticket not stored")
	ErrNotFound  = errors.New("no such dead-lettered ticket")
)

// MaxSnapshot is the largest snapshot carried inside a ticket (before base64).
const MaxSnapshot = 256 << 10

const (
	defaultMaxBytes = 1 << 30
	defaultWorkers  = 8
	defaultTimeout  = 10 * time.Second
	maxResponse     = 4 << 10
	// maxRetryAfter bounds what a platform may ask us to wait, so a bogus
	// header cannot park a ticket for days.
	maxRetryAfter = time.Hour
)

var (
	bucketQueue  = []byte("queue")  // key -> meta of tickets waiting for delivery
	bucketDead   = []byte("dead")   // key -> meta of dead-lettered tickets
	bucketBodies = []byte("bodies") // key -> request body; apart so index scans stay small
)

// Config configures Open.
type Config struct {
	// Path of the bbolt file, normally data_dir/outbox.db.
	Path     string
	Platform config.Platform
	// MaxBytes caps the bytes of accepted tickets (pending and dead); default 1 GiB.
	MaxBytes int64
	// Workers is how many incidents deliver concurrently; default 8.
	Workers int
	// BaseBackoff and MaxBackoff shape the retry back-off; defaults 1s and 5m.
	BaseBackoff, MaxBackoff time.Duration
	// ShutdownTimeout is how long Close lets in-flight attempts finish; default 5s.
	ShutdownTimeout time.Duration
	// OnFull is called, on a goroutine of its own, each time the outbox turns
	// full; the gateway wires it to an MQTT alert and the console. Stats().Full
	// says when it is over.
	OnFull func()
	// Client sends the tickets; nil: a client with Platform.Timeout.
	Client     *http.Client
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// meta is the small index record of a ticket.
type meta struct {
	EnqueuedAt time.Time `json:"enqueued_at"`
	Size       int64     `json:"size"`
	// Dead-letter fields.
	Status   int       `json:"status,omitempty"`
	Response string    `json:"response,omitempty"`
	DeadAt   time.Time `json:"dead_at,omitzero"`
	Attempts int       `json:"attempts,omitempty"`
}

// head is the in-memory schedule of one incident's queue: when its oldest
// ticket is tried next. One head per incident keeps one attempt per incident
// in flight, which is what keeps versions in order.
type head struct {
	id       string
	next     time.Time
	attempts int
	lastErr  string
	idx      int // in the heap; -1 when in flight
}

// Outbox is the durable ticket queue and its delivery workers.
type Outbox struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	db     *bolt.DB
	client *http.Client
	secret []byte

	mu      sync.Mutex
	heads   map[string]*head
	sched   schedule
	blocked map[string]bool // incidents whose oldest ticket is dead-lettered
	// removed: per incident, the highest delivered version whose deletion is
	// not committed yet; toRemove: those keys, for the remover.
	removed    map[string]int
	toRemove   [][]byte
	removeWake chan struct{}
	used       int64
	pending    int
	dead       int
	full       bool
	lastLog    time.Time
	// lastRetryLog rate-limits the warning about failed attempts.
	lastRetryLog time.Time
	closed       bool
	storeErr     error // see StoreErr
	started      bool

	wake       chan struct{}
	stop       chan struct{}
	stopOnce   sync.Once
	running    sync.WaitGroup
	attemptCtx context.Context
	cancelAll  context.CancelFunc
	// removerDone is closed when the remover made its last commit.
	removerDone chan struct{}
	m           metrics
}

// Open opens or creates the outbox file and rebuilds the delivery schedule
// from it. Run delivers; Close stops.
func Open(cfg Config) (*Outbox, error) {
	if cfg.Path == "" {
		return nil, errors.New("outbox: Path is required")
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = defaultMaxBytes
	}
	if cfg.Workers <= 0 {
		cfg.Workers = defaultWorkers
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 5 * time.Second
	}
	if cfg.Platform.Timeout <= 0 {
		cfg.Platform.Timeout = defaultTimeout
	}
	if u, err := url.Parse(cfg.Platform.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("outbox: platform.url must be an http(s) URL, got %q", logx.RedactURL(cfg.Platform.URL))
	}
	secret, err := parseSecret(cfg.Platform.Secret)
	if err != nil {
		return nil, err
	}
	o := &Outbox{
		cfg: cfg, log: cfg.Logger, now: cfg.Now, client: cfg.Client, secret: secret,
		heads: map[string]*head{}, blocked: map[string]bool{}, removed: map[string]int{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}),
		removeWake: make(chan struct{}, 1), removerDone: make(chan struct{}),
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	o.log = o.log.With("component", "outbox")
	if o.now == nil {
		o.now = time.Now
	}
	if o.client == nil {
		o.client = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: cfg.Workers,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	o.attemptCtx, o.cancelAll = context.WithCancel(context.Background())
	if err := o.initMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o750); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	// bbolt's default NoSync=false: every commit is fsynced, which is what
	// makes an accepted ticket survive kill -9 and power loss.
	o.db, err = storecheck.OpenBolt(cfg.Path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("outbox: open %s: %w", cfg.Path, err)
	}
	if err := o.load(); err != nil {
		o.db.Close()
		return nil, err
	}
	go o.remover()
	return o, nil
}

// parseSecret decodes `whsec_<base64>`; empty means tickets go unsigned.
func parseSecret(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("outbox: platform.secret is not whsec_<base64>")
	}
	return b, nil
}

func (o *Outbox) load() error {
	now := o.now()
	defer o.syncGauges()
	return o.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketQueue, bucketDead, bucketBodies} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		err := tx.Bucket(bucketDead).ForEach(func(k, v []byte) error {
			id, _, _ := splitKey(k)
			o.blocked[id] = true
			o.dead++
			o.used += sizeOf(v)
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketQueue).ForEach(func(k, v []byte) error {
			id, _, _ := splitKey(k)
			o.pending++
			o.used += sizeOf(v)
			if !o.blocked[id] && o.heads[id] == nil {
				o.schedule(&head{id: id, next: now})
			}
			return nil
		})
	})
}

func sizeOf(metaJSON []byte) int64 {
	var m meta
	_ = json.Unmarshal(metaJSON, &m)
	return m.Size
}

// key is the incident id, a zero byte and the big-endian version, so that a
// cursor walks one incident's tickets in version order.
func makeKey(id string, version int) []byte {
	k := make([]byte, len(id)+9)
	copy(k, id)
	binary.BigEndian.PutUint64(k[len(id)+1:], uint64(version))
	return k
}

func splitKey(k []byte) (id string, version int, ok bool) {
	if len(k) < 9 || k[len(k)-9] != 0 {
		return "", 0, false
	}
	return string(k[:len(k)-9]), int(binary.BigEndian.Uint64(k[len(k)-8:])), true
}

// KeyString is the external name of a ticket: `<id>:<version>`, also its
// webhook-id and Idempotency-Key.
func KeyString(id string, version int) string { return fmt.Sprintf("%s:%d", id, version) }

// parseKeyString accepts only canonical keys (as KeyString prints them), so
// one ticket has one name.
func parseKeyString(s string) ([]byte, error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, s)
	}
	v, err := strconv.Atoi(s[i+1:])
	if err != nil || v < 1 || strconv.Itoa(v) != s[i+1:] || strings.IndexByte(s[:i], 0) >= 0 {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, s)
	}
	return makeKey(s[:i], v), nil
}

type ticketEvidence struct {
	Snapshot           string `json:"snapshot,omitempty"`
	Clip               string `json:"clip,omitempty"`
	SnapshotJPEGBase64 string `json:"snapshot_jpeg_base64,omitempty"`
	SnapshotOmitted    string `json:"snapshot_omitted,omitempty"`
}

// ticket is contract section 4's body: the incident, its version, and the
// snapshot inline because the platform cannot reach the edge. Its Evidence
// shadows the embedded incident's.
type ticket struct {
	incidents.Incident
	Version  int            `json:"version"`
	Evidence ticketEvidence `json:"evidence"`
}

// Body builds the ticket body for inc at inc.Version.
func Body(inc incidents.Incident, snapshot []byte) ([]byte, error) {
	t := ticket{Incident: inc, Version: inc.Version,
		Evidence: ticketEvidence{Snapshot: inc.Evidence.Snapshot, Clip: inc.Evidence.Clip}}
	switch {
	case len(snapshot) > MaxSnapshot:
		// Re-encoding smaller needs the video stack; the link still works on site.
		t.Evidence.SnapshotOmitted = "too large"
	case len(snapshot) > 0:
		t.Evidence.SnapshotJPEGBase64 = base64.StdEncoding.EncodeToString(snapshot)
	}
	return json.Marshal(t)
}

// Enqueue stores the ticket for inc's current version and returns once it is
// fsynced. A version already queued is replaced (a replayed change). When the
// outbox is at its cap it returns ErrFull and raises the alarm; nothing that
// was accepted before is ever dropped to make room.
func (o *Outbox) Enqueue(inc incidents.Incident, snapshot []byte) error {
	return o.EnqueueBatch([]Item{{Incident: inc, Snapshot: snapshot}})
}

// Item is one ticket for EnqueueBatch.
type Item struct {
	Incident incidents.Incident
	Snapshot []byte
}

type prepared struct {
	id       string
	key, mv  []byte
	body     []byte
	size     int64
	replaced int64
}

// EnqueueBatch is Enqueue for several tickets under one fsync: all are
// accepted or none.
func (o *Outbox) EnqueueBatch(items []Item) error {
	now := o.now()
	ps := make([]prepared, 0, len(items))
	var total int64
	for _, it := range items {
		inc := it.Incident
		if inc.ID == "" || inc.Version < 1 {
			return fmt.Errorf("outbox: incident needs an id and a version >= 1 (got %q v%d)", inc.ID, inc.Version)
		}
		body, err := Body(inc, it.Snapshot)
		if err != nil {
			return fmt.Errorf("outbox: encode ticket: %w", err)
		}
		body = packBody(body)
		key := makeKey(inc.ID, inc.Version)
		m := meta{EnqueuedAt: now, Size: int64(len(body) + 2*len(key) + 64)}
		mv, _ := json.Marshal(m)
		ps = append(ps, prepared{id: inc.ID, key: key, mv: mv, body: body, size: m.Size, replaced: -1})
		total += m.Size
	}

	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return ErrClosed
	}
	if o.used+total > o.cfg.MaxBytes {
		o.raiseFull(len(ps))
		o.mu.Unlock()
		return fmt.Errorf("%w: %d of %d bytes used, %d ticket(s) from %s not accepted", ErrFull, o.used, o.cfg.MaxBytes, len(ps), ps[0].id)
	}
	o.used += total // reserved now so concurrent Enqueues cannot overshoot the cap
	o.mu.Unlock()

	err := o.db.Update(func(tx *bolt.Tx) error {
		q, bodies := tx.Bucket(bucketQueue), tx.Bucket(bucketBodies)
		for i := range ps {
			p := &ps[i]
			p.replaced = -1
			if old := q.Get(p.key); old != nil {
				p.replaced = sizeOf(old)
			}
			if err := q.Put(p.key, p.mv); err != nil {
				return err
			}
			if err := bodies.Put(p.key, p.body); err != nil {
				return err
			}
		}
		return nil
	})

	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		o.used -= total
		return fmt.Errorf("outbox: %w: %w", ErrNotStored, err)
	}
	for _, p := range ps {
		if p.replaced >= 0 {
			o.used -= p.replaced
		} else {
			o.pending++
		}
		if !o.blocked[p.id] && o.heads[p.id] == nil {
			o.schedule(&head{id: p.id, next: now})
		}
	}
	if o.full {
		o.full = false
		o.log.Info("outbox accepts tickets again", "used_bytes", o.used)
	}
	o.syncGauges()
	return nil
}

// raiseFull says loudly that a ticket was refused. Called with o.mu held.
func (o *Outbox) raiseFull(refused int) {
	now := o.now()
	turned := !o.full
	o.full = true
	o.m.full.Set(1)
	o.m.rejected.Add(float64(refused))
	if turned || now.Sub(o.lastLog) >= time.Second {
		o.lastLog = now
		o.log.Error("OUTBOX FULL: tickets to the platform are being refused; deliver or re-send dead letters, or raise outbox.max_bytes",
			"used_bytes", o.used, "max_bytes", o.cfg.MaxBytes, "pending", o.pending, "dead", o.dead)
	}
	if turned && o.cfg.OnFull != nil {
		go o.cfg.OnFull()
	}
}

func (o *Outbox) syncGauges() {
	o.m.pending.Set(float64(o.pending))
	o.m.dead.Set(float64(o.dead))
	o.m.bytes.Set(float64(o.used))
	if !o.full {
		o.m.full.Set(0)
	}
}

func (o *Outbox) schedule(h *head) {
	o.heads[h.id] = h
	o.push(h)
}

// Run delivers tickets until ctx is done or Close is called, then lets
// in-flight attempts finish (up to ShutdownTimeout) and returns.
func (o *Outbox) Run(ctx context.Context) error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return ErrClosed
	}
	if o.started {
		o.mu.Unlock()
		// Two dispatchers would break the one-attempt-per-incident order.
		return errors.New("outbox: Run called twice")
	}
	o.started = true
	o.running.Add(1)
	o.mu.Unlock()
	defer o.running.Done()

	work := make(chan *head)
	var workers sync.WaitGroup
	for i := 0; i < o.cfg.Workers; i++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for h := range work {
				o.attempt(h)
			}
		}()
	}
	o.dispatch(ctx, work)
	close(work)
	done := make(chan struct{})
	go func() { workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(o.cfg.ShutdownTimeout):
		o.log.Warn("shutdown: cancelling in-flight deliveries; they stay queued")
		o.cancelAll()
		<-done
	}
	return nil
}

func (o *Outbox) dispatch(ctx context.Context, work chan<- *head) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		o.mu.Lock()
		var h *head
		wait := time.Hour
		if o.sched.Len() > 0 {
			top := o.sched[0]
			if d := top.next.Sub(o.now()); d <= 0 {
				h = heap.Pop(&o.sched).(*head)
			} else {
				wait = d
			}
		}
		o.mu.Unlock()
		if h != nil {
			select {
			case work <- h:
				continue
			case <-ctx.Done():
			case <-o.stop:
			}
			o.mu.Lock()
			heap.Push(&o.sched, h)
			o.mu.Unlock()
			return
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-o.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		case <-ctx.Done():
			return
		case <-o.stop:
			return
		}
	}
}

// Close stops taking tickets and delivering, lets in-flight attempts finish
// within ShutdownTimeout and closes the file. Everything not delivered stays
// on disk for the next start.
func (o *Outbox) Close() error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	o.mu.Unlock()
	o.stopOnce.Do(func() { close(o.stop) })
	o.running.Wait()
	o.cancelAll()
	<-o.removerDone
	return o.db.Close()
}
