package outbox

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/lanewatch/lanewatch/internal/logx"
	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
)

// oldest returns the first queued ticket of incident id that is not
// delivered already (delivered ones wait in o.removed for their deletion).
func (o *Queue) oldest(id string) (key, body []byte, m meta, ok bool) {
	o.mu.Lock()
	from := makeKey(id, o.removed[id]+1)
	o.mu.Unlock()
	prefix := from[:len(id)+1]
	_ = o.db.View(func(tx *bolt.Tx) error {
		k, v := tx.Bucket(bucketQueue).Cursor().Seek(from)
		if k == nil || !bytes.HasPrefix(k, prefix) || len(k) != len(prefix)+8 {
			return nil
		}
		if err := json.Unmarshal(v, &m); err != nil {
			return err
		}
		key = bytes.Clone(k)
		body = bytes.Clone(tx.Bucket(bucketBodies).Get(k))
		ok = true
		return nil
	})
	return key, body, m, ok
}

// Outcome is what became of one attempt.
type Outcome int

const (
	// Delivered: the receiver has the message; it leaves the queue.
	Delivered Outcome = iota
	// Retry: a transient failure; tried again after back-off (at least
	// Result.RetryAfter).
	Retry
	// Dead: the receiver refuses it for good; dead-lettered with the answer
	// until an admin re-sends or discards it.
	Dead
)

// Message is one queued message as a Sender gets it.
type Message struct {
	Key     string // <id>:<version>, the deduplication key
	ID      string
	Version int
	Body    []byte
}

// Result is a Sender's verdict on one attempt.
type Result struct {
	Outcome    Outcome
	Status     int // the receiver's HTTP status, or its error code
	RetryAfter time.Duration
	// Response: the receiver's answer (at most 4 KiB), kept with a dead letter.
	Response []byte
	// Err says why an attempt is retried, without secrets (it is logged and
	// shown at /api/outbox).
	Err string
}

// A Sender delivers messages of one kind (the platform's tickets, a robot's
// messages). It must honour ctx and never block beyond its own time-out.
type Sender interface {
	Send(ctx context.Context, m Message) Result
}

// A Folder is a Sender that can also deliver several messages (one per key)
// as one, for receivers with a rate budget.
type Folder interface {
	Sender
	SendFolded(ctx context.Context, ms []Message) Result
}

// Budget caps the sends of a queue: at most N in any Per. When more
// messages are due than sends are left, they are folded, at most Fold in
// one message, so a burst costs sends, never messages.
type Budget struct {
	N    int
	Per  time.Duration
	Fold int
}

// window counts the sends in the last Budget.Per. A send counts from its
// dispatch until Per after its answer: the receiver counts it when it
// arrives, which is somewhere in between, so the window never lets more
// through than the receiver takes, whatever the latency.
type window struct {
	b    Budget
	sent []*time.Time // answer times; zero while in flight
}

func newWindow(b Budget) *window { return &window{b: b} }

// free says how many sends are left now, and when none, how long until one
// (an hour when all are in flight: their answers wake the dispatcher).
func (w *window) free(now time.Time) (int, time.Duration) {
	kept := w.sent[:0]
	wait := time.Hour
	for _, t := range w.sent {
		if t.IsZero() {
			kept = append(kept, t)
			continue
		}
		if until := t.Add(w.b.Per).Sub(now); until > 0 {
			kept = append(kept, t)
			wait = min(wait, until)
		}
	}
	clear(w.sent[len(kept):])
	w.sent = kept
	if n := w.b.N - len(w.sent); n > 0 {
		return n, 0
	}
	return 0, wait
}

// take counts a send dispatched now; set the returned time when it is answered.
func (w *window) take() *time.Time {
	t := new(time.Time)
	w.sent = append(w.sent, t)
	return t
}

// attempt sends the oldest message of h's key once and schedules what
// follows. Only one attempt per key runs at a time.
func (o *Queue) attempt(ctx context.Context, h *head) {
	msg, key, m, ok := o.load1(h)
	if !ok {
		return
	}
	o.settle(h, key, m, o.sender.Send(ctx, msg))
}

// attemptFolded sends the oldest message of each head as one.
func (o *Queue) attemptFolded(ctx context.Context, hs []*head) {
	type item struct {
		h   *head
		key []byte
		m   meta
	}
	var items []item
	var msgs []Message
	for _, h := range hs {
		msg, key, m, ok := o.load1(h)
		if ok {
			items = append(items, item{h, key, m})
			msgs = append(msgs, msg)
		}
	}
	var res Result
	switch len(msgs) {
	case 0:
		return
	case 1:
		res = o.sender.Send(ctx, msgs[0])
	default:
		res = o.folder.SendFolded(ctx, msgs)
	}
	for _, it := range items {
		o.settle(it.h, it.key, it.m, res)
	}
}

