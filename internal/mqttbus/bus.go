// Package mqttbus is lanewatch's MQTT client (paho.mqtt.golang) and the topic
// names of contract section 2. Components publish and subscribe through the
// small Bus interface so that they need not know about paho.
package mqttbus

import (
	"context"
	"strings"

	"github.com/lanewatch/lanewatch/internal/config"
)

// Message is one received MQTT message.
type Message struct {
	Topic    string
	Payload  []byte
	Retained bool
}

// Handler handles one message. It runs on the client's delivery goroutine for
// its subscription, so it must not block for long.
type Handler func(Message)

// BatchHandler handles the messages of one subscription in batches: each
// call gets the oldest message not yet handled plus those already queued
// behind it, in order. The batch is acknowledged to the broker (in order)
// only after the handler returned nil, so a consumer can make the whole
// batch durable with one disk sync. A handler that could not keep the batch
// (its store failed) returns an error: the batch is then not acknowledged,
// the broker keeps it and sends it again with the next session (reconnect or
// restart).
type BatchHandler func([]Message) error

// BatchBus is implemented by buses that can deliver in batches
// (mqttbus.Client). Consumers type-assert for it and fall back to Subscribe.
type BatchBus interface {
	SubscribeBatch(filter string, h BatchHandler) error
}

// Bus is what components need of MQTT. Everything lanewatch sends is QoS 1.
type Bus interface {
	Publish(ctx context.Context, topic string, retained bool, payload []byte) error
	Subscribe(filter string, h Handler) error
}

// Topics builds the contract's topic names for one site.
type Topics struct {
	Prefix string // default "lanewatch"
	Site   string
}

func (t Topics) base() string { return t.Prefix + "/" + t.Site }

func (t Topics) GateEvents(gate string) string   { return t.base() + "/gates/" + gate + "/events" }
func (t Topics) AllGateEvents() string           { return t.base() + "/gates/+/events" }
func (t Topics) GateCommands(gate string) string { return t.base() + "/gates/" + gate + "/commands" }
func (t Topics) Alerts() string                  { return t.base() + "/alerts" }
func (t Topics) IncidentState(id string) string  { return t.base() + "/incidents/" + id + "/state" }
func (t Topics) IncidentAcks() string            { return t.base() + "/incidents/+/ack" }
func (t Topics) IncidentResolves() string        { return t.base() + "/incidents/+/resolve" }
func (t Topics) CameraStatus(camera string) string {
	return t.base() + "/cameras/" + camera + "/status"
}
func (t Topics) Passages() string               { return t.base() + "/vehicles/passages" }
func (t Topics) GatewayStatus(gw string) string { return t.base() + "/gateway/" + gw + "/status" }

// Escalations is the extra topic that escalated incidents go to (below the site prefix).
func (t Topics) Escalations(sub string) string {
	if sub == "" {
		sub = config.DefaultEscalation
	}
	return t.base() + "/" + strings.Trim(sub, "/")
}

// Segment returns the n-th '/'-separated segment of topic ("" when absent);
// used to take the gate or incident id out of a wildcard match.
func Segment(topic string, n int) string {
	parts := strings.Split(topic, "/")
	if n < 0 || n >= len(parts) {
		return ""
	}
	return parts[n]
}
