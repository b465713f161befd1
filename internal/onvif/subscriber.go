package onvif

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanewatch/lanewatch/internal/logx"
)

// Defaults of a Subscriber.
const (
	DefaultTTL        = time.Minute
	DefaultPullWait   = 10 * time.Second
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = time.Minute
	pullLimit         = 100
)

// Subscriber keeps a PullPoint subscription to one camera's event service
// and hands every event of a known kind to OnEvent. It renews the
// subscription before it terminates, and when a call fails (the camera
// rebooted, the network dropped, the subscription was lost) it subscribes
// afresh with exponential back-off. Set the fields, then Start; Close ends
// the subscription.
type Subscriber struct {
	// Camera is the camera's id, for logs and metrics.
	Camera string
	// URL of the device service, without credentials.
	URL string
	// Client carries the credentials; nil: none.
	Client *Client
	// OnEvent gets every event whose Kind is not KindNone, in order, from
	// the subscriber's goroutine.
	OnEvent func(Event)
	// TTL asked for on subscribe and renew; default DefaultTTL.
	TTL time.Duration
	// PullWait is how long one PullMessages waits; default DefaultPullWait.
	PullWait time.Duration
	// Back-off between failed attempts; defaults 1s and 1m.
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
	Registerer             prometheus.Registerer

	cancel context.CancelFunc
	done   chan struct{}
	m      *subMetrics

	mu     sync.Mutex
	status SubscriberStatus
}

// SubscriberStatus is what a Subscriber has done so far.
type SubscriberStatus struct {
	Subscribed    bool      // a subscription is live
	Subscriptions int       // subscriptions made (1 + re-subscriptions)
	Renewals      int       // successful renewals
	Events        int       // events handed to OnEvent
	Failures      int       // failed calls
	LastError     string    // redacted
	Expires       time.Time // local estimate of the live subscription's end
}

type subMetrics struct {
	events        *prometheus.CounterVec
	subscriptions *prometheus.CounterVec
	failures      *prometheus.CounterVec
	subscribed    *prometheus.GaugeVec
}

func newSubMetrics(reg prometheus.Registerer) (*subMetrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &subMetrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_onvif_events_total",
			Help: "ONVIF events received from cameras, by kind."}, []string{"camera", "kind"}),
		subscriptions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_onvif_subscriptions_total",
			Help: "PullPoint subscriptions made (re-subscriptions included)."}, []string{"camera"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_onvif_failures_total",
			Help: "Failed ONVIF event calls (subscribe, pull, renew)."}, []string{"camera"}),
		subscribed: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "lanewatch_onvif_subscribed",
			Help: "1 while a camera's event subscription is live."}, []string{"camera"}),
	}
	var err error
	// Several cameras share one registry: the first registers, the others
	// use its collectors.
	if m.events, err = registerOnce(reg, m.events); err != nil {
		return nil, err
	}
	if m.subscriptions, err = registerOnce(reg, m.subscriptions); err != nil {
		return nil, err
	}
	if m.failures, err = registerOnce(reg, m.failures); err != nil {
		return nil, err
	}
	if m.subscribed, err = registerOnce(reg, m.subscribed); err != nil {
		return nil, err
	}
	return m, nil
}

func registerOnce[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if old, ok := are.ExistingCollector.(C); ok {
			return old, nil
		}
	}
	return c, err
}

func (s *Subscriber) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Start checks the fields and starts subscribing in the background; a
// camera that cannot be reached is retried, not an error.
func (s *Subscriber) Start(ctx context.Context) error {
	if s.URL == "" || s.OnEvent == nil {
		return errors.New("onvif: Subscriber needs URL and OnEvent")
	}
	if s.Client == nil {
		s.Client = &Client{}
	}
	if s.TTL <= 0 {
		s.TTL = DefaultTTL
	}
	if s.PullWait <= 0 {
		s.PullWait = DefaultPullWait
	}
	if s.MinBackoff <= 0 {
		s.MinBackoff = DefaultMinBackoff
	}
	if s.MaxBackoff < s.MinBackoff {
		s.MaxBackoff = max(DefaultMaxBackoff, s.MinBackoff)
	}
	m, err := newSubMetrics(s.Registerer)
	if err != nil {
		return fmt.Errorf("onvif: metrics: %w", err)
	}
	s.m = m
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go s.run(ctx)
	return nil
}

// Close stops pulling and unsubscribes (best effort, within 2 s).
func (s *Subscriber) Close() error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	<-s.done
	return nil
}

// Status returns what the subscriber has done so far.
func (s *Subscriber) Status() SubscriberStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

