package alerts

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/lanewatch/lanewatch/internal/mqttbus"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

func mqttClient(t *testing.T, broker, id string) *mqttbus.Client {
	t.Helper()
	c, err := mqttbus.New(mqttbus.Config{Broker: broker, ClientID: id, Topics: topics, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func startClient(t *testing.T, c *mqttbus.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
}

// A patrol client on a real broker gets the alert, acknowledges it, and
// the incident's retained state says so, also to a client that comes later.
func TestPatrolAckThroughMosquitto(t *testing.T) {
	broker := testenv.StartMosquitto(t)
	eng, err := incidents.New(incidents.EngineConfig{Site: "s1", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	gw := mqttClient(t, broker.URL, "gw-1")
	al, err := New(Config{Bus: gw, Topics: topics, Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	if err := al.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(); al.Close() })
	startClient(t, gw)

	patrol := mqttClient(t, broker.URL, "patrol-07")
	alerts := make(chan incident.Incident, 16)
	patrol.Subscribe(topics.Alerts(), func(m mqttbus.Message) {
		var inc incident.Incident
		if json.Unmarshal(m.Payload, &inc) == nil {
			alerts <- inc
		}
	})
	startClient(t, patrol)

	eng.Raise(incident.Signal{Type: incident.GateForced, Source: incident.Source{Gate: "north"}})
	var inc incident.Incident
	select {
	case inc = <-alerts:
	case <-time.After(10 * time.Second):
		t.Fatal("patrol got no alert")
	}
	if inc.Type != incident.GateForced || inc.State != incident.Open {
		t.Fatalf("alert %+v", inc)
	}
	ack, _ := json.Marshal(Command{By: "patrol-07", Note: "on my way"})
	if err := patrol.Publish(t.Context(), "lanewatch/s1/incidents/"+inc.ID+"/ack", false, ack); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ := eng.Get(inc.ID)
		if got.State == incident.Acknowledged {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ack over MQTT not applied: %+v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A client connecting now gets the retained state: acknowledged by patrol-07.
	wall := mqttClient(t, broker.URL, "wall-1")
	states := make(chan incident.Incident, 16)
	wall.Subscribe(topics.IncidentState(inc.ID), func(m mqttbus.Message) {
		var s incident.Incident
		if json.Unmarshal(m.Payload, &s) == nil {
			states <- s
		}
	})
	startClient(t, wall)
	timeout := time.After(10 * time.Second)
	for {
		select {
		case s := <-states:
			if s.State == incident.Acknowledged && len(s.Acks) == 1 && s.Acks[0].By == "patrol-07" {
				return
			}
		case <-timeout:
			t.Fatal("retained state never showed the ack")
		}
	}
}
