package mqttbus

import (
	"strings"
	"sync"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// maxEarly bounds the messages held for subscriptions not made yet; the
// broker's in-flight window bounds them further.
const maxEarly = 10000

// early holds messages that arrived before a subscription of theirs was
// registered: a persistent session's queue comes right after CONNACK, and
// the gateway connects before its last component (the sensors) subscribes.
// paho neither handles nor acknowledges a message without a route, so the
// broker would keep it in its in-flight window until the next reconnect, and
// hold back everything queued behind it (a restart after a full disk got
// nothing). The subscription takes them when it is registered.
type early struct {
	mu   sync.Mutex
	msgs []paho.Message
}

// onUnrouted is paho's default publish handler.
func (c *Client) onUnrouted(_ paho.Client, m paho.Message) {
	c.early.mu.Lock()
	if s := c.subFor(m.Topic()); s != nil {
		// Registered after paho chose no route.
		c.early.mu.Unlock()
		s.deliver(nil, m)
		return
	}
	if len(c.early.msgs) < maxEarly {
		c.early.msgs = append(c.early.msgs, m)
	} // beyond: not acknowledged, the broker sends it again next session
	c.early.mu.Unlock()
}

// takeEarly hands s the held messages its filter matches, in arrival order.
// Call it after s is in c.subs.
func (c *Client) takeEarly(s *subscription) {
	c.early.mu.Lock()
	var mine []paho.Message
	rest := c.early.msgs[:0]
	for _, m := range c.early.msgs {
		if topicMatch(s.filter, m.Topic()) {
			mine = append(mine, m)
		} else {
			rest = append(rest, m)
		}
	}
	clear(c.early.msgs[len(rest):])
	c.early.msgs = rest
	c.early.mu.Unlock()
	for _, m := range mine {
		s.deliver(nil, m)
	}
}

func (c *Client) subFor(topic string) *subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	for f, s := range c.subs {
		if topicMatch(f, topic) {
			return s
		}
	}
	return nil
}

// topicMatch reports whether an MQTT topic filter (with + and #) matches topic.
func topicMatch(filter, topic string) bool {
	fs, ts := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, f := range fs {
		if f == "#" {
			return true
		}
		if i >= len(ts) || (f != "+" && f != ts[i]) {
			return false
		}
	}
	return len(fs) == len(ts)
}
