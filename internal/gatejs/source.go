// Package gatejs delivers a cluster's gate events from JetStream, so that
// an event acknowledged to a gate controller is handled by whichever
// gateway holds the gate, even when the gateway that held it died before
// handling it.
//
// The embedded broker stores each QoS 1 PUBLISH in its $MQTT_msgs stream
// (subject "$MQTT.msgs." + the topic in NATS form, header Nmqtt-Pub: 1,
// payload as sent) and sends the PUBACK only once JetStream acknowledged
// that store. $MQTT_msgs keeps a message only while some consumer is
// interested in its subject (interest retention; with none, the PUBLISH is
// acknowledged and not stored). So each configured gate gets one durable,
// replicated consumer on $MQTT_msgs, filtered to its events topic: it is
// the interest that makes the broker store the gate's events and keep each
// until acknowledged. Only the gate's holder pulls from it, and it
// acknowledges a batch once the gateway committed it (vehicle log,
// incidents); a new holder resumes at the first unacknowledged event.
//
// A second stream sourced from $MQTT_msgs was tried on paper and left: the
// source's consumer is recreated by the new stream leader after a loss,
// and in between $MQTT_msgs drops what every remaining consumer acked.
package gatejs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanewatch/lanewatch/internal/mqttbus"
	"github.com/lanewatch/lanewatch/internal/topics"
)

// MQTTStream is the embedded broker's stream of QoS 1/2 messages.
const MQTTStream = "$MQTT_msgs"

const mqttSubjectPrefix = "$MQTT.msgs."

// ErrPublish: a Source only delivers.
var ErrPublish = errors.New("gatejs: a gate event source cannot publish")

// Source is the cluster's gate events as an mqttbus.BatchBus for
// sensors.Ingest: SubscribeBatch registers the handler, Hold starts or
// stops pulling a gate's events. One goroutine hands on what the held
// gates' pulls fetched, in batches across gates (one disk sync for all,
// as on a single box); handler calls are serialised.
type Source struct {
	Conn     *nats.Conn
	Topics   topics.Topics
	Gates    []string // configured gates: one durable consumer each
	Replicas int      // of the consumers; 0: the stream's
	// AckWait is how long a delivered, unacknowledged event waits before
	// it is delivered again (to the gate's holder then): the longest an
	// event handled by a gateway that died is delayed. Default 10 s.
	AckWait time.Duration
	// Batch bounds the events handed on in one call. Default 1024.
	Batch int
	// Settle, when set, is called once a batch was handled; the wait it
	// returns runs on another goroutine before the batch's events are
	// acknowledged (until the site's replicas have what the batch
	// produced). The next batch is handled meanwhile: an SOS never waits
	// for a quorum's round trip behind plate reads. When the wait fails
	// the events are given back, to come again (as duplicates, dropped by
	// the handler) once the site has them: never acknowledged before.
	Settle func() (wait func() error)
	// Early, when set, picks the events of a held gate that are handed on
	// as soon as the broker routes them, before its store's quorum and the
	// pull: an SOS is raised without waiting for them. The stored copy
	// still comes, is dropped by the handler as a duplicate (so Early must
	// pick only events with an id) and is acknowledged as usual: what
	// holds the event for a next holder is unchanged.
	Early      func(gate string, payload []byte) bool
	Logger     *slog.Logger
	Registerer prometheus.Registerer

	js      jetstream.JetStream
	log     *slog.Logger
	m       sourceMetrics
	ctx     context.Context
	cancel  context.CancelFunc
	unknown *nats.Subscription
	in      chan delivery // fetched by the pulls, for run
	runDone chan struct{}
	acks    chan ackJob // handled batches, for acker
	ackDone chan struct{}
	ackWG   sync.WaitGroup // batches handled and not yet acknowledged

	handleMu sync.Mutex // one handler call at a time
	mu       sync.Mutex
	handler  mqttbus.BatchHandler
	held     map[string]bool
	pulls    map[string]*pull
	known    map[string]bool
	closed   bool
}

type pull struct {
	ctx    context.Context // ends with stop: a lookup in progress gives up
	cancel context.CancelFunc
	stop   chan struct{}
	done   chan struct{}
}

type delivery struct {
	gate string
	m    jetstream.Msg
}

// ackJob is a handled batch waiting for its Settle wait.
type ackJob struct {
	wait func() error
	ms   []jetstream.Msg
}

// ackQueue bounds the batches handled and not yet acknowledged: beyond it
// handling waits for the site's replicas.
const ackQueue = 16