// load1 reads h's oldest message; false when there is none to send (h is
// settled then).
func (o *Queue) load1(h *head) (Message, []byte, meta, bool) {
	key, body, m, ok := o.oldest(h.id)
	if !ok {
		o.mu.Lock()
		o.finish(h, o.now())
		o.mu.Unlock()
		return Message{}, nil, m, false
	}
	id, ver, _ := splitKey(key)
	body, err := unpackBody(body)
	if err != nil {
		// Unreadable on disk: the receiver would reject it too, so it goes
		// to the dead letters where an admin sees it.
		o.deadLetter(h, key, m, 0, []byte(err.Error()), o.now())
		return Message{}, nil, m, false
	}
	return Message{Key: KeyString(id, ver), ID: id, Version: ver, Body: body}, key, m, true
}

func (o *Queue) settle(h *head, key []byte, m meta, res Result) {
	now := o.now()
	switch res.Outcome {
	case Delivered:
		o.delivered(h, key, m, now)
	case Retry:
		id, ver, _ := splitKey(key)
		o.retry(h, KeyString(id, ver), res.Err, res.RetryAfter, now)
	default:
		o.deadLetter(h, key, m, res.Status, res.Response, now)
	}
}

// ReadResponse reads at most 4 KiB of an answer and drains a little more so
// that the connection can be reused.
func ReadResponse(r io.Reader) []byte {
	b, _ := io.ReadAll(io.LimitReader(r, maxResponse))
	_, _ = io.Copy(io.Discard, io.LimitReader(r, 64<<10))
	return b
}

// TransportError describes a failed request without the URL, which may carry
// a token (in the query or as user info); it is logged and shown at /api/outbox.
func TransportError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		msg := ue.Err.Error()
		if ue.Timeout() {
			msg = "timed out: " + msg
		}
		return logx.RedactText(ue.Op + ": " + msg)
	}
	return logx.RedactText(err.Error())
}

// HTTPResult classifies an HTTP answer the contract 4 way: 2xx delivered;
// 408, 429 and 5xx retried (honouring Retry-After); any other status dead.
// Senders whose receivers answer 200 with an error code in the body check
// that code themselves first.
func HTTPResult(res *http.Response, body []byte, now time.Time) Result {
	ra := parseRetryAfter(res.Header.Get("Retry-After"), now)
	switch s := res.StatusCode; {
	case s/100 == 2:
		return Result{Outcome: Delivered, Status: s}
	case s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s/100 != 4:
		return Result{Outcome: Retry, Status: s, RetryAfter: ra, Err: fmt.Sprintf("HTTP %d", s)}
	default:
		return Result{Outcome: Dead, Status: s, Response: body}
	}
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		// Compare in seconds: a huge value would overflow time.Duration.
		if n >= int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}

func (o *Queue) delivered(h *head, key []byte, m meta, now time.Time) {
	id, ver, _ := splitKey(key)
	o.mu.Lock()
	defer o.mu.Unlock()
	// The deletion is committed by the remover, many at a time: an fsync per
	// delivery would cap the drain rate at the disk's fsync rate. A crash
	// before that commit only sends the ticket again, under the same
	// webhook-id, which is what platforms deduplicate on.
	o.removed[id] = ver
	o.toRemove = append(o.toRemove, key)
	if len(o.toRemove) == 1 {
		select {
		case o.removeWake <- struct{}{}:
		default:
		}
	}
	o.used -= m.Size
	o.pending--
	h.attempts, h.lastErr = 0, ""
	o.m.delivered.Inc()
	o.m.latency.Observe(now.Sub(m.EnqueuedAt).Seconds())
	o.syncGauges()
	o.finish(h, now)
}

// remover commits the deletion of delivered tickets in batches until stop.
func (o *Queue) remover() {
	defer close(o.removerDone)
	for {
		select {
		case <-o.removeWake:
		case <-o.stop:
			o.flushRemoved()
			return
		}
		// Let a few more deliveries join this commit.
		select {
		case <-time.After(20 * time.Millisecond):
		case <-o.stop:
		}
		o.flushRemoved()
	}
}

