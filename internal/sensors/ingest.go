package sensors

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanewatch/lanewatch/internal/logx"
	"github.com/lanewatch/lanewatch/internal/mqttbus"
)

// ReasonDuplicate labels repeats dropped by the dedup (not a RejectError:
// the payload was fine, we had it already).
const ReasonDuplicate = "duplicate"

// ReasonUnknownGate labels events from a gate missing from Gates.
const ReasonUnknownGate = "unknown_gate"

// Ingest subscribes to every gate's events topic, decodes, deduplicates and
// hands accepted events to Handle. Nothing a sender does makes it fail.
//
// Events from gates not listed in Gates are rejected (unknown_gate): they
// come from no device the site knows, and an SOS from one would open a real
// critical incident.
type Ingest struct {
	Bus     mqttbus.Bus
	Topics  mqttbus.Topics
	Decoder *Decoder
	// Handle receives accepted events in arrival order, one at a time. It
	// runs on the bus's delivery goroutine; the message is acknowledged to
	// the broker after Handle returns.
	Handle func(Event)
	// HandleBatch, when set, is used instead of Handle: it receives the
	// accepted events of one delivery batch (mqttbus.BatchBus), in arrival
	// order, in one call, and the batch's messages are acknowledged after it
	// returns nil. A consumer can thus make the whole batch durable with one
	// disk sync. An error (the events could not be stored) leaves the batch
	// unacknowledged, so the broker sends it again, and forgets its ids, so
	// that the repeat is not taken for a duplicate. With a Bus that cannot
	// batch it gets one event per call.
	HandleBatch func([]Event) error
	Gates       []string // configured gate ids; nil: no check (tests, benchmarks), empty: every gate is unknown
	Logger      *slog.Logger
	Registerer  prometheus.Registerer
	Now         func() time.Time // default time.Now; tests

	dedup                               Dedup
	known                               map[string]bool
	log                                 *slog.Logger
	limiter                             logx.Throttle // one reject line per gate and second
	m                                   ingestMetrics
	in, processed, rejected, duplicates atomic.Uint64
	closed                              atomic.Bool
	busy                                sync.WaitGroup
	prefix                              string
}

// Counts are Ingest's totals: In = Processed + Rejected + Duplicates once
// every received message has been handled.
type Counts struct {
	In, Processed, Rejected, Duplicates uint64
}

// Counts returns the totals so far.
func (g *Ingest) Counts() Counts {
	// Read "in" last so that a concurrent message can only make In larger,
	// never smaller, than the sum.
	c := Counts{Processed: g.processed.Load(), Rejected: g.rejected.Load(), Duplicates: g.duplicates.Load()}
	c.In = g.in.Load()
	return c
}

// Start subscribes to AllGateEvents. Errors are configuration errors.
func (g *Ingest) Start(ctx context.Context) error {
	if g.Bus == nil || g.Decoder == nil || (g.Handle == nil && g.HandleBatch == nil) {
		return errors.New("sensors: Ingest needs Bus, Decoder and Handle or HandleBatch")
	}
	if len(g.Decoder.Salt) < 16 {
		return errors.New("sensors: Decoder.Salt must be at least 16 bytes (LoadOrCreateSalt)")
	}
	if g.Now == nil {
		g.Now = time.Now
	}
	g.log = g.Logger
	if g.log == nil {
		g.log = slog.Default()
	}
	g.log = g.log.With("component", "sensors")
	g.limiter = logx.Throttle{Log: g.log, Interval: time.Second}
	if g.Gates != nil {
		g.known = map[string]bool{}
		for _, id := range g.Gates {
			g.known[id] = true
		}
	}
	g.m = newIngestMetrics(g.Registerer)
	g.prefix = g.Topics.Prefix + "/" + g.Topics.Site + "/gates/"
	if err := ctx.Err(); err != nil {
		return err
	}
	if bb, ok := g.Bus.(mqttbus.BatchBus); ok {
		return bb.SubscribeBatch(g.Topics.AllGateEvents(), g.onBatch)
	}
	return g.Bus.Subscribe(g.Topics.AllGateEvents(), g.onMessage)
}

// gateOf takes <gate> out of <prefix>/<site>/gates/<gate>/events. Cut by
// the known prefix rather than by segment index: the prefix may contain '/'.
func (g *Ingest) gateOf(topic string) string {
	rest, ok := strings.CutPrefix(topic, g.prefix)
	if !ok {
		return ""
	}
	gate, ok := strings.CutSuffix(rest, "/events")
	if !ok {
		return ""
	}
	return gate
}

func (g *Ingest) onMessage(msg mqttbus.Message) {
	g.onBatch([]mqttbus.Message{msg})
}

