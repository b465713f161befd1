package mqttbus

import (
	"fmt"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/broker/brokertest"
)

// Messages the broker kept in the persistent session reach a subscription
// made only after the client connected (the gateway's sensors subscribe
// last): without that they sat unacknowledged in the broker's in-flight
// window and held back everything behind them.
func TestSessionQueueReachesLateSubscription(t *testing.T) {
	e := brokertest.Mosquitto(t)
	first := newClient(t, e.URL, "gateway", nil)
	if err := first.SubscribeBatch("lanewatch/test/gates/+/events", func([]Message) error { return nil }); err != nil {
		t.Fatal(err)
	}
	start(t, first)
	first.Close()

	pub := newClient(t, e.URL, "gate", nil)
	start(t, pub)
	publishN(t, pub, 0, 200) // more than the broker's in-flight window

	c := newClient(t, e.URL, "gateway", nil)
	start(t, c) // connects with no subscription yet
	time.Sleep(300 * time.Millisecond)
	got := newCollector()
	if err := c.SubscribeBatch("lanewatch/test/gates/+/events", func(ms []Message) error {
		for _, m := range ms {
			got.handle(m)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := make([]string, 200)
	for i := range want {
		want[i] = fmt.Sprint("m", i)
	}
	got.waitFor(t, 15*time.Second, "all 200 queued messages", hasSeq(want...))
}

func TestTopicMatch(t *testing.T) {
	for _, tc := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/+/c", "a/x/c", true},
		{"a/+/c", "a/x/y", false},
		{"a/+", "a/x/c", false},
		{"a/#", "a/x/c", true},
		{"a/#", "a", true}, // "#" includes the parent level (MQTT 3.1.1, 4.7.1.2)
		{"#", "a/b", true},
		{"lanewatch/s/gates/+/events", "lanewatch/s/gates/north/events", true},
		{"lanewatch/s/gates/+/events", "lanewatch/s/gates/north/commands", false},
	} {
		if got := topicMatch(tc.filter, tc.topic); got != tc.want {
			t.Errorf("topicMatch(%q, %q) = %v", tc.filter, tc.topic, got)
		}
	}
}