// pullExpiry is how long a pull request waits at the consumer's leader.
// The client notices a lost one (the leader moved: a gateway killed or cut
// off) after two missed heartbeats, half an expiry each: with the default
// 30 s a gate's events stalled that long after a split (CI saw an SOS not
// raised within 30 s); with 5 s, 5 s.
const pullExpiry = 5 * time.Second

// ConsumerName is the durable consumer of a gate's events.
func ConsumerName(gate string) string { return "lw-gate-" + gate }

// Subject is the NATS subject under which the broker stores an MQTT topic
// (nats-server's conversion: '.' becomes "//", '/' becomes '.'), for the
// topics lanewatch builds: no empty level, no space or NATS wildcard.
func Subject(topic string) (string, error) {
	if topic == "" || strings.ContainsAny(topic, " \t*>") || strings.HasPrefix(topic, "/") ||
		strings.HasSuffix(topic, "/") || strings.Contains(topic, "//") {
		return "", fmt.Errorf("gatejs: topic %q has no plain NATS subject", topic)
	}
	var b strings.Builder
	for _, r := range topic {
		switch r {
		case '.':
			b.WriteString("//")
		case '/':
			b.WriteByte('.')
		default:
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}

// topicOf reverses Subject.
func topicOf(subject string) string {
	return strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(subject, "//", "\x00"), ".", "/"), "\x00", ".")
}

// Start makes sure every gate's consumer exists (the same config from every
// gateway: creating it again changes nothing) and listens for events of
// unknown gates. It needs the MQTT streams, which the broker creates when
// the first MQTT client (the gateway's own) connects.
func (s *Source) Start(ctx context.Context) error {
	if s.Conn == nil {
		return errors.New("gatejs: Source needs Conn")
	}
	if s.AckWait <= 0 {
		s.AckWait = 10 * time.Second
	}
	if s.Batch <= 0 {
		s.Batch = 1024
	}
	s.log = s.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "gate events")
	s.m = newSourceMetrics(s.Registerer)
	js, err := jetstream.New(s.Conn)
	if err != nil {
		return err
	}
	s.js = js
	s.held, s.pulls, s.known = map[string]bool{}, map[string]*pull{}, map[string]bool{}
	for _, gate := range s.Gates {
		s.known[gate] = true
		if err := s.ensure(ctx, gate); err != nil {
			return err
		}
	}
	// Events of a gate not configured have no consumer: the broker does
	// not store them. They are still seen here, so that sensors counts
	// and logs them (unknown_gate) as it does on a single box.
	gates, err := Subject(s.Topics.Base() + "/gates")
	if err != nil {
		return err
	}
	if s.unknown, err = s.Conn.Subscribe(gates+".*.events", s.onRouted); err != nil {
		return err
	}
	// The server has the subscription once a round trip has been made:
	// events published after Start are seen (CI missed some without it).
	if err := s.Conn.FlushTimeout(5 * time.Second); err != nil {
		return fmt.Errorf("gatejs: unknown gates' listener: %w", err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.in, s.runDone = make(chan delivery, 4*s.Batch), make(chan struct{})
	s.acks, s.ackDone = make(chan ackJob, ackQueue), make(chan struct{})
	go s.run()
	go s.acker()
	return nil
}

func (s *Source) ensure(ctx context.Context, gate string) error {
	subj, err := Subject(s.Topics.GateEvents(gate))
	if err != nil {
		return err
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       ConsumerName(gate),
		Description:   "lanewatch: gate " + gate + "'s events, pulled by its holder",
		FilterSubject: mqttSubjectPrefix + subj,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		// Explicit: with AckAll, a new holder's first ack would also
		// acknowledge the lower sequences its dead predecessor had been
		// delivered and never handled.
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: 8192,
		Replicas:      s.Replicas,
	}
	// The stream appears with the first MQTT session; JetStream may still
	// be electing leaders after a start: retry within ctx.
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = s.js.CreateOrUpdateConsumer(cctx, MQTTStream, cfg)
		cancel()
		if err == nil {
			return nil
		}
		s.log.Warn("gate events consumer not ready yet", "gate", gate, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("gatejs: consumer for gate %s: %w", gate, err)
		case <-time.After(wait):
		}
	}
}

// Publish is not offered: a Source only delivers.
func (s *Source) Publish(context.Context, string, bool, []byte) error { return ErrPublish }

// Subscribe delivers one message per call (mqttbus.Bus).
func (s *Source) Subscribe(filter string, h mqttbus.Handler) error {
	return s.SubscribeBatch(filter, func(ms []mqttbus.Message) error {
		for _, m := range ms {
			h(m)
		}
		return nil
	})
}