func (s *Subscriber) update(fn func(*SubscriberStatus)) {
	s.mu.Lock()
	fn(&s.status)
	s.mu.Unlock()
}

func (s *Subscriber) fail(what string, err error) {
	msg := logx.RedactText(err.Error())
	s.m.failures.WithLabelValues(s.Camera).Inc()
	s.update(func(st *SubscriberStatus) { st.Failures++; st.LastError = what + ": " + msg })
	s.logger().Warn("onvif events: "+what+" failed", "camera", s.Camera, "url", logx.RedactURL(s.URL), "err", msg)
}

func (s *Subscriber) run(ctx context.Context) {
	defer close(s.done)
	backoff := s.MinBackoff
	for ctx.Err() == nil {
		if s.session(ctx) {
			backoff = s.MinBackoff // it worked for a while: the next failure starts over
		}
		if ctx.Err() != nil {
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, s.MaxBackoff)
	}
}

// session subscribes and pulls until a call fails or ctx ends; it reports
// whether any pull succeeded.
func (s *Subscriber) session(ctx context.Context) (pulled bool) {
	// Date tokens by the camera's clock; a camera that does not say keeps ours.
	_, _ = s.Client.SyncClock(ctx, s.URL)
	svc, err := s.Client.Services(ctx, s.URL)
	if err != nil {
		s.fail("asking for the event service", err)
		return false
	}
	if svc.Events == "" {
		s.fail("asking for the event service", fmt.Errorf("%w: no event service", ErrNoService))
		return false
	}
	sub, err := s.Client.CreatePullPoint(ctx, svc.Events, s.TTL)
	if err != nil {
		s.fail("subscribing", err)
		return false
	}
	expires := localExpiry(sub.CurrentTime, sub.TerminationTime, s.TTL)
	s.m.subscriptions.WithLabelValues(s.Camera).Inc()
	s.m.subscribed.WithLabelValues(s.Camera).Set(1)
	s.update(func(st *SubscriberStatus) { st.Subscribed = true; st.Subscriptions++; st.Expires = expires })
	s.logger().Info("onvif events: subscribed", "camera", s.Camera, "until", expires.Format(time.RFC3339))
	defer func() {
		s.m.subscribed.WithLabelValues(s.Camera).Set(0)
		s.update(func(st *SubscriberStatus) { st.Subscribed = false })
		if ctx.Err() != nil {
			// Leaving: tell the camera, so that it frees the pull point now.
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			_ = s.Client.Unsubscribe(uctx, sub.Address)
		}
	}()
	for ctx.Err() == nil {
		// Renew when less than a third of the TTL (and one pull) is left,
		// so that a slow answer never lets the subscription lapse.
		if time.Until(expires) < s.TTL/3+s.PullWait {
			cur, term, err := s.Client.Renew(ctx, sub.Address, s.TTL)
			if err != nil {
				if ctx.Err() == nil {
					s.fail("renewing", err)
				}
				return pulled
			}
			expires = localExpiry(cur, term, s.TTL)
			s.update(func(st *SubscriberStatus) { st.Renewals++; st.Expires = expires })
		}
		began := time.Now()
		res, err := s.Client.PullMessages(ctx, sub.Address, s.PullWait, pullLimit)
		if err != nil {
			if ctx.Err() == nil {
				s.fail("pulling messages", err)
			}
			return pulled
		}
		pulled = true
		if len(res.Messages) == 0 && time.Since(began) < s.PullWait/10 {
			// A camera that answers at once instead of waiting would
			// otherwise be polled in a tight loop.
			idle := time.NewTimer(min(time.Second, s.PullWait))
			select {
			case <-ctx.Done():
			case <-idle.C:
			}
			idle.Stop()
		}
		if !res.TerminationTime.IsZero() {
			expires = localExpiry(res.CurrentTime, res.TerminationTime, s.TTL)
			s.update(func(st *SubscriberStatus) { st.Expires = expires })
		}
		for _, n := range res.Messages {
			ev := Classify(n)
			if ev.Kind == KindNone {
				continue
			}
			s.m.events.WithLabelValues(s.Camera, string(ev.Kind)).Inc()
			s.update(func(st *SubscriberStatus) { st.Events++ })
			s.OnEvent(ev)
		}
	}
	return pulled
}

// localExpiry turns the device's termination time into local time through
// the device's own clock (cameras' clocks drift); without its current
// time, the termination time is taken as is, and without either, ttl from now.
func localExpiry(current, termination time.Time, ttl time.Duration) time.Time {
	now := time.Now()
	switch {
	case termination.IsZero():
		return now.Add(ttl)
	case current.IsZero():
		return termination
	}
	return now.Add(termination.Sub(current))
}
