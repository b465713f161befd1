package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/lanewatch/lanewatch/internal/mqttbus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type published struct {
	Topic    string
	Retained bool
	Payload  []byte
}

// memBus is an in-memory mqttbus.Bus: it records publishes and delivers
// injected messages to matching subscriptions ('+' wildcards only).
type memBus struct {
	mu   sync.Mutex
	pubs []published
	subs map[string]mqttbus.Handler
	fail bool
}

func newMemBus() *memBus { return &memBus{subs: map[string]mqttbus.Handler{}} }

func (b *memBus) Publish(_ context.Context, topic string, retained bool, payload []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail {
		return errors.New("broker down")
	}
	b.pubs = append(b.pubs, published{topic, retained, append([]byte(nil), payload...)})
	return nil
}

func (b *memBus) Subscribe(filter string, h mqttbus.Handler) error {
	b.mu.Lock()
	b.subs[filter] = h
	b.mu.Unlock()
	return nil
}

func match(filter, topic string) bool {
	f, t := strings.Split(filter, "/"), strings.Split(topic, "/")
	if len(f) != len(t) {
		return false
	}
	for i := range f {
		if f[i] != "+" && f[i] != t[i] {
			return false
		}
	}
	return true
}

func (b *memBus) inject(m mqttbus.Message) {
	b.mu.Lock()
	var hs []mqttbus.Handler
	for f, h := range b.subs {
		if match(f, m.Topic) {
			hs = append(hs, h)
		}
	}
	b.mu.Unlock()
	for _, h := range hs {
		h(m)
	}
}

