// Package alerts connects the incident engine to patrol staff over MQTT
// (contract 2.2 and 2.3): every change goes to the incident's retained state
// topic, openings, escalations and severity changes to the alerts topic (and
// escalations to the escalation topic), the retained state is cleared 24 h
// after resolve, and acks/resolves from patrol clients go to the engine.
package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/lanewatch/lanewatch/internal/mqttbus"
	"github.com/prometheus/client_golang/prometheus"
)

// Engine is what alerts needs of the incident engine.
type Engine interface {
	Subscribe() (<-chan incidents.Change, func())
	Ack(id, by, note string) (incident.Incident, error)
	Resolve(id, by, note string) (incident.Incident, error)
	List(f incidents.Filter) ([]incident.Incident, error)
}

// Config configures New.
type Config struct {
	Bus    mqttbus.Bus
	Topics mqttbus.Topics
	Engine Engine
	// EscalationTopic is config incidents.escalation_topic (below the site prefix).
	EscalationTopic string
	// Extra, when set, gives what alerts carry beside the incident JSON: its
	// title and description in the site's language and its evidence links
	// (title_local, description_local, links), so that an MQTT patrol app
	// needs no console login.
	Extra func(incident.Incident) (title, description string, links map[string]string)
	// ClearAfter: how long after resolve the retained state is cleared; default 24h.
	ClearAfter time.Duration
	// ClearCheck: how often due clears are looked for; default 30s.
	ClearCheck time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
	// IdentifiedCommands: ack/resolve reach HandleIdentified from the
	// embedded broker, with the account that sent them; Start does not
	// subscribe to them on Bus (internal/gateway/mqttcommands.go).
	IdentifiedCommands bool
}

// lookback bounds the incidents scanned at start for clears still owed. A
// gateway switched off for longer than this would leave older retained
// states in the broker, so it is generous.
const lookback = 14 * 24 * time.Hour

// Alerts is the MQTT side of the incident engine.
type Alerts struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	mu       sync.Mutex
	clears   map[string]time.Time // incident id -> when its retained state is cleared
	lastWarn time.Time

	cancel context.CancelFunc
	done   sync.WaitGroup
	follow *incidents.Follower // the engine's changes to MQTT

	rejected  *prometheus.CounterVec
	commands  *prometheus.CounterVec
	published *prometheus.CounterVec
	failed    *prometheus.CounterVec
}

// New checks the config and registers metrics; Start begins the work.
func New(cfg Config) (*Alerts, error) {
	if cfg.Bus == nil || cfg.Engine == nil {
		return nil, errors.New("alerts: Bus and Engine are required")
	}
	if cfg.Topics.Prefix == "" {
		cfg.Topics.Prefix = config.DefaultTopicPrefix
	}
	if cfg.ClearAfter <= 0 {
		cfg.ClearAfter = 24 * time.Hour
	}
	if cfg.ClearCheck <= 0 {
		cfg.ClearCheck = 30 * time.Second
	}
	a := &Alerts{cfg: cfg, log: cfg.Logger, now: cfg.Now, clears: map[string]time.Time{}}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.log = a.log.With("component", "alerts")
	if a.now == nil {
		a.now = time.Now
	}
	reg := cfg.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	a.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_ack_rejected_total",
		Help: "Ack/resolve messages from MQTT refused, by reason."}, []string{"reason"})
	a.commands = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_alerts_commands_total",
		Help: "Ack/resolve messages from MQTT applied, by action."}, []string{"action"})
	a.published = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_alerts_published_total",
		Help: "Messages published, by kind (state, alert, escalation, clear)."}, []string{"kind"})
	a.failed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_alerts_publish_failed_total",
		Help: "Publishes given up after retries, by kind."}, []string{"kind"})
	for _, c := range []prometheus.Collector{a.rejected, a.commands, a.published, a.failed} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("alerts: register metrics: %w", err)
		}
	}
	return a, nil
}

