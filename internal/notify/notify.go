package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/lanewatch/lanewatch/internal/outbox"
	"github.com/prometheus/client_golang/prometheus"
)

// Env is what a sender kind gets to build a channel's Sender.
type Env struct {
	Client *http.Client
	Now    func() time.Time
	Logger *slog.Logger
}

// Kind builds the Sender of one channel, and its rate budget (zero: none;
// a budget needs a Sender that is an outbox.Folder).
type Kind func(ch config.Notify, env Env) (outbox.Sender, outbox.Budget, error)

// Kinds are the built-in sender kinds; webpush is added by its package
// through Config.Kinds.
func Kinds() map[string]Kind {
	return map[string]Kind{"wecom": robotKind, "dingtalk": robotKind, "feishu": robotKind, "webhook": webhookKind}
}

// robot budgets: WeCom and DingTalk take 20 messages a minute per robot;
// Feishu 100 a minute and 5 a second. Fold is what one message carries
// within the platform's size limit (WeCom markdown 4096 bytes, DingTalk
// 20000, Feishu 20 KB a request) with signed links of ~200 bytes a line.
var robotBudgets = map[string]outbox.Budget{
	"wecom":    {N: 20, Per: time.Minute, Fold: 10},
	"dingtalk": {N: 20, Per: time.Minute, Fold: 30},
	"feishu":   {N: 5, Per: 3 * time.Second, Fold: 30},
}

func robotKind(ch config.Notify, env Env) (outbox.Sender, outbox.Budget, error) {
	b := robotBudgets[ch.Kind]
	if ch.MaxPerMinute > 0 {
		b.N, b.Per = ch.MaxPerMinute, time.Minute
	}
	return &Robot{Kind: ch.Kind, URL: ch.URL, Secret: ch.Secret, Timeout: ch.Timeout, Client: env.Client, Now: env.Now}, b, nil
}

// webhookKind POSTs the Note as JSON, signed like the platform's tickets
// (Standard Webhooks; webhook-id <incident id>:<version>).
func webhookKind(ch config.Notify, env Env) (outbox.Sender, outbox.Budget, error) {
	secret, err := outbox.ParseWebhookSecret(ch.Secret)
	if err != nil {
		return nil, outbox.Budget{}, fmt.Errorf("secret: %w", err)
	}
	return &outbox.WebhookSender{URL: ch.URL, Secret: secret, Timeout: ch.Timeout, Client: env.Client, Now: env.Now}, outbox.Budget{}, nil
}

// Config configures New.
type Config struct {
	Channels []config.Notify
	// Dir holds one queue file per channel (data_dir/notify).
	Dir      string
	Composer *Composer
	Loc      *time.Location // the site's zone, for schedules
	// Kinds adds or replaces sender kinds (webpush).
	Kinds map[string]Kind
	// MaxBytes caps each channel's queue; default 64 MiB.
	MaxBytes int64
	// OnFull is called, on a goroutine of its own, when a channel's queue
	// turns full (the gateway raises an MQTT alert).
	OnFull func(channel string, st outbox.Stats)
	// BaseBackoff, MaxBackoff: retry back-off; defaults 1s and 5m.
	BaseBackoff, MaxBackoff time.Duration
	ShutdownTimeout         time.Duration
	Client                  *http.Client
	Logger                  *slog.Logger
	Registerer              prometheus.Registerer
	Now                     func() time.Time
	// Journal, in a cluster, gives each channel's replicated stream:
	// messages are accepted there and sent only while Hold(true).
	Journal func(channel string) *outbox.Journal
}

// Notifier sends incident changes to the channels whose filters match.
type Notifier struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	chans []*channel
	byID  map[string]*channel

	skipped *prometheus.CounterVec
	queued  *prometheus.CounterVec
	failed  *prometheus.CounterVec
}

type channel struct {
	cfg    config.Notify
	filter *Filter
	q      *outbox.Queue
}