func (o *Queue) flushRemoved() {
	o.flushMu.Lock()
	defer o.flushMu.Unlock()
	o.mu.Lock()
	keys := o.toRemove
	o.toRemove = nil
	o.mu.Unlock()
	if len(keys) == 0 {
		return
	}
	err := o.db.Update(func(tx *bolt.Tx) error {
		q, bodies := tx.Bucket(bucketQueue), tx.Bucket(bucketBodies)
		for _, k := range keys {
			if err := q.Delete(k); err != nil {
				return err
			}
			if err := bodies.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && o.j != nil {
		o.j.remove(o, keys, false)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		// Still marked delivered in memory; try again with the next batch.
		o.log.Error("removing delivered messages", "count", len(keys), "err", err)
		o.toRemove = append(keys, o.toRemove...)
		return
	}
	for _, k := range keys {
		id, ver, _ := splitKey(k)
		if o.removed[id] == ver {
			delete(o.removed, id)
		}
	}
}

func (o *Queue) retry(h *head, ks, reason string, retryAfter time.Duration, now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	h.attempts++
	h.lastErr = reason
	h.next = now.Add(o.backoff(h.attempts, retryAfter))
	o.m.retried.Inc()
	// Many incidents failing together during an outage must not flood the log.
	if now.Sub(o.lastRetryLog) >= 10*time.Second {
		o.lastRetryLog = now
		o.log.Warn("message not delivered, will retry", "key", ks, "attempts", h.attempts,
			"err", reason, "next_attempt", h.next, "pending", o.pending)
	}
	o.push(h)
}

// backoff is exponential with full jitter, so that after an outage the
// gateway's workers do not hammer the platform in lock step; a Retry-After
// from the platform is a floor.
func (o *Queue) backoff(attempts int, retryAfter time.Duration) time.Duration {
	return backoff(o.cfg.BaseBackoff, o.cfg.MaxBackoff, attempts, retryAfter)
}

func backoff(base, maxBackoff time.Duration, attempts int, retryAfter time.Duration) time.Duration {
	ceil := maxBackoff
	if attempts-1 < 30 {
		if c := base << (attempts - 1); c > 0 && c < ceil {
			ceil = c
		}
	}
	d := time.Duration(rand.Int64N(int64(ceil) + 1))
	return max(d, retryAfter)
}

func (o *Queue) deadLetter(h *head, key []byte, m meta, status int, resp []byte, now time.Time) {
	m.Status, m.Response, m.DeadAt, m.Attempts = status, string(resp), now, h.attempts+1
	mv, _ := json.Marshal(m)
	err := o.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketQueue).Delete(key); err != nil {
			return err
		}
		return tx.Bucket(bucketDead).Put(key, mv)
	})
	id, ver, _ := splitKey(key)
	if err == nil && o.j != nil {
		o.j.markDead(o, key, mv)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		o.storeFailed(h, "dead-lettering ticket", err, now)
		return
	}
	o.pending--
	o.dead++
	// Later versions of this incident wait behind it: delivering them first
	// would break the per-incident order the platform relies on.
	o.blocked[id] = true
	delete(o.heads, id)
	o.syncGauges()
	o.log.Error("message refused by the receiver, dead-lettered; re-send or discard it from /api/outbox once fixed",
		"key", KeyString(id, ver), "status", status, "response", string(resp))
}

// storeFailed retries h's ticket soon after a failed write; the ticket is
// still where it was, so nothing is lost. Called with o.mu held.
func (o *Queue) storeFailed(h *head, what string, err error, now time.Time) {
	o.log.Error(what, "err", err)
	h.next = now.Add(o.cfg.BaseBackoff)
	o.push(h)
}

// finish reschedules h if its incident has more tickets, or forgets it.
// Called with o.mu held; the check runs under the lock so that a concurrent
// Enqueue either sees the head or finds it gone and makes a new one.
func (o *Queue) finish(h *head, now time.Time) {
	if o.hasQueued(h.id) {
		h.next = now
		o.push(h)
		return
	}
	delete(o.heads, h.id)
}

// Called with o.mu held.
func (o *Queue) hasQueued(id string) (ok bool) {
	from := makeKey(id, o.removed[id]+1)
	prefix := from[:len(id)+1]
	_ = o.db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketQueue).Cursor().Seek(from)
		ok = k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8
		return nil
	})
	return ok
}

