package mqttbus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Probe notices a subscription that stopped delivering while the connection
// looks fine (issue 11: a session taken over or lost by the broker leaves
// the client connected and deaf). Every Interval it publishes a message to
// Topic, which only it subscribes to, through the broker and back; when one
// does not come back within Timeout it logs, reports unhealthy (Healthy,
// for /readyz) and subscribes every filter of the client again. The probe's
// subscription lives in the same session as the others, so losing the
// session loses it too.
type Probe struct {
	Client     *Client
	Topic      string
	Interval   time.Duration // default 15 s
	Timeout    time.Duration // default 10 s
	Logger     *slog.Logger
	Registerer prometheus.Registerer

	nonce   string
	log     *slog.Logger
	missed  prometheus.Counter
	resubs  prometheus.Counter
	got     chan string
	mu      sync.Mutex
	healthy error
	cancel  context.CancelFunc
	done    chan struct{}
	// onChange sees every change of Healthy's answer (tests: the unhealthy
	// spell can be shorter than any polling).
	onChange func(error)
}

// ErrProbeMissed is Healthy's answer after a missed probe, until one comes back.
var ErrProbeMissed = errors.New("mqtt subscription probe missed: subscriptions not delivering")

// Start subscribes to Topic and probes in the background until Close.
func (p *Probe) Start(ctx context.Context) error {
	if p.Client == nil || p.Topic == "" || strings.ContainsAny(p.Topic, "+#") {
		return errors.New("mqttbus: probe needs a client and a topic without wildcards")
	}
	if p.Interval <= 0 {
		p.Interval = 15 * time.Second
	}
	if p.Timeout <= 0 {
		p.Timeout = 10 * time.Second
	}
	p.log = p.Logger
	if p.log == nil {
		p.log = slog.Default()
	}
	p.log = p.log.With("component", "mqttbus")
	b := make([]byte, 8)
	rand.Read(b)
	p.nonce = hex.EncodeToString(b)
	reg := p.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	p.missed = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "lanewatch_mqttbus_probe_missed_total", Help: "Self-addressed probes that did not come back through the broker in time."}))
	p.resubs = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "lanewatch_mqttbus_resubscribes_total", Help: "Times every subscription was made again after a missed probe."}))
	p.got = make(chan string, 16)
	if err := p.Client.Subscribe(p.Topic, func(m Message) {
		select {
		case p.got <- string(m.Payload):
		default:
		}
	}); err != nil {
		return err
	}
	ctx, p.cancel = context.WithCancel(ctx)
	p.done = make(chan struct{})
	go p.run(ctx)
	return nil
}

// Healthy is nil while probes come back.
func (p *Probe) Healthy() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.healthy
}

func (p *Probe) setHealthy(err error) {
	p.mu.Lock()
	changed := p.healthy != err
	p.healthy = err
	p.mu.Unlock()
	if changed && p.onChange != nil {
		p.onChange(err)
	}
}

// Close stops probing.
func (p *Probe) Close() error {
	if p.cancel != nil {
		p.cancel()
		<-p.done
	}
	return nil
}

func (p *Probe) run(ctx context.Context) {
	defer close(p.done)
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for seq := 1; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !p.Client.Connected() {
			continue // reconnecting: onConnect subscribes; /readyz says not connected
		}
		if p.once(ctx, fmt.Sprintf("%s-%d", p.nonce, seq)) {
			if p.Healthy() != nil {
				p.log.Info("MQTT subscription probe back: subscriptions deliver again")
			}
			p.setHealthy(nil)
			continue
		}
		if ctx.Err() != nil {
			return
		}
		p.missed.Inc()
		p.setHealthy(ErrProbeMissed)
		p.log.Error("MQTT subscription probe missed: subscribing again", "topic", p.Topic, "timeout", p.Timeout)
		p.resubs.Inc()
		if err := p.Client.Resubscribe(); err != nil {
			p.log.Error("MQTT resubscribe failed", "err", err)
		}
	}
}

// once publishes one probe and waits for it.
func (p *Probe) once(ctx context.Context, want string) bool {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	p.Client.PublishAsync(p.Topic, false, []byte(want), func(error) {})
	for {
		select {
		case got := <-p.got:
			if got == want {
				return true
			}
		case <-ctx.Done():
			return false
		}
	}
}

// Resubscribe sends SUBSCRIBE for every filter again (a broker keeps one
// subscription per filter and session, so this is harmless when they were
// still there).
func (c *Client) Resubscribe() error {
	c.mu.Lock()
	subs := make([]*subscription, 0, len(c.subs))
	for _, s := range c.subs {
		subs = append(subs, s)
	}
	c.mu.Unlock()
	var errs []error
	for _, s := range subs {
		tok := c.cli.Subscribe(s.filter, 1, s.deliver)
		if !tok.WaitTimeout(30 * time.Second) {
			errs = append(errs, fmt.Errorf("subscribe %s: timed out", s.filter))
		} else if err := tok.Error(); err != nil {
			errs = append(errs, fmt.Errorf("subscribe %s: %w", s.filter, err))
		}
	}
	return errors.Join(errs...)
}