// New opens every channel's queue. Run delivers; Close stops.
func New(cfg Config) (*Notifier, error) {
	if cfg.Composer == nil || cfg.Composer.L == nil {
		return nil, errors.New("notify: Composer is required")
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 64 << 20
	}
	n := &Notifier{cfg: cfg, log: cfg.Logger, now: cfg.Now, byID: map[string]*channel{}}
	if n.log == nil {
		n.log = slog.Default()
	}
	n.log = n.log.With("component", "notify")
	if n.now == nil {
		n.now = time.Now
	}
	client := cfg.Client
	if client == nil {
		client = outbox.NewClient(4)
	}
	kinds := Kinds()
	for k, f := range cfg.Kinds {
		kinds[k] = f
	}
	reg := cfg.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	n.queued = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_notify_queued_total",
		Help: "Incident changes queued for a channel."}, []string{"channel"})
	n.skipped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_notify_filtered_total",
		Help: "Incident changes a channel's filters (severities, types, places, schedule) left out."}, []string{"channel"})
	n.failed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_notify_enqueue_failed_total",
		Help: "Incident changes a channel's queue could not take (full or a disk error)."}, []string{"channel"})
	for _, c := range []prometheus.Collector{n.queued, n.skipped, n.failed} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("notify: register metrics: %w", err)
		}
	}
	env := Env{Client: client, Now: n.now, Logger: n.log}
	for _, ch := range cfg.Channels {
		c, err := n.open(ch, kinds, env, reg)
		if err != nil {
			n.Close()
			return nil, err
		}
		n.chans = append(n.chans, c)
		n.byID[ch.ID] = c
	}
	return n, nil
}

func (n *Notifier) open(ch config.Notify, kinds map[string]Kind, env Env, reg prometheus.Registerer) (*channel, error) {
	kind, ok := kinds[ch.Kind]
	if !ok {
		return nil, fmt.Errorf("notify %s: no sender for kind %q in this build", ch.ID, ch.Kind)
	}
	if ch.Timeout <= 0 {
		ch.Timeout = 10 * time.Second
	}
	sender, budget, err := kind(ch, env)
	if err != nil {
		return nil, fmt.Errorf("notify %s: %w", ch.ID, err)
	}
	f, err := NewFilter(ch, n.cfg.Loc)
	if err != nil {
		return nil, err
	}
	var q *outbox.Queue
	var onFull func()
	if n.cfg.OnFull != nil {
		onFull = func() { n.cfg.OnFull(ch.ID, q.Stats()) }
	}
	q, err = outbox.OpenQueue(outbox.QueueConfig{Path: filepath.Join(n.cfg.Dir, ch.ID+".db"), Name: "notify " + ch.ID,
		Sender: sender, Budget: budget, MaxBytes: n.cfg.MaxBytes, Workers: 4, OnFull: onFull,
		BaseBackoff: n.cfg.BaseBackoff, MaxBackoff: n.cfg.MaxBackoff, ShutdownTimeout: n.cfg.ShutdownTimeout,
		Logger: n.log, Registerer: reg, Metrics: "lanewatch_notify", Labels: prometheus.Labels{"channel": ch.ID}, Now: n.cfg.Now,
		Journal: n.journal(ch.ID)})
	if err != nil {
		return nil, fmt.Errorf("notify %s: %w", ch.ID, err)
	}
	return &channel{cfg: ch, filter: f, q: q}, nil
}

// Start begins delivering on every channel, until ctx ends or Close.
func (n *Notifier) Start(ctx context.Context) error {
	for _, c := range n.chans {
		if err := c.q.Start(ctx); err != nil {
			return fmt.Errorf("notify %s: %w", c.cfg.ID, err)
		}
	}
	return nil
}

func (n *Notifier) journal(channel string) *outbox.Journal {
	if n.cfg.Journal == nil {
		return nil
	}
	return n.cfg.Journal(channel)
}

// Hold makes this gateway the sender of every channel (a cluster's one
// sender), or stops it sending; side by side, so that a gateway losing
// the role has stopped every channel within the cluster's margin.
func (n *Notifier) Hold(held bool) {
	var wg sync.WaitGroup
	for _, c := range n.chans {
		wg.Go(func() { c.q.Hold(held) })
	}
	wg.Wait()
}

// Kick wakes every channel's dispatcher (tests with a fake clock).
func (n *Notifier) Kick() {
	for _, c := range n.chans {
		c.q.Kick()
	}
}