// SubscribeBatch takes the gate events handler (the filter is the site's
// gate events, whatever it says) and starts the pulls of the gates held.
func (s *Source) SubscribeBatch(_ string, h mqttbus.BatchHandler) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("gatejs: closed")
	}
	s.handler = h
	for gate := range s.held {
		s.startPull(gate)
	}
	return nil
}

// Detach stops handing events on (sensors.Ingest.Close): what was fetched
// and not handled is given back for the next holder.
func (s *Source) Detach(string) {
	s.mu.Lock()
	s.handler = nil
	ps := s.pulls
	s.pulls = map[string]*pull{}
	s.mu.Unlock()
	for _, p := range ps {
		p.close()
	}
	s.handleMu.Lock() // a batch in hand is finished
	s.handleMu.Unlock()
	s.ackWG.Wait()
}

// Hold starts (held) or stops pulling a gate's events. It returns once a
// stopped gate's last batch was handled, so that the cluster frees the gate
// only then.
func (s *Source) Hold(gate string, held bool) {
	s.mu.Lock()
	if s.closed || !s.known[gate] {
		s.mu.Unlock()
		return
	}
	if held {
		s.held[gate] = true
		if s.handler != nil {
			s.startPull(gate)
		}
		s.mu.Unlock()
		return
	}
	delete(s.held, gate)
	p := s.pulls[gate]
	delete(s.pulls, gate)
	s.mu.Unlock()
	if p != nil {
		p.close()
	}
	// What run took before the release is handled now, and acknowledged
	// before the gate is freed (else the next holder would get it again
	// after AckWait); what it takes after is given back.
	s.handleMu.Lock()
	s.handleMu.Unlock()
	s.ackWG.Wait()
}

// startPull: s.mu held. It never waits for JetStream: Hold runs inside
// the cluster's OnChange, which must stop a released camera before its
// lease runs out, however slow JetStream is answering.
func (s *Source) startPull(gate string) {
	if s.pulls[gate] != nil {
		return
	}
	p := &pull{stop: make(chan struct{}), done: make(chan struct{})}
	p.ctx, p.cancel = context.WithCancel(s.ctx)
	s.pulls[gate] = p
	go func() {
		defer close(p.done)
		if cc := s.attach(gate, p); cc != nil {
			<-p.stop
			cc.Stop()
		}
	}()
}

func (p *pull) close() {
	p.cancel()
	close(p.stop)
	<-p.done
}

// attach starts fetching the gate's events for run, retrying while
// JetStream has no leader for the consumer; nil once stopped.
func (s *Source) attach(gate string, p *pull) jetstream.ConsumeContext {
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		cons, err := s.js.Consumer(ctx, MQTTStream, ConsumerName(gate))
		cancel()
		if err == nil {
			cc, err := cons.Consume(func(m jetstream.Msg) {
				select {
				case s.in <- delivery{gate, m}:
				case <-p.stop:
					_ = m.Nak() // back to the consumer for the next holder now, not after AckWait
				}
			}, jetstream.PullMaxMessages(2*s.Batch), jetstream.PullExpiry(pullExpiry), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				s.log.Debug("gate events pull", "gate", gate, "err", err)
			}))
			if err == nil {
				s.log.Info("gate events pulled here", "gate", gate)
				return cc
			}
		}
		s.log.Warn("gate events: pull not started yet", "gate", gate, "err", err)
		select {
		case <-p.stop:
			return nil
		case <-time.After(time.Second):
		}
	}
}