func (b *memBus) on(topic string) []published {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []published
	for _, p := range b.pubs {
		if p.Topic == topic {
			out = append(out, p)
		}
	}
	return out
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var topics = mqttbus.Topics{Prefix: "lanewatch", Site: "s1"}

type rig struct {
	eng *incidents.Engine
	al  *Alerts
	bus *memBus
	clk *clock
}

func newRig(t *testing.T, dir string, clk *clock) *rig {
	t.Helper()
	eng, err := incidents.New(incidents.EngineConfig{Site: "s1", DataDir: dir, Now: clk.Now,
		Incidents: config.Incidents{EscalationTopic: "alerts/urgent"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	bus := newMemBus()
	al, err := New(Config{Bus: bus, Topics: topics, Engine: eng, EscalationTopic: "alerts/urgent",
		ClearCheck: 10 * time.Millisecond, Now: clk.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := al.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	r := &rig{eng, al, bus, clk}
	t.Cleanup(r.close)
	return r
}

func (r *rig) close() { r.eng.Close(); r.al.Close() }

func wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func lastState(t *testing.T, b *memBus, id string) (incident.Incident, published) {
	t.Helper()
	ps := b.on(topics.IncidentState(id))
	if len(ps) == 0 {
		t.Fatalf("no state for %s", id)
	}
	p := ps[len(ps)-1]
	var inc incident.Incident
	if len(p.Payload) > 0 {
		if err := json.Unmarshal(p.Payload, &inc); err != nil {
			t.Fatal(err)
		}
	}
	return inc, p
}

func TestPublishesAlertsStateAndEscalations(t *testing.T) {
	r := newRig(t, t.TempDir(), &clock{t: time.Now()})
	r.eng.Raise(incident.Signal{Type: incident.SOS, Source: incident.Source{Gate: "north"}})
	wait(t, "alert", func() bool { return len(r.bus.on(topics.Alerts())) == 1 })
	var inc incident.Incident
	json.Unmarshal(r.bus.on(topics.Alerts())[0].Payload, &inc)
	id := inc.ID
	if inc.Type != incident.SOS || inc.State != incident.Open || r.bus.on(topics.Alerts())[0].Retained {
		t.Fatalf("alert: %+v", inc)
	}
	wait(t, "state", func() bool { return len(r.bus.on(topics.IncidentState(id))) == 1 })
	if _, p := lastState(t, r.bus, id); !p.Retained {
		t.Fatal("state not retained")
	}
	// A fold changes only the state.
	r.clk.Add(2 * time.Second)
	r.eng.Raise(incident.Signal{Type: incident.SOS, Source: incident.Source{Gate: "north"}})
	wait(t, "fold state", func() bool { return len(r.bus.on(topics.IncidentState(id))) == 2 })
	if n := len(r.bus.on(topics.Alerts())); n != 1 {
		t.Fatalf("fold alerted: %d alerts", n)
	}
	// Unacknowledged critical for 2 minutes: escalation to both topics.
	r.clk.Add(3 * time.Minute)
	wait(t, "escalation", func() bool { return len(r.bus.on("lanewatch/s1/alerts/urgent")) == 1 })
	wait(t, "second alert", func() bool { return len(r.bus.on(topics.Alerts())) == 2 })
	if got, _ := lastState(t, r.bus, id); got.State != incident.Escalated {
		wait(t, "escalated state", func() bool { got, _ := lastState(t, r.bus, id); return got.State == incident.Escalated })
	}
}

func TestAckAndResolveFromMQTT(t *testing.T) {
	r := newRig(t, t.TempDir(), &clock{t: time.Now()})
	r.eng.Raise(incident.Signal{Type: incident.GateForced, Source: incident.Source{Gate: "north"}})
	wait(t, "alert", func() bool { return len(r.bus.on(topics.Alerts())) == 1 })
	var inc incident.Incident
	json.Unmarshal(r.bus.on(topics.Alerts())[0].Payload, &inc)
	base := "lanewatch/s1/incidents/" + inc.ID

	r.bus.inject(mqttbus.Message{Topic: base + "/ack", Payload: []byte(`{"by": "patrol-07", "note": "on my way"}`)})
	got, _ := r.eng.Get(inc.ID)
	if got.State != incident.Acknowledged || got.Acks[0].By != "patrol-07" || got.Acks[0].Note != "on my way" {
		t.Fatalf("after ack: %+v", got)
	}
	wait(t, "acked state", func() bool { s, _ := lastState(t, r.bus, inc.ID); return s.State == incident.Acknowledged })

	r.bus.inject(mqttbus.Message{Topic: base + "/resolve", Payload: []byte(`{"by": "patrol-07"}`)})
	wait(t, "resolved state", func() bool { s, _ := lastState(t, r.bus, inc.ID); return s.State == incident.Resolved })
	if v := testutil.ToFloat64(r.al.commands.WithLabelValues("ack")) + testutil.ToFloat64(r.al.commands.WithLabelValues("resolve")); v != 2 {
		t.Fatalf("commands %v", v)
	}

	tests := []struct {
		topic, payload string
		retained       bool
		reason         string
	}{
		{base + "/ack", `{"by": "x"}`, false, "invalid_transition"},
		{"lanewatch/s1/incidents/inc_nope/ack", `{"by": "x"}`, false, "unknown_incident"},
		{base + "/ack", `not json`, false, "invalid_json"},
		{base + "/ack", `{"note": "who?"}`, false, "missing_by"},
		{base + "/ack", `{"by": "` + strings.Repeat("p", 65) + `"}`, false, "invalid_by"},
		{base + "/ack", `{"by": "x", "note": "` + strings.Repeat("n", 5000) + `"}`, false, "too_large"},
		{base + "/ack", `{"by": "x"}`, true, "retained"},
		{base + "/ack", ``, false, "empty"},
	}
	for _, tt := range tests {
		before := testutil.ToFloat64(r.al.rejected.WithLabelValues(tt.reason))
		r.bus.inject(mqttbus.Message{Topic: tt.topic, Payload: []byte(tt.payload), Retained: tt.retained})
		if after := testutil.ToFloat64(r.al.rejected.WithLabelValues(tt.reason)); after != before+1 {
			t.Errorf("%.40q on %s: %s not counted", tt.payload, tt.topic, tt.reason)
		}
	}
}

func TestRetainedStateClearedAfter24hAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Now()}
	r := newRig(t, dir, clk)
	for _, gate := range []string{"a", "b"} {
		r.eng.Raise(incident.Signal{Type: incident.DoorHeldOpen, Source: incident.Source{Gate: gate}})
	}
	wait(t, "alerts", func() bool { return len(r.bus.on(topics.Alerts())) == 2 })
	list, _ := r.eng.List(incidents.Filter{})
	a, b := list[1].ID, list[0].ID
	r.eng.Resolve(a, "patrol-01", "")
	clk.Add(time.Hour)
	r.eng.Resolve(b, "patrol-01", "")
	wait(t, "resolved states", func() bool { s, _ := lastState(t, r.bus, b); return s.State == incident.Resolved })
	clk.Add(23*time.Hour + time.Minute) // a is due, b not yet
	wait(t, "clear of a", func() bool { _, p := lastState(t, r.bus, a); return len(p.Payload) == 0 })
	if _, p := lastState(t, r.bus, a); !p.Retained {
		t.Fatal("clear not retained")
	}
	if _, p := lastState(t, r.bus, b); len(p.Payload) == 0 {
		t.Fatal("b cleared early")
	}
	r.close()

	// After a restart the owed clear of b still happens, from the persisted incidents.
	clk.Add(time.Hour)
	r2 := newRig(t, dir, clk)
	wait(t, "clear of b after restart", func() bool {
		ps := r2.bus.on(topics.IncidentState(b))
		return len(ps) > 0 && len(ps[len(ps)-1].Payload) == 0
	})
}

func TestPublishFailureCounted(t *testing.T) {
	r := newRig(t, t.TempDir(), &clock{t: time.Now()})
	r.bus.mu.Lock()
	r.bus.fail = true
	r.bus.mu.Unlock()
	r.eng.Raise(incident.Signal{Type: incident.Crowd, Source: incident.Source{Camera: "c"}})
	wait(t, "failure counted", func() bool { return testutil.ToFloat64(r.al.failed.WithLabelValues("alert")) == 1 })
}