// Start subscribes to acks/resolves and to the engine's changes, and
// schedules the clears still owed by incidents resolved before a restart.
func (a *Alerts) Start(ctx context.Context) error {
	ctx, a.cancel = context.WithCancel(ctx)
	// Follow the engine first so that no change made from here on is missed.
	a.follow = &incidents.Follower{Name: "alerts", Source: a.cfg.Engine, Logger: a.log,
		Handle: func(ctx context.Context, c incidents.Change) error { a.publishChange(ctx, c); return nil }}
	if err := a.follow.Start(ctx); err != nil {
		return err
	}
	unsubscribe := func() { a.follow.Close(); a.cancel() }
	resolved, err := a.cfg.Engine.List(incidents.Filter{State: incident.Resolved, Since: a.now().Add(-lookback), Limit: 1 << 30})
	if err != nil {
		unsubscribe()
		return fmt.Errorf("alerts: list resolved incidents: %w", err)
	}
	for _, inc := range resolved {
		a.scheduleClear(inc)
	}
	for _, s := range []struct {
		filter string
		action string
	}{{a.cfg.Topics.IncidentAcks(), "ack"}, {a.cfg.Topics.IncidentResolves(), "resolve"}} {
		action := s.action
		if a.cfg.IdentifiedCommands {
			break
		}
		if err := a.cfg.Bus.Subscribe(s.filter, func(m mqttbus.Message) { a.handleCommand(action, m, "") }); err != nil {
			unsubscribe()
			return fmt.Errorf("alerts: subscribe %s: %w", s.filter, err)
		}
	}
	a.done.Add(1)
	go func() {
		defer a.done.Done()
		t := time.NewTicker(a.cfg.ClearCheck)
		defer t.Stop()
		for {
			a.clearDue(ctx)
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	return nil
}

// payload is the contract's incident JSON, with Extra's fields beside.
type payload struct {
	incident.Incident
	TitleLocal       string            `json:"title_local,omitempty"`
	DescriptionLocal string            `json:"description_local,omitempty"`
	Links            map[string]string `json:"links,omitempty"`
}

func (a *Alerts) publishChange(ctx context.Context, c incidents.Change) {
	p := payload{Incident: c.Incident}
	if a.cfg.Extra != nil {
		p.TitleLocal, p.DescriptionLocal, p.Links = a.cfg.Extra(c.Incident)
	}
	payload, err := json.Marshal(p)
	if err != nil {
		a.log.Error("encoding incident", "id", c.Incident.ID, "err", err)
		return
	}
	if c.Alert() {
		a.publish(ctx, "alert", a.cfg.Topics.Alerts(), false, payload)
	}
	if c.Escalated() {
		a.publish(ctx, "escalation", a.cfg.Topics.Escalations(a.cfg.EscalationTopic), false, payload)
	}
	a.publish(ctx, "state", a.cfg.Topics.IncidentState(c.Incident.ID), true, payload)
	if c.Incident.State == incident.Resolved {
		a.scheduleClear(c.Incident)
	}
}

// publish tries a few times: the retained state is corrected by the
// incident's next change anyway, and waiting longer would hold up alerts
// for other incidents behind this one.
func (a *Alerts) publish(ctx context.Context, kind, topic string, retained bool, payload []byte) {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * time.Second):
			case <-ctx.Done():
				return
			}
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = a.cfg.Bus.Publish(pctx, topic, retained, payload)
		cancel()
		if err == nil {
			a.published.WithLabelValues(kind).Inc()
			return
		}
	}
	a.failed.WithLabelValues(kind).Inc()
	a.log.Error("publish failed", "topic", topic, "err", err)
}

func (a *Alerts) scheduleClear(inc incident.Incident) {
	if inc.ResolvedAt == nil {
		return
	}
	a.mu.Lock()
	a.clears[inc.ID] = inc.ResolvedAt.Add(a.cfg.ClearAfter)
	a.mu.Unlock()
}

func (a *Alerts) clearDue(ctx context.Context) {
	now := a.now()
	var due []string
	a.mu.Lock()
	for id, at := range a.clears {
		if !at.After(now) {
			due = append(due, id)
		}
	}
	a.mu.Unlock()
	for _, id := range due {
		// An empty retained payload removes the retained message (MQTT 3.1.1 §3.3.1.3).
		if err := a.cfg.Bus.Publish(ctx, a.cfg.Topics.IncidentState(id), true, nil); err != nil {
			a.warn("clearing retained state failed; will retry", "id", id, "err", err)
			continue
		}
		a.published.WithLabelValues("clear").Inc()
		a.mu.Lock()
		delete(a.clears, id)
		a.mu.Unlock()
	}
}