func (o *Queue) push(h *head) {
	heap.Push(&o.sched, h)
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Resend moves a dead-lettered ticket (key `<id>:<version>`) back to the
// front of its incident's queue.
func (o *Queue) Resend(key string) error {
	id, err := o.takeDead(key, func(tx *bolt.Tx, k []byte, m meta) error {
		mv, _ := json.Marshal(meta{EnqueuedAt: m.EnqueuedAt, Size: m.Size})
		return tx.Bucket(bucketQueue).Put(k, mv)
	})
	if err != nil {
		return err
	}
	if o.j != nil {
		o.j.remove(o, [][]byte{mustKey(key)}, true)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dead--
	o.pending++
	o.unblock(id, true)
	o.log.Info("dead-lettered message re-sent", "key", key)
	return nil
}

// Discard drops a dead-lettered ticket for good and lets its incident's
// later versions go. It is for a ticket the platform will never take (it
// refuses that version's content): re-sending would fail again and keep the
// incident's later updates waiting behind it for ever. The later versions
// carry the whole incident, so the platform still ends up with its latest
// state.
func (o *Queue) Discard(key string) error {
	var size int64
	id, err := o.takeDead(key, func(tx *bolt.Tx, k []byte, m meta) error {
		size = m.Size
		return tx.Bucket(bucketBodies).Delete(k)
	})
	if err != nil {
		return err
	}
	if o.j != nil {
		k := [][]byte{mustKey(key)}
		o.j.remove(o, k, true)
		o.j.remove(o, k, false)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dead--
	o.used -= size
	o.unblock(id, o.hasQueued(id))
	o.log.Warn("dead-lettered message discarded; the incident's later versions go on", "key", key)
	return nil
}

// takeDead removes a dead-lettered ticket from the dead letters, in one
// transaction with then (which puts it elsewhere or drops its body), and
// returns its incident id; ErrNotFound when key is not dead-lettered.
func (o *Queue) takeDead(key string, then func(tx *bolt.Tx, k []byte, m meta) error) (string, error) {
	if err := o.notSending(); err != nil {
		return "", err
	}
	k, err := parseKeyString(key)
	if err != nil {
		return "", err
	}
	err = o.db.Update(func(tx *bolt.Tx) error {
		dead := tx.Bucket(bucketDead)
		v := dead.Get(k)
		if v == nil {
			return fmt.Errorf("%w: %s", ErrNotFound, key)
		}
		var m meta
		if err := json.Unmarshal(v, &m); err != nil {
			return err
		}
		if err := then(tx, k, m); err != nil {
			return err
		}
		return dead.Delete(k)
	})
	if err != nil {
		return "", err
	}
	id, _, _ := splitKey(k)
	return id, nil
}

// unblock lets an incident's queue move again and schedules it when it has
// a ticket to send. Called with o.mu held.
func (o *Queue) unblock(id string, queued bool) {
	delete(o.blocked, id)
	if queued && o.heads[id] == nil {
		o.schedule(&head{id: id, next: o.now()})
	}
	o.syncGauges()
}

// Entry is one ticket as /api/outbox shows it.
type Entry struct {
	Key        string    `json:"key"`
	IncidentID string    `json:"incident_id"`
	Version    int       `json:"version"`
	State      string    `json:"state"` // pending, sending, blocked (behind a dead one), dead
	EnqueuedAt time.Time `json:"enqueued_at"`
	Bytes      int64     `json:"bytes"`
	Attempts   int       `json:"attempts"`
	// NextAttempt is set for the ticket at the head of its incident's queue.
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	Status      int        `json:"status,omitempty"`   // dead: the platform's answer
	Response    string     `json:"response,omitempty"` // dead: its body, at most 4 KiB
}

// List returns dead-lettered tickets, then pending ones in delivery order per
// incident; at most limit entries (<= 0: all).
func (o *Queue) List(limit int) ([]Entry, error) {
	out := []Entry{}
	if o.notSending() != nil {
		return out, nil // the sender lists the site's queue
	}
	full := func() bool { return limit > 0 && len(out) >= limit }
	// o.mu is not taken inside the read transaction: a worker holds o.mu
	// while it opens one, and a commit waiting to remap the file between the
	// two would deadlock them.
	err := o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDead).Cursor()
		for k, v := c.First(); k != nil && !full(); k, v = c.Next() {
			e, m := entry(k, v)
			e.State, e.Attempts, e.Status, e.Response = "dead", m.Attempts, m.Status, m.Response
			out = append(out, e)
		}
		c = tx.Bucket(bucketQueue).Cursor()
		for k, v := c.First(); k != nil && !full(); k, v = c.Next() {
			e, _ := entry(k, v)
			e.State = "pending"
			out = append(out, e)
		}
		return nil
	})
	o.mu.Lock()
	defer o.mu.Unlock()
	kept := out[:0]
	prev := ""
	for _, e := range out {
		if e.State == "dead" {
			kept = append(kept, e)
			continue
		}
		if e.Version <= o.removed[e.IncidentID] {
			continue // delivered, deletion not committed yet
		}
		switch h := o.heads[e.IncidentID]; {
		case o.blocked[e.IncidentID]:
			e.State = "blocked"
		case h != nil && e.IncidentID != prev:
			e.Attempts, e.LastError = h.attempts, h.lastErr
			if h.idx < 0 {
				e.State = "sending"
			} else {
				t := h.next
				e.NextAttempt = &t
			}
		}
		prev = e.IncidentID
		kept = append(kept, e)
	}
	return kept, err
}