// onBatch decodes and deduplicates a batch of messages and hands the
// accepted events on in one call (HandleBatch) or one by one (Handle). It
// returns only once they have been handled, so that the bus acknowledges
// nothing unhandled; an error leaves the batch unacknowledged.
func (g *Ingest) onBatch(msgs []mqttbus.Message) error {
	if g.closed.Load() {
		// Only reachable with a Bus that cannot detach (see Close).
		return nil
	}
	g.busy.Add(1)
	defer g.busy.Done()
	evs := make([]Event, 0, len(msgs))
	for _, msg := range msgs {
		if ev, ok := g.accept(msg); ok {
			evs = append(evs, ev)
		}
	}
	if len(evs) == 0 {
		return nil
	}
	if g.HandleBatch != nil {
		if err := g.handleBatch(evs); err != nil {
			for _, ev := range evs {
				g.dedup.Forget(ev.Gate, ev.ID)
			}
			g.m.notStored.Add(float64(len(evs)))
			return err
		}
		g.processed.Add(uint64(len(evs)))
		return nil
	}
	for _, ev := range evs {
		g.handle(ev)
		g.processed.Add(1)
	}
	return nil
}

// accept counts msg in and decodes it; false when it was rejected or a
// duplicate (counted as such).
func (g *Ingest) accept(msg mqttbus.Message) (Event, bool) {
	g.in.Add(1)
	now := g.Now()
	gate := g.gateOf(msg.Topic)
	ev, err := g.Decoder.Decode(gate, msg.Payload, now)
	if err != nil {
		var re *RejectError
		if !errors.As(err, &re) {
			re = &RejectError{Reason: ReasonInvalidJSON, Msg: err.Error()}
		}
		g.rejected.Add(1)
		g.m.rejected.WithLabelValues(re.Reason).Inc()
		g.logReject(gate, now, re)
		return Event{}, false
	}
	if g.known != nil && !g.known[ev.Gate] {
		g.rejected.Add(1)
		g.m.rejected.WithLabelValues(ReasonUnknownGate).Inc()
		g.logReject(gate, now, &RejectError{Reason: ReasonUnknownGate, Field: "gate", Msg: "gate not in the config"})
		return Event{}, false
	}
	if g.dedup.Seen(ev.Gate, ev.ID, now) {
		g.duplicates.Add(1)
		g.m.rejected.WithLabelValues(ReasonDuplicate).Inc()
		return Event{}, false
	}
	g.m.events.WithLabelValues(ev.Gate, string(ev.Type)).Inc()
	return ev, true
}

func (g *Ingest) handle(ev Event) {
	defer func() {
		if r := recover(); r != nil {
			g.m.handlePanics.Inc()
			g.log.Error("gate event handler panicked", "gate", ev.Gate, "type", ev.Type, "panic", r)
		}
	}()
	g.Handle(ev)
}

func (g *Ingest) handleBatch(evs []Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			g.m.handlePanics.Inc()
			g.log.Error("gate event batch handler panicked", "events", len(evs), "first_gate", evs[0].Gate, "panic", r)
			err = nil // sent again, it would panic again
		}
	}()
	return g.HandleBatch(evs)
}

func (g *Ingest) logReject(gate string, now time.Time, re *RejectError) {
	if !GateIDPattern.MatchString(gate) {
		gate = "" // never a log key or line made of hostile bytes
	}
	g.limiter.LogAt(now, slog.LevelWarn, "reject:"+gate, "gate event rejected",
		"gate", gate, "reason", re.Reason, "field", re.Field, "detail", re.Msg)
}

// detacher is implemented by mqttbus.Client: stop local delivery without
// giving up the broker-side subscription.
type detacher interface{ Detach(filter string) }

// Close stops handing on events and waits for a Handle in progress. With a
// Bus that can detach (mqttbus.Client), events arriving after Close are
// left unacknowledged for the next process, whatever the order in which the
// gateway closes the Bus and Ingest. With another Bus, close the Bus first:
// what reaches a closed Ingest is dropped.
func (g *Ingest) Close() error {
	if d, ok := g.Bus.(detacher); ok && g.prefix != "" {
		d.Detach(g.Topics.AllGateEvents())
	}
	g.closed.Store(true)
	g.busy.Wait()
	return nil
}

type ingestMetrics struct {
	events, rejected *prometheus.CounterVec
	handlePanics     prometheus.Counter
	notStored        prometheus.Counter
}

func newIngestMetrics(reg prometheus.Registerer) ingestMetrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := ingestMetrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanewatch_sensor_events_total", Help: "Accepted gate/door events by gate and type."}, []string{"gate", "type"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanewatch_sensor_rejected_total", Help: "Gate payloads rejected, by reason (duplicate: dropped repeat)."}, []string{"reason"}),
		handlePanics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lanewatch_sensor_handler_panics_total", Help: "Event handlers that panicked."}),
		notStored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lanewatch_sensor_not_stored_total", Help: "Accepted events their handler could not store; left unacknowledged for the broker to resend."}),
	}
	for _, c := range []prometheus.Collector{m.events, m.rejected, m.handlePanics, m.notStored} {
		// A second Ingest on one registry is a wiring bug; say so at start.
		reg.MustRegister(c)
	}
	for _, r := range append(Reasons, ReasonDuplicate, ReasonUnknownGate) {
		m.rejected.WithLabelValues(r)
	}
	return m
}
