package outbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/logx"
	"github.com/prometheus/client_golang/prometheus"
)

// MaxSnapshot is the largest snapshot carried inside a ticket (before base64).
const MaxSnapshot = 256 << 10

const defaultTimeout = config.DefaultPlatformTimeout

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
	// Localize, when set, words the ticket's title and description in the
	// site's language (site.language); every other field is as it was.
	Localize func(incident.Incident) incident.Incident
	// Client sends the tickets; nil: a client with Platform.Timeout.
	Client     *http.Client
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
	// Journal, in a cluster: tickets are accepted into this replicated
	// stream and sent only while Hold(true) (journal.go).
	Journal *Journal
}

// Outbox is the ticket outbox of contract section 4: a Queue of tickets,
// one stream per incident, and the platform's Sender.
type Outbox struct {
	cfg Config
	*Queue
}

// Open opens or creates the outbox file and rebuilds the delivery schedule
// from it. Run delivers; Close stops.
func Open(cfg Config) (*Outbox, error) {
	if cfg.Platform.Timeout <= 0 {
		cfg.Platform.Timeout = defaultTimeout
	}
	if u, err := url.Parse(cfg.Platform.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("outbox: platform.url must be an http(s) URL, got %q", logx.RedactURL(cfg.Platform.URL))
	}
	secret, err := ParseWebhookSecret(cfg.Platform.Secret)
	if err != nil {
		return nil, fmt.Errorf("outbox: platform.secret: %w", err)
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = defaultWorkers
	}
	client := cfg.Client
	if client == nil {
		client = NewClient(workers)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	q, err := OpenQueue(QueueConfig{Path: cfg.Path, Name: "outbox",
		Sender:   &WebhookSender{URL: cfg.Platform.URL, Secret: secret, Timeout: cfg.Platform.Timeout, Client: client, Now: now},
		MaxBytes: cfg.MaxBytes, Workers: cfg.Workers, BaseBackoff: cfg.BaseBackoff, MaxBackoff: cfg.MaxBackoff,
		ShutdownTimeout: cfg.ShutdownTimeout, OnFull: cfg.OnFull, Logger: cfg.Logger, Registerer: cfg.Registerer, Now: cfg.Now,
		Journal: cfg.Journal})
	if err != nil {
		return nil, err
	}
	return &Outbox{cfg: cfg, Queue: q}, nil
}

// NewClient is the HTTP client senders share by default: keeps a
// connection per worker alive.
func NewClient(workers int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		MaxIdleConnsPerHost: workers,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// ParseWebhookSecret decodes `whsec_<base64>`; empty means unsigned.
func ParseWebhookSecret(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("not whsec_<base64>")
	}
	return b, nil
}

// backoff is the Queue's, for an Outbox not opened (tests).
func (o *Outbox) backoff(attempts int, retryAfter time.Duration) time.Duration {
	return backoff(o.cfg.BaseBackoff, o.cfg.MaxBackoff, attempts, retryAfter)
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
	incident.Incident
	Version  int            `json:"version"`
	Evidence ticketEvidence `json:"evidence"`
}

// Body builds the ticket body for inc at inc.Version.
func Body(inc incident.Incident, snapshot []byte) ([]byte, error) {
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
func (o *Outbox) Enqueue(inc incident.Incident, snapshot []byte) error {
	return o.EnqueueBatch([]Item{{Incident: inc, Snapshot: snapshot}})
}

// Item is one ticket for EnqueueBatch.
type Item struct {
	Incident incident.Incident
	Snapshot []byte
}

// EnqueueBatch is Enqueue for several tickets under one fsync: all are
// accepted or none.
func (o *Outbox) EnqueueBatch(items []Item) error {
	msgs := make([]Msg, 0, len(items))
	for _, it := range items {
		inc := it.Incident
		if o.cfg.Localize != nil {
			inc = o.cfg.Localize(inc)
		}
		if inc.ID == "" || inc.Version < 1 {
			return fmt.Errorf("outbox: incident needs an id and a version >= 1 (got %q v%d)", inc.ID, inc.Version)
		}
		body, err := Body(inc, it.Snapshot)
		if err != nil {
			return fmt.Errorf("outbox: encode ticket: %w", err)
		}
		msgs = append(msgs, Msg{ID: inc.ID, Version: inc.Version, Body: body})
	}
	return o.Put(msgs)
}

// WebhookSender POSTs each message's body signed the Standard Webhooks way
// (contract 4): webhook-id and Idempotency-Key are the message's key, the
// same on every retry; 2xx or 409 is delivered.
type WebhookSender struct {
	URL     string
	Secret  []byte // nil: unsigned
	Timeout time.Duration
	Client  *http.Client
	Now     func() time.Time
}

func (s *WebhookSender) Send(ctx context.Context, m Message) Result {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(m.Body))
	if err != nil {
		return Result{Outcome: Retry, Err: TransportError(err)}
	}
	// The timestamp is this attempt's, so that platforms enforcing the
	// Standard Webhooks tolerance accept a ticket retried hours later.
	ts := strconv.FormatInt(s.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", m.Key)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("Idempotency-Key", m.Key)
	if s.Secret != nil {
		req.Header.Set("webhook-signature", "v1,"+SignWebhook(s.Secret, m.Key, ts, m.Body))
	}
	res, err := s.Client.Do(req)
	if err != nil {
		return Result{Outcome: Retry, Err: TransportError(err)}
	}
	defer res.Body.Close()
	body := ReadResponse(res.Body)
	if res.StatusCode == http.StatusConflict {
		return Result{Outcome: Delivered, Status: res.StatusCode} // already there
	}
	return HTTPResult(res, body, s.Now())
}

// SignWebhook is the Standard Webhooks v1 signature (base64 of
// HMAC-SHA256(secret, id.timestamp.body)).
func SignWebhook(secret []byte, id, ts string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