// Notify queues change ch on every channel that takes it. Only changes
// that alert patrol staff (opened, escalated, severity changed) are sent.
// Each message is on disk when Notify returns.
func (n *Notifier) Notify(ch incidents.Change) error {
	if !ch.Alert() || ch.Incident.Version < 1 {
		return nil
	}
	var body []byte
	var errs []error
	at := n.now()
	for _, c := range n.chans {
		if !c.filter.Match(ch.Incident, at) {
			n.skipped.WithLabelValues(c.cfg.ID).Inc()
			continue
		}
		if body == nil {
			var err error
			if body, err = json.Marshal(n.cfg.Composer.Note(ch)); err != nil {
				return fmt.Errorf("notify: encode: %w", err)
			}
		}
		if err := c.q.Put([]outbox.Msg{{ID: ch.Incident.ID, Version: ch.Incident.Version, Body: body}}); err != nil {
			n.failed.WithLabelValues(c.cfg.ID).Inc()
			errs = append(errs, fmt.Errorf("notify %s: %w", c.cfg.ID, err))
			continue
		}
		n.queued.WithLabelValues(c.cfg.ID).Inc()
	}
	return errors.Join(errs...)
}

// Follower notifies every change of src (an incidents.Follower). A write the
// disk refused (full, I/O error) is retried until it succeeds, like the
// ticket outbox: a change dropped here never reaches the phones. Putting a
// message again replaces it (same key).
func (n *Notifier) Follower(src incidents.Source) *incidents.Follower {
	return &incidents.Follower{Name: "notify", Source: src, Logger: n.log,
		Handle: func(_ context.Context, c incidents.Change) error { return n.Notify(c) },
		Retry:  func(err error) bool { return errors.Is(err, outbox.ErrNotStored) }}
}

// Close stops every channel; what is not delivered stays on disk.
func (n *Notifier) Close() error {
	var errs []error
	for _, c := range n.chans {
		errs = append(errs, c.q.Close())
	}
	return errors.Join(errs...)
}

// Entry is one message at /api/outbox: the queue's entry and its channel.
// Its Key is <channel>:<incident id>:<version>.
type Entry struct {
	outbox.Entry
	Channel string `json:"channel"`
}

// List returns every channel's messages, dead letters first in each; at
// most limit per channel (<= 0: all).
func (n *Notifier) List(limit int) ([]Entry, error) {
	var out []Entry
	for _, c := range n.chans {
		es, err := c.q.List(limit)
		if err != nil {
			return out, err
		}
		for _, e := range es {
			e.Key = c.cfg.ID + ":" + e.Key
			out = append(out, Entry{Entry: e, Channel: c.cfg.ID})
		}
	}
	return out, nil
}

// Resend puts a dead-lettered message (<channel>:<id>:<version>) back.
func (n *Notifier) Resend(key string) error {
	c, k, err := n.split(key)
	if err != nil {
		return err
	}
	return c.q.Resend(k)
}

// Discard drops a dead-lettered message for good.
func (n *Notifier) Discard(key string) error {
	c, k, err := n.split(key)
	if err != nil {
		return err
	}
	return c.q.Discard(k)
}

// IsChannelKey says whether key names a channel's message rather than a
// platform ticket (<id>:<version>).
func IsChannelKey(key string) bool { return strings.Count(key, ":") >= 2 }

func (n *Notifier) split(key string) (*channel, string, error) {
	id, rest, ok := strings.Cut(key, ":")
	c := n.byID[id]
	if !ok || c == nil {
		return nil, "", fmt.Errorf("%w: %q", outbox.ErrNotFound, key)
	}
	return c, rest, nil
}

// Stats sums the channels' queues.
func (n *Notifier) Stats() outbox.Stats {
	var s outbox.Stats
	for _, c := range n.chans {
		cs := c.q.Stats()
		s.Pending += cs.Pending
		s.Dead += cs.Dead
		s.UsedBytes += cs.UsedBytes
		s.MaxBytes += cs.MaxBytes
		s.Full = s.Full || cs.Full
	}
	return s
}
