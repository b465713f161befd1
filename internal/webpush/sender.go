package webpush

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	wp "github.com/SherClockHolmes/webpush-go"
	"github.com/prometheus/client_golang/prometheus"
)

// MaxPayload is the largest payload that fits one 4096-byte record after
// RFC 8291's header, padding delimiter and tag.
const MaxPayload = 3993

// Errors of Push.
var (
	// ErrGone: the push service no longer knows the subscription (404/410);
	// it has been removed from the store. Do not retry.
	ErrGone = errors.New("webpush: subscription gone")
)

// RetryLaterError: the push service is busy or down (429, 5xx) or could
// not be reached; After is its Retry-After, 0 when it gave none.
type RetryLaterError struct {
	Status int
	After  time.Duration
	Err    error
}

func (e *RetryLaterError) Error() string {
	if e.Err != nil {
		return "webpush: push service unreachable: " + e.Err.Error()
	}
	return fmt.Sprintf("webpush: push service answered %d, retry after %v", e.Status, e.After)
}

func (e *RetryLaterError) Unwrap() error { return e.Err }

// RefusedError: the push service refused this message (400, 401, 403, 413
// ...) or it cannot be sent at all (too large); sending it again will not help.
type RefusedError struct {
	Status int // 0: refused before sending
	Body   string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("webpush: refused (%d): %s", e.Status, e.Body)
}

// Sender pushes messages. Set the fields, then use Push; it is safe for
// concurrent use.
type Sender struct {
	Keys *Keys
	// Store, when set, loses subscriptions the push service calls gone.
	Store *Store
	// Subscriber is the VAPID sub claim: a mailto: or https: URL where the
	// push service can reach the operator; default the console's public URL
	// or the project's page.
	Subscriber string
	// TTL is how long the push service keeps an undelivered message; default
	// 1 h (an alert older than that is no longer news).
	TTL time.Duration
	// Client does the HTTP; default a client with a 10 s timeout.
	Client     *http.Client
	Logger     *slog.Logger
	Registerer prometheus.Registerer

	sent *prometheus.CounterVec
}

// Initialize applies defaults and registers the metrics.
func (s *Sender) Initialize() error {
	if s.Keys == nil {
		return errors.New("webpush: Keys is required")
	}
	if s.Subscriber == "" {
		s.Subscriber = "https://github.com/lanewatch/lanewatch"
	}
	if s.TTL <= 0 {
		s.TTL = time.Hour
	}
	if s.Client == nil {
		s.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	s.sent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lanewatch_webpush_messages_total",
		Help: "Web Push messages by result (sent, gone, retry, refused).",
	}, []string{"result"})
	if s.Registerer != nil {
		if err := s.Registerer.Register(s.sent); err != nil {
			return fmt.Errorf("webpush: register metrics: %w", err)
		}
	}
	return nil
}

// Urgent marks a message for immediate delivery even to a phone saving its
// battery (RFC 8030 Urgency: high).
type Options struct {
	Urgent bool
	// Topic replaces an undelivered message of the same topic (e.g. the
	// incident id), so a phone that was off gets the latest state only.
	Topic string
}

// Push sends payload to sub. It returns nil, ErrGone, *RetryLaterError or
// *RefusedError.
func (s *Sender) Push(ctx context.Context, sub Subscription, payload []byte, o ...Options) error {
	err := s.push(ctx, sub, payload, o...)
	var rl *RetryLaterError
	var rf *RefusedError
	switch {
	case err == nil:
		s.sent.WithLabelValues("sent").Inc()
	case errors.Is(err, ErrGone):
		s.sent.WithLabelValues("gone").Inc()
	case errors.As(err, &rl):
		s.sent.WithLabelValues("retry").Inc()
	case errors.As(err, &rf):
		s.sent.WithLabelValues("refused").Inc()
	}
	return err
}

func (s *Sender) push(ctx context.Context, sub Subscription, payload []byte, o ...Options) error {
	if len(payload) > MaxPayload {
		return &RefusedError{Body: fmt.Sprintf("payload of %d bytes over %d", len(payload), MaxPayload)}
	}
	opts := &wp.Options{
		HTTPClient:      s.Client,
		Subscriber:      s.Subscriber,
		TTL:             int(s.TTL / time.Second),
		VAPIDPublicKey:  s.Keys.Public,
		VAPIDPrivateKey: s.Keys.private,
		Urgency:         wp.UrgencyNormal,
	}
	if len(o) > 0 {
		if o[0].Urgent {
			opts.Urgency = wp.UrgencyHigh
		}
		opts.Topic = o[0].Topic
	}
	resp, err := wp.SendNotificationWithContext(ctx, payload, &wp.Subscription{
		Endpoint: sub.Endpoint, Keys: wp.Keys{Auth: sub.Keys.Auth, P256dh: sub.Keys.P256dh},
	}, opts)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A bad stored key fails before any request; the network fails after.
		if errors.Is(err, wp.ErrMaxPadExceeded) {
			return &RefusedError{Body: err.Error()}
		}
		var ue interface{ Timeout() bool }
		if errors.As(err, &ue) || isNetErr(err) {
			return &RetryLaterError{Err: err}
		}
		return &RefusedError{Body: err.Error()}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch st := resp.StatusCode; {
	case st >= 200 && st < 300:
		return nil
	case st == http.StatusNotFound || st == http.StatusGone:
		if s.Store != nil {
			if _, err := s.Store.Remove("", sub.Endpoint); err != nil {
				s.Logger.Warn("webpush: cannot remove a gone subscription", "user", sub.User, "err", err)
			}
		}
		return ErrGone
	case st == http.StatusTooManyRequests || st >= 500:
		return &RetryLaterError{Status: st, After: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	default:
		return &RefusedError{Status: st, Body: string(body)}
	}
}

// retryAfter reads Retry-After as seconds or an HTTP date; 0 when absent or odd.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