func entry(k, v []byte) (Entry, meta) {
	var m meta
	_ = json.Unmarshal(v, &m)
	id, ver, _ := splitKey(k)
	return Entry{Key: KeyString(id, ver), IncidentID: id, Version: ver, EnqueuedAt: m.EnqueuedAt, Bytes: m.Size}, m
}

// Stats is the outbox at a glance, for the console and health checks.
type Stats struct {
	Pending   int   `json:"pending"`
	Dead      int   `json:"dead"`
	UsedBytes int64 `json:"used_bytes"`
	MaxBytes  int64 `json:"max_bytes"`
	Full      bool  `json:"full"`
}

func (o *Queue) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.j != nil && o.paused {
		return Stats{MaxBytes: o.cfg.MaxBytes, Full: o.full} // the sender counts the site's queue
	}
	return Stats{Pending: o.pending, Dead: o.dead, UsedBytes: o.used, MaxBytes: o.cfg.MaxBytes, Full: o.full}
}

// schedule is a min-heap of heads by next attempt time.
type schedule []*head

func (s schedule) Len() int           { return len(s) }
func (s schedule) Less(i, j int) bool { return s[i].next.Before(s[j].next) }
func (s schedule) Swap(i, j int)      { s[i], s[j] = s[j], s[i]; s[i].idx = i; s[j].idx = j }
func (s *schedule) Push(x any)        { h := x.(*head); h.idx = len(*s); *s = append(*s, h) }
func (s *schedule) Pop() any {
	old := *s
	h := old[len(old)-1]
	old[len(old)-1] = nil
	*s = old[:len(old)-1]
	h.idx = -1
	return h
}

type metrics struct {
	pending, dead, full, bytes prometheus.Gauge
	delivered, retried         prometheus.Counter
	rejected, folded           prometheus.Counter
	storeErrors                prometheus.Counter
	latency                    prometheus.Histogram
}

func (o *Queue) initMetrics(reg prometheus.Registerer) error {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	p, labels := o.cfg.Metrics, o.cfg.Labels
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: p + name, Help: help, ConstLabels: labels})
	}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: p + name, Help: help, ConstLabels: labels})
	}
	o.m = metrics{
		pending:   g("_pending", "Messages waiting for delivery (including those blocked behind a dead letter)."),
		dead:      g("_dead", "Dead-lettered messages waiting for a re-send."),
		full:      g("_full", "1 while the queue is at its size cap and refuses messages."),
		bytes:     g("_bytes", "Bytes of accepted messages (pending and dead)."),
		delivered: c("_delivered_total", "Messages the receiver accepted (for the platform: 2xx or 409)."),
		retried:   c("_retried_total", "Failed attempts that will be retried."),
		rejected:  c("_rejected_total", "Messages refused because the queue was full."),
		folded:    c("_folded_total", "Messages sent folded into a summary because the receiver's rate budget was spent."),
		storeErrors: c("_store_errors_total",
			"Messages the queue's file could not take (disk full, I/O error); retried until stored."),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: p + "_delivery_latency_seconds",
			Help:        "From enqueue to the receiver's acceptance.",
			ConstLabels: labels,
			Buckets:     []float64{.01, .05, .1, .5, 1, 5, 30, 60, 300, 1800, 3600, 21600}}),
	}
	cols := []prometheus.Collector{o.m.pending, o.m.dead, o.m.full, o.m.bytes, o.m.delivered, o.m.retried, o.m.rejected, o.m.storeErrors, o.m.latency}
	if o.budget != nil {
		cols = append(cols, o.m.folded) // only queues that fold have the metric
	}
	for _, col := range cols {
		if err := reg.Register(col); err != nil {
			return fmt.Errorf("outbox: register metrics: %w", err)
		}
	}
	return nil
}

// ParseRetryAfter reads a Retry-After header (delay-seconds or an HTTP date),
// bounded to an hour; 0 when absent or past.
func ParseRetryAfter(v string, now time.Time) time.Duration { return parseRetryAfter(v, now) }