func (a *Alerts) incidentID(topic, action string) string {
	prefix := strings.TrimSuffix(a.cfg.Topics.IncidentState(""), "/state") // ".../incidents/"
	id, ok := strings.CutPrefix(topic, prefix)
	if !ok {
		return ""
	}
	id, ok = strings.CutSuffix(id, "/"+action)
	if !ok || id == "" || strings.Contains(id, "/") {
		return ""
	}
	return id
}

// handleCommand applies one ack/resolve. It runs on the MQTT client's
// delivery goroutine and never fails the caller: bad input is counted and
// logged at most once a second.
// HandleIdentified handles an ack or resolve the embedded broker delivered
// with the account that published it: that account is recorded as "by"
// (the payload's "by" is ignored). An empty account (the broker could not
// tell) is refused. ok reports that the incident changed, with its id and
// the note, for the audit log.
func (a *Alerts) HandleIdentified(action string, m mqttbus.Message, account string) (id, note string, ok bool) {
	if account == "" {
		a.refuse("unauthenticated", m.Topic, "sender unknown")
		return "", "", false
	}
	return a.handleCommand(action, m, account)
}

func (a *Alerts) handleCommand(action string, m mqttbus.Message, account string) (string, string, bool) {
	if m.Retained {
		// A retained command is stale by definition: replaying it at every
		// reconnect would ack incidents nobody looked at.
		a.refuse("retained", m.Topic, "retained ack/resolve ignored")
		return "", "", false
	}
	id := a.incidentID(m.Topic, action)
	if id == "" {
		a.refuse("bad_topic", m.Topic, "no incident id in topic")
		return "", "", false
	}
	cmd, err := DecodeCommand(m.Payload)
	var re *RejectError
	if account != "" && errors.As(err, &re) && (re.Reason == "missing_by" || re.Reason == "invalid_by") {
		// "by" is ignored here, so its faults do not matter.
		var c Command
		_ = json.Unmarshal(m.Payload, &c)
		cmd, err = Command{Note: c.Note}, nil
	}
	if account != "" {
		cmd.By = account
	}
	if err != nil {
		errors.As(err, &re)
		a.refuse(re.Reason, m.Topic, err.Error())
		return "", "", false
	}
	if action == "ack" {
		_, err = a.cfg.Engine.Ack(id, cmd.By, cmd.Note)
	} else {
		_, err = a.cfg.Engine.Resolve(id, cmd.By, cmd.Note)
	}
	switch {
	case errors.Is(err, incidents.ErrNotFound):
		a.refuse("unknown_incident", m.Topic, err.Error())
	case errors.Is(err, incidents.ErrInvalidTransition):
		a.refuse("invalid_transition", m.Topic, err.Error())
	case err != nil:
		a.refuse("engine_error", m.Topic, err.Error())
	default:
		a.commands.WithLabelValues(action).Inc()
		a.log.Info("incident "+action+" from MQTT", "id", id, "by", cmd.By)
		return id, cmd.Note, true
	}
	return "", "", false
}

func (a *Alerts) refuse(reason, topic, msg string) {
	a.rejected.WithLabelValues(reason).Inc()
	a.warn("ack/resolve rejected", "reason", reason, "topic", topic, "err", msg)
}

// warn logs at most once a second, so a misbehaving client cannot flood the log.
func (a *Alerts) warn(msg string, args ...any) {
	a.mu.Lock()
	now := a.now()
	ok := now.Sub(a.lastWarn) >= time.Second || now.Before(a.lastWarn)
	if ok {
		a.lastWarn = now
	}
	a.mu.Unlock()
	if ok {
		a.log.Warn(msg, args...)
	}
}

// Close stops publishing. Close the engine first: then Close publishes the
// changes the engine still queued (up to 5 s) before it stops.
func (a *Alerts) Close() error {
	if a.cancel == nil {
		return nil
	}
	// The engine closes first: the follower publishes what it still owes
	// (within incidents.DefaultDrain) before the clears stop.
	a.follow.Close()
	a.cancel()
	a.done.Wait()
	return nil
}
