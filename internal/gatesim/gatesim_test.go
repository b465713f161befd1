package gatesim

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/mqttbus"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// The simulator publishes contract gate events over a real broker from Start
// and nothing once Close has returned.
func TestPublishesFromStartUntilClose(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	topics := mqttbus.Topics{Prefix: "lanewatch", Site: "s1"}
	c, err := mqttbus.New(mqttbus.Config{Broker: mq.URL, ClientID: "gatesim-test", Topics: topics, DataDir: t.TempDir(),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var types []string
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(types) }
	if err := c.Subscribe(topics.GateEvents("north"), func(m mqttbus.Message) {
		var p payload
		if err := json.Unmarshal(m.Payload, &p); err != nil || p.ID == "" || p.Type == "" {
			t.Errorf("payload %s: %v", m.Payload, err)
		}
		mu.Lock()
		types = append(types, p.Type)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	s := &Sim{Bus: c, Topics: topics, Gate: "north", Every: 20 * time.Millisecond, Seed: 1, Logger: slog.New(slog.DiscardHandler)}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for count() < 8 {
		if time.Now().After(deadline) {
			t.Fatalf("%d events within 10 s", count())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // what was published before Close arrives
	settled := count()
	time.Sleep(500 * time.Millisecond)
	if n := count(); n != settled {
		t.Fatalf("%d events after Close", n-settled)
	}
}
