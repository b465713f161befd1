// Package mqttbus is lanewatch's MQTT client (paho.mqtt.golang); the topic
// names of contract section 2 are in internal/topics. Components publish and subscribe through the
// small Bus interface so that they need not know about paho.
package mqttbus

import (
	"context"

	contract "github.com/lanewatch/lanewatch/internal/topics"
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
// only after the handler returned, so a consumer can make the whole batch
// durable with one disk sync.
type BatchHandler func([]Message)

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

// Topics builds the contract's topic names; it lives in internal/topics,
// with the payload types of contract section 2.
type Topics = contract.Topics

// Segment is internal/topics.Segment.
func Segment(topic string, n int) string { return contract.Segment(topic, n) }
