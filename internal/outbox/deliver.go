package outbox

import (
	"bytes"
	"container/heap"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
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
func (o *Outbox) oldest(id string) (key, body []byte, m meta, ok bool) {
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

// attempt sends the oldest ticket of h's incident once and schedules what
// follows. Only one attempt per incident runs at a time.
func (o *Outbox) attempt(h *head) {
	key, body, m, ok := o.oldest(h.id)
	if !ok {
		o.mu.Lock()
		o.finish(h, o.now())
		o.mu.Unlock()
		return
	}
	id, ver, _ := splitKey(key)
	ks := KeyString(id, ver)
	body, err := unpackBody(body)
	if err != nil {
		// Unreadable on disk: the platform would reject it too, so it goes
		// to the dead letters where an admin sees it.
		o.deadLetter(h, key, m, 0, []byte(err.Error()), o.now())
		return
	}
	status, retryAfter, resp, err := o.send(ks, body)
	now := o.now()
	switch {
	case err == nil && (status/100 == 2 || status == http.StatusConflict):
		o.delivered(h, key, m, now)
	case err != nil:
		o.retry(h, ks, transportError(err), retryAfter, now)
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status/100 != 4:
		o.retry(h, ks, fmt.Sprintf("HTTP %d", status), retryAfter, now)
	default:
		o.deadLetter(h, key, m, status, resp, now)
	}
}

// send POSTs one ticket; err is a transport error or time-out.
func (o *Outbox) send(ks string, body []byte) (status int, retryAfter time.Duration, resp []byte, err error) {
	ctx, cancel := context.WithTimeout(o.attemptCtx, o.cfg.Platform.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.cfg.Platform.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, nil, err
	}
	// The timestamp is this attempt's, so that platforms enforcing the
	// Standard Webhooks tolerance accept a ticket retried hours later.
	ts := strconv.FormatInt(o.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", ks)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("Idempotency-Key", ks)
	if o.secret != nil {
		req.Header.Set("webhook-signature", "v1,"+sign(o.secret, ks, ts, body))
	}
	res, err := o.client.Do(req)
	if err != nil {
		return 0, 0, nil, err
	}
	defer res.Body.Close()
	resp, _ = io.ReadAll(io.LimitReader(res.Body, maxResponse))
	// Drain a little more so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	return res.StatusCode, parseRetryAfter(res.Header.Get("Retry-After"), o.now()), resp, nil
}

// transportError describes a failed request without the URL, which may carry
// a token (in the query or as user info); it is logged and shown at /api/outbox.
func transportError(err error) string {
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

func sign(secret []byte, id, ts string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
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

func (o *Outbox) delivered(h *head, key []byte, m meta, now time.Time) {
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
func (o *Outbox) remover() {
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

func (o *Outbox) flushRemoved() {
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
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		// Still marked delivered in memory; try again with the next batch.
		o.log.Error("removing delivered tickets", "count", len(keys), "err", err)
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

func (o *Outbox) retry(h *head, ks, reason string, retryAfter time.Duration, now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	h.attempts++
	h.lastErr = reason
	h.next = now.Add(o.backoff(h.attempts, retryAfter))
	o.m.retried.Inc()
	// Many incidents failing together during an outage must not flood the log.
	if now.Sub(o.lastRetryLog) >= 10*time.Second {
		o.lastRetryLog = now
		o.log.Warn("ticket not delivered, will retry", "ticket", ks, "attempts", h.attempts,
			"err", reason, "next_attempt", h.next, "pending", o.pending)
	}
	o.push(h)
}

// backoff is exponential with full jitter, so that after an outage the
// gateway's workers do not hammer the platform in lock step; a Retry-After
// from the platform is a floor.
func (o *Outbox) backoff(attempts int, retryAfter time.Duration) time.Duration {
	ceil := o.cfg.MaxBackoff
	if attempts-1 < 30 {
		if c := o.cfg.BaseBackoff << (attempts - 1); c > 0 && c < ceil {
			ceil = c
		}
	}
	d := time.Duration(rand.Int64N(int64(ceil) + 1))
	return max(d, retryAfter)
}

func (o *Outbox) deadLetter(h *head, key []byte, m meta, status int, resp []byte, now time.Time) {
	m.Status, m.Response, m.DeadAt, m.Attempts = status, string(resp), now, h.attempts+1
	mv, _ := json.Marshal(m)
	err := o.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketQueue).Delete(key); err != nil {
			return err
		}
		return tx.Bucket(bucketDead).Put(key, mv)
	})
	id, ver, _ := splitKey(key)
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
	o.log.Error("ticket rejected by the platform, dead-lettered; re-send it from /api/outbox once fixed",
		"ticket", KeyString(id, ver), "status", status, "response", string(resp))
}

// storeFailed retries h's ticket soon after a failed write; the ticket is
// still where it was, so nothing is lost. Called with o.mu held.
func (o *Outbox) storeFailed(h *head, what string, err error, now time.Time) {
	o.log.Error(what, "err", err)
	h.next = now.Add(o.cfg.BaseBackoff)
	o.push(h)
}

// finish reschedules h if its incident has more tickets, or forgets it.
// Called with o.mu held; the check runs under the lock so that a concurrent
// Enqueue either sees the head or finds it gone and makes a new one.
func (o *Outbox) finish(h *head, now time.Time) {
	if o.hasQueued(h.id) {
		h.next = now
		o.push(h)
		return
	}
	delete(o.heads, h.id)
}

// Called with o.mu held.
func (o *Outbox) hasQueued(id string) (ok bool) {
	from := makeKey(id, o.removed[id]+1)
	prefix := from[:len(id)+1]
	_ = o.db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketQueue).Cursor().Seek(from)
		ok = k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8
		return nil
	})
	return ok
}

func (o *Outbox) push(h *head) {
	heap.Push(&o.sched, h)
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Resend moves a dead-lettered ticket (key `<id>:<version>`) back to the
// front of its incident's queue.
func (o *Outbox) Resend(key string) error {
	id, err := o.takeDead(key, func(tx *bolt.Tx, k []byte, m meta) error {
		mv, _ := json.Marshal(meta{EnqueuedAt: m.EnqueuedAt, Size: m.Size})
		return tx.Bucket(bucketQueue).Put(k, mv)
	})
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dead--
	o.pending++
	o.unblock(id, true)
	o.log.Info("dead-lettered ticket re-sent", "ticket", key)
	return nil
}

// Discard drops a dead-lettered ticket for good and lets its incident's
// later versions go. It is for a ticket the platform will never take (it
// refuses that version's content): re-sending would fail again and keep the
// incident's later updates waiting behind it for ever. The later versions
// carry the whole incident, so the platform still ends up with its latest
// state.
func (o *Outbox) Discard(key string) error {
	var size int64
	id, err := o.takeDead(key, func(tx *bolt.Tx, k []byte, m meta) error {
		size = m.Size
		return tx.Bucket(bucketBodies).Delete(k)
	})
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dead--
	o.used -= size
	o.unblock(id, o.hasQueued(id))
	o.log.Warn("dead-lettered ticket discarded; the incident's later versions go on", "ticket", key)
	return nil
}

// takeDead removes a dead-lettered ticket from the dead letters, in one
// transaction with then (which puts it elsewhere or drops its body), and
// returns its incident id; ErrNotFound when key is not dead-lettered.
func (o *Outbox) takeDead(key string, then func(tx *bolt.Tx, k []byte, m meta) error) (string, error) {
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
func (o *Outbox) unblock(id string, queued bool) {
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
func (o *Outbox) List(limit int) ([]Entry, error) {
	out := []Entry{}
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

func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
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
	rejected, storeErrors      prometheus.Counter
	latency                    prometheus.Histogram
}

func (o *Outbox) initMetrics(reg prometheus.Registerer) error {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	o.m = metrics{
		pending:   g("lanewatch_outbox_pending", "Tickets waiting for delivery (including those blocked behind a dead letter)."),
		dead:      g("lanewatch_outbox_dead", "Dead-lettered tickets waiting for a re-send."),
		full:      g("lanewatch_outbox_full", "1 while the outbox is at its size cap and refuses tickets."),
		bytes:     g("lanewatch_outbox_bytes", "Bytes of accepted tickets (pending and dead)."),
		delivered: c("lanewatch_outbox_delivered_total", "Tickets the platform accepted (2xx or 409)."),
		retried:   c("lanewatch_outbox_retried_total", "Failed attempts that will be retried."),
		rejected:  c("lanewatch_outbox_rejected_total", "Tickets refused because the outbox was full."),
		storeErrors: c("lanewatch_outbox_store_errors_total",
			"Tickets outbox.db could not take (disk full, I/O error); retried until stored."),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lanewatch_outbox_delivery_latency_seconds",
			Help:    "From enqueue to the platform's acceptance.",
			Buckets: []float64{.01, .05, .1, .5, 1, 5, 30, 60, 300, 1800, 3600, 21600}}),
	}
	for _, col := range []prometheus.Collector{o.m.pending, o.m.dead, o.m.full, o.m.bytes, o.m.delivered, o.m.retried, o.m.rejected, o.m.storeErrors, o.m.latency} {
		if err := reg.Register(col); err != nil {
			return fmt.Errorf("outbox: register metrics: %w", err)
		}
	}
	return nil
}