// run hands the held gates' events on in batches (the first waiting plus
// those already fetched behind it) and acknowledges them once the handler
// returned nil. Events of a gate released meanwhile are given back.
func (s *Source) run() {
	defer close(s.runDone)
	batch := make([]delivery, 0, s.Batch)
	ms := make([]mqttbus.Message, 0, s.Batch)
	for {
		batch, ms = batch[:0], ms[:0]
		select {
		case <-s.ctx.Done():
			return
		case d := <-s.in:
			batch = append(batch, d)
		}
	fill:
		for len(batch) < s.Batch {
			select {
			case d := <-s.in:
				batch = append(batch, d)
			default:
				break fill
			}
		}
		s.handleMu.Lock()
		s.mu.Lock()
		h := s.handler
		keep := batch[:0]
		for _, d := range batch {
			if h != nil && s.held[d.gate] {
				keep = append(keep, d)
				ms = append(ms, mqttbus.Message{Topic: s.Topics.GateEvents(d.gate), Payload: d.m.Data()})
			} else {
				_ = d.m.Nak()
				s.m.events.WithLabelValues("returned").Inc()
			}
		}
		s.mu.Unlock()
		if len(keep) == 0 {
			s.handleMu.Unlock()
			continue
		}
		err := h(ms)
		if err == nil {
			s.ackWG.Add(1) // before Hold or Detach can see the batch done
		}
		s.handleMu.Unlock()
		if err != nil {
			// Not stored (shutdown): delivered again, elsewhere or to the
			// next process; not at once, or it would spin here.
			for _, d := range keep {
				_ = d.m.NakWithDelay(time.Second)
			}
			s.m.events.WithLabelValues("returned").Add(float64(len(keep)))
			s.log.Warn("gate events not stored; given back", "events", len(keep), "err", err)
			continue
		}
		job := ackJob{ms: make([]jetstream.Msg, len(keep))}
		for i, d := range keep {
			job.ms[i] = d.m
		}
		if s.Settle != nil {
			job.wait = s.Settle()
		}
		s.acks <- job
	}
}

// acker acknowledges handled batches in order, each once its Settle wait
// returned.
func (s *Source) acker() {
	defer close(s.ackDone)
	for job := range s.acks {
		if job.wait != nil {
			if err := job.wait(); err != nil {
				for _, m := range job.ms {
					_ = m.NakWithDelay(time.Second)
				}
				s.m.events.WithLabelValues("returned").Add(float64(len(job.ms)))
				s.log.Warn("gate events handled but not yet in the site's copy; given back to come again", "events", len(job.ms), "err", err)
				s.ackWG.Done()
				continue
			}
		}
		for _, m := range job.ms {
			if err := m.Ack(); err != nil {
				s.log.Warn("gate events: ack not sent; the event comes again and is dropped as a duplicate", "subject", m.Subject(), "err", err)
			}
		}
		s.m.events.WithLabelValues("acked").Add(float64(len(job.ms)))
		s.ackWG.Done()
	}
}

func (s *Source) handle(ms []mqttbus.Message) error {
	s.handleMu.Lock()
	defer s.handleMu.Unlock()
	s.mu.Lock()
	h := s.handler
	s.mu.Unlock()
	if h == nil {
		return errors.New("gatejs: detached")
	}
	return h(ms)
}

// onRouted sees every gate event as the broker routes it, before it is
// stored. Events of gates that have no consumer go to the handler, which
// rejects them (the broker stored none of them); those Early picks of a
// gate held here are handled now, ahead of their stored copy.
func (s *Source) onRouted(m *nats.Msg) {
	topic := topicOf(m.Subject)
	gate, _, _ := strings.Cut(strings.TrimPrefix(topic, s.Topics.Base()+"/gates/"), "/")
	if !s.known[gate] {
		_ = s.handle([]mqttbus.Message{{Topic: topic, Payload: m.Data}})
		s.m.events.WithLabelValues("unknown_gate").Inc()
		return
	}
	if s.Early == nil {
		return
	}
	s.mu.Lock()
	held := s.held[gate] && s.pulls[gate] != nil
	s.mu.Unlock()
	if !held || !s.Early(gate, m.Data) {
		return
	}
	if err := s.handle([]mqttbus.Message{{Topic: topic, Payload: m.Data}}); err != nil {
		s.log.Warn("gate event not handled ahead of its stored copy; it waits for that", "gate", gate, "err", err)
		return
	}
	s.m.events.WithLabelValues("early").Inc()
}

// Close stops every pull and the unknown gates' listener.
func (s *Source) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	if s.unknown != nil {
		_ = s.unknown.Unsubscribe()
	}
	s.Detach("")
	if s.cancel != nil {
		s.cancel()
		<-s.runDone
		close(s.acks) // run sends no more
		<-s.ackDone
	}
	// What is still in s.in was fetched, not handled: for the next holder.
	for {
		select {
		case d := <-s.in:
			_ = d.m.Nak()
		default:
			return nil
		}
	}
}

type sourceMetrics struct {
	events *prometheus.CounterVec
}

func newSourceMetrics(reg prometheus.Registerer) sourceMetrics {
	m := sourceMetrics{events: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lanewatch_cluster_gate_events_total",
		Help: "Gate events pulled from JetStream by this gateway, by outcome: acked (handled), returned (not stored, delivered again), unknown_gate (no consumer, rejected), early (an SOS handled as routed, ahead of its stored copy, which is acked too).",
	}, []string{"result"})}
	if reg != nil {
		reg.MustRegister(m.events)
	}
	return m
}
