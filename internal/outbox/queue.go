// Package outbox is the durable outbox of contract sections 4 and 10: a
// Queue keeps messages on disk (bbolt, fsynced on commit), one ordered
// stream per key (an incident), retried for ever with back-off on transient
// failures and dead-lettered on a permanent rejection until an admin
// re-sends or discards it. What a message is and how it is delivered is a
// Sender's business: the community platform's tickets (Outbox, contract 4)
// and the notification channels (internal/notify) are senders over the same
// queue, so a new channel is one Sender.
//
// Only a small per-key schedule lives in memory; message bodies stay on
// disk until the moment they are sent, so a long outage costs disk, not RAM.
package outbox

import (
	"container/heap"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/storecheck"
)

// Typed errors callers branch on (errors.Is).
var (
	// ErrFull: the queue reached its size cap; the message was not accepted.
	ErrFull   = errors.New("outbox full")
	ErrClosed = errors.New("outbox closed")
	// ErrNotStored: the queue's file refused the message (disk full, I/O
	// error); nothing of it was kept. Follow retries these.
	ErrNotStored = errors.New("message not stored")
	ErrNotFound  = errors.New("no such dead-lettered ticket")
)

const (
	defaultMaxBytes = config.DefaultOutboxMaxBytes
	defaultWorkers  = 8
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

// QueueConfig configures OpenQueue.
type QueueConfig struct {
	// Path of the bbolt file.
	Path string
	// Name says which queue in logs ("outbox", "notify patrol-group").
	Name   string
	Sender Sender
	// MaxBytes caps the bytes of accepted messages (pending and dead); default 1 GiB.
	MaxBytes int64
	// Workers is how many keys deliver concurrently; default 8.
	Workers int
	// BaseBackoff and MaxBackoff shape the retry back-off; defaults 1s and 5m.
	BaseBackoff, MaxBackoff time.Duration
	// ShutdownTimeout is how long Close lets in-flight attempts finish; default 5s.
	ShutdownTimeout time.Duration
	// Budget, when set, caps the sends per window; messages due beyond it are
	// folded into one (the Sender must be a Folder).
	Budget Budget
	// OnFull is called, on a goroutine of its own, each time the queue turns
	// full. Stats().Full says when it is over.
	OnFull     func()
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Metrics is the metric name prefix; default "lanewatch_outbox".
	// Labels are constant labels on every metric (e.g. the channel).
	Metrics string
	Labels  prometheus.Labels
	Now     func() time.Time
	// Journal, when set (a cluster), is where messages are accepted: a
	// replicated JetStream stream (journal.go). The file at Path is then
	// only this gateway's delivery schedule, rebuilt from the stream each
	// time it becomes the sender (Hold); it sends nothing until then.
	Journal *Journal
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

// head is the in-memory schedule of one key's queue: when its oldest
// message is tried next. One head per key keeps one attempt per key in
// flight, which is what keeps versions in order.
type head struct {
	id       string
	next     time.Time
	attempts int
	lastErr  string
	idx      int // in the heap; -1 when in flight
}

// Queue is the durable message queue and its delivery workers.
type Queue struct {
	cfg    QueueConfig
	log    *slog.Logger
	now    func() time.Time
	db     *bolt.DB
	sender Sender
	folder Folder // sender as a Folder, when it is one
	budget *window

	mu      sync.Mutex
	heads   map[string]*head
	sched   schedule
	blocked map[string]bool // keys whose oldest message is dead-lettered
	// removed: per key, the highest delivered version whose deletion is
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
	callbacks  sync.WaitGroup // OnFull calls in progress
	attemptCtx context.Context
	cancelAll  context.CancelFunc
	// removerDone is closed when the remover made its last commit.
	removerDone chan struct{}
	m           metrics

	// With a Journal: j is its state; paused while this gateway is not
	// the sender; sendCtx is the current sending term's (cancelled when it
	// ends); inflight counts attempts handed to workers.
	j        *journal
	paused   bool
	sendCtx  context.Context
	stopSend context.CancelFunc
	inflight sync.WaitGroup
	// flushMu makes a flush of removals and a reset of the file exclusive.
	flushMu sync.Mutex
}

// OpenQueue opens or creates the queue file and rebuilds the delivery
// schedule from it. Run delivers; Close stops.
func OpenQueue(cfg QueueConfig) (*Queue, error) {
	if cfg.Path == "" {
		return nil, errors.New("outbox: Path is required")
	}
	if cfg.Sender == nil {
		return nil, errors.New("outbox: Sender is required")
	}
	if cfg.Name == "" {
		cfg.Name = "outbox"
	}
	if cfg.Metrics == "" {
		cfg.Metrics = "lanewatch_outbox"
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
	o := &Queue{
		cfg: cfg, log: cfg.Logger, now: cfg.Now, sender: cfg.Sender,
		heads: map[string]*head{}, blocked: map[string]bool{}, removed: map[string]int{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}),
		removeWake: make(chan struct{}, 1), removerDone: make(chan struct{}),
	}
	if cfg.Budget.N > 0 {
		f, ok := cfg.Sender.(Folder)
		if !ok {
			return nil, errors.New("outbox: a Budget needs a Sender that folds (Folder)")
		}
		o.folder = f
		o.budget = newWindow(cfg.Budget)
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	o.log = o.log.With("component", cfg.Name)
	if o.now == nil {
		o.now = time.Now
	}
	o.attemptCtx, o.cancelAll = context.WithCancel(context.Background())
	o.sendCtx = o.attemptCtx
	if cfg.Journal != nil {
		jc := *cfg.Journal
		if jc.MaxBytes <= 0 {
			jc.MaxBytes = cfg.MaxBytes
		}
		o.j = newJournal(jc)
		o.paused = true
	}
	if err := o.initMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o750); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	// bbolt's default NoSync=false: every commit is fsynced, which is what
	// makes an accepted message survive kill -9 and power loss.
	var err error
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

func (o *Queue) load() error {
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

// Msg is one message for Put: version Version of key ID's stream.
type Msg struct {
	ID      string
	Version int
	Body    []byte
}

type prepared struct {
	id       string
	key, mv  []byte
	body     []byte
	size     int64
	replaced int64
}

// Put stores messages under one fsync and returns once they are on disk:
// all are accepted or none. A version already queued is replaced (a
// replayed change). When the queue is at its cap it returns ErrFull and
// raises the alarm; nothing that was accepted before is ever dropped to
// make room. With a Journal, "on disk" is "in the replicated stream"
// (putJournal).
func (o *Queue) Put(msgs []Msg) error {
	ps, total, err := prepare(msgs, o.now())
	if err != nil || len(ps) == 0 {
		return err
	}
	if o.j != nil {
		return o.putJournal(ps)
	}
	return o.store(ps, total, true)
}

func prepare(msgs []Msg, now time.Time) ([]prepared, int64, error) {
	ps := make([]prepared, 0, len(msgs))
	var total int64
	for _, msg := range msgs {
		if msg.ID == "" || msg.Version < 1 || strings.IndexByte(msg.ID, 0) >= 0 {
			return nil, 0, fmt.Errorf("outbox: a message needs an id and a version >= 1 (got %q v%d)", msg.ID, msg.Version)
		}
		ps = append(ps, prepare1(msg.ID, msg.Version, packBody(msg.Body), now))
		total += ps[len(ps)-1].size
	}
	return ps, total, nil
}

// prepare1 is one message with its body packed already.
func prepare1(id string, version int, body []byte, enqueued time.Time) prepared {
	key := makeKey(id, version)
	m := meta{EnqueuedAt: enqueued, Size: int64(len(body) + 2*len(key) + 64)}
	mv, _ := json.Marshal(m)
	return prepared{id: id, key: key, mv: mv, body: body, size: m.Size, replaced: -1}
}

// store writes prepared messages to the file; capped: refused beyond
// MaxBytes (a journal's file is not: its stream enforces the cap).
func (o *Queue) store(ps []prepared, total int64, capped bool) error {
	now := o.now()
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return ErrClosed
	}
	if capped && o.used+total > o.cfg.MaxBytes {
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
	if o.full && capped {
		o.full = false
		o.log.Info("outbox accepts messages again", "used_bytes", o.used)
	}
	o.syncGauges()
	return nil
}

// putJournal appends messages to the replicated stream: accepted once its
// quorum has them. Full and not-stored are said as for the file.
func (o *Queue) putJournal(ps []prepared) error {
	o.mu.Lock()
	closed := o.closed
	o.mu.Unlock()
	if closed {
		return ErrClosed
	}
	err := o.j.append(ps)
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case errors.Is(err, ErrFull):
		o.raiseFull(len(ps))
		return fmt.Errorf("outbox: %w, %d message(s) from %s not accepted", err, len(ps), ps[0].id)
	case err != nil:
		return fmt.Errorf("outbox: %w: %w", ErrNotStored, err)
	}
	if o.full {
		o.full = false
		o.log.Info("outbox accepts messages again")
	}
	o.syncGauges()
	return nil
}

// raiseFull says loudly that a ticket was refused. Called with o.mu held.
func (o *Queue) raiseFull(refused int) {
	now := o.now()
	turned := !o.full
	o.full = true
	o.m.full.Set(1)
	o.m.rejected.Add(float64(refused))
	if turned || now.Sub(o.lastLog) >= time.Second {
		o.lastLog = now
		o.log.Error("OUTBOX FULL: "+o.cfg.Name+" refuses new messages; deliver or re-send dead letters, or raise its max_bytes",
			"used_bytes", o.used, "max_bytes", o.cfg.MaxBytes, "pending", o.pending, "dead", o.dead)
	}
	if turned && o.cfg.OnFull != nil && !o.closed {
		// Not under o.mu (OnFull publishes to MQTT); Close waits for it.
		o.callbacks.Add(1)
		go func() { defer o.callbacks.Done(); o.cfg.OnFull() }()
	}
}

func (o *Queue) syncGauges() {
	o.m.pending.Set(float64(o.pending))
	o.m.dead.Set(float64(o.dead))
	o.m.bytes.Set(float64(o.used))
	if !o.full {
		o.m.full.Set(0)
	}
}

func (o *Queue) schedule(h *head) {
	o.heads[h.id] = h
	o.push(h)
}

// Start begins delivering tickets on goroutines of the queue's own, until
// ctx is done or Close, which lets in-flight attempts finish (up to
// ShutdownTimeout) and waits for them.
func (o *Queue) Start(ctx context.Context) error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return ErrClosed
	}
	if o.started {
		o.mu.Unlock()
		// Two dispatchers would break the one-attempt-per-incident order.
		return errors.New("outbox: Start called twice")
	}
	o.started = true
	o.running.Add(1)
	o.mu.Unlock()
	go o.run(ctx)
	return nil
}

func (o *Queue) run(ctx context.Context) {
	defer o.running.Done()

	work := make(chan batch)
	var workers sync.WaitGroup
	for i := 0; i < o.cfg.Workers; i++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for b := range work {
				if len(b.hs) == 1 {
					o.attempt(b.ctx, b.hs[0])
				} else {
					o.attemptFolded(b.ctx, b.hs)
				}
				if b.sent != nil {
					o.mu.Lock()
					*b.sent = o.now()
					o.mu.Unlock()
					o.Kick()
				}
				o.inflight.Done()
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
}

// Kick makes the dispatcher look at the schedule now; tests that drive a
// fake clock call it after moving the clock.
func (o *Queue) Kick() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// batch is what one worker sends as one message: one head, or several
// folded; sent is its place in the budget's window; ctx ends its attempt
// (Close, or the end of a sending term).
type batch struct {
	hs   []*head
	sent *time.Time
	ctx  context.Context
}

func (o *Queue) dispatch(ctx context.Context, work chan<- batch) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		o.mu.Lock()
		b, wait := o.next(o.now())
		o.mu.Unlock()
		if b.hs != nil {
			select {
			case work <- b:
				continue
			case <-ctx.Done():
			case <-o.stop:
			}
			o.mu.Lock()
			for _, h := range b.hs {
				heap.Push(&o.sched, h)
			}
			if b.sent != nil {
				*b.sent = time.Time{}.Add(1) // not sent: expires at once
			}
			o.mu.Unlock()
			o.inflight.Done()
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

// next pops what is due: one head, or with a Budget, several to fold into
// one message when more are due than the budget has sends left. Otherwise
// it says how long to wait. A batch counts in inflight until its worker is
// done. Called with o.mu held.
func (o *Queue) next(now time.Time) (batch, time.Duration) {
	b, wait := o.next1(now)
	if b.hs != nil {
		b.ctx = o.sendCtx
		o.inflight.Add(1)
	}
	return b, wait
}

func (o *Queue) next1(now time.Time) (batch, time.Duration) {
	if o.paused || o.sched.Len() == 0 {
		return batch{}, time.Hour
	}
	if d := o.sched[0].next.Sub(now); d > 0 {
		return batch{}, d
	}
	if o.budget == nil {
		return batch{hs: []*head{heap.Pop(&o.sched).(*head)}}, 0
	}
	free, until := o.budget.free(now)
	if free == 0 {
		return batch{}, max(until, time.Millisecond)
	}
	due := 0
	for _, h := range o.sched {
		if !h.next.After(now) {
			due++
		}
	}
	// Spread what is due over the sends left; each fold stays within what
	// one message of the sender can carry.
	n := min((due+free-1)/free, max(o.cfg.Budget.Fold, 1))
	hs := make([]*head, 0, n)
	for len(hs) < n && o.sched.Len() > 0 && !o.sched[0].next.After(now) {
		hs = append(hs, heap.Pop(&o.sched).(*head))
	}
	if len(hs) > 1 {
		o.m.folded.Add(float64(len(hs)))
	}
	return batch{hs: hs, sent: o.budget.take()}, 0
}

// Close stops taking tickets and delivering, lets in-flight attempts finish
// within ShutdownTimeout and closes the file. Everything not delivered stays
// on disk for the next start.
func (o *Queue) Close() error {
	if o.j != nil {
		o.Hold(false)
		o.j.waitTerm(o.cfg.ShutdownTimeout)
	}
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
	o.callbacks.Wait()
	return o.db.Close()
}
