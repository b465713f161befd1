// Package gatesim publishes simulated gate traffic for the demo (`make run`):
// cars of residents and visitors arriving and leaving through a gate with
// plate reads, barrier cycles and loop passes, the odd pedestrian door, and
// now and then a car on the watch list. It publishes real contract payloads
// over MQTT, so the gateway handles them exactly as it would a gate controller's.
package gatesim

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/lanewatch/lanewatch/internal/component"
	"github.com/lanewatch/lanewatch/internal/mqttbus"
)

// Sim is the traffic generator for one gate.
type Sim struct {
	Bus    mqttbus.Bus
	Topics mqttbus.Topics
	Gate   string
	// Plates to draw from: residents first, then visitors; Watch is drawn rarely.
	Residents []string
	Visitors  []string
	Watch     []string
	// Every is the mean time between arrivals; default 20 s.
	Every  time.Duration
	Logger *slog.Logger
	Seed   uint64

	inside []string
	seq    int
	loop   component.Goroutine
}

type payload struct {
	ID         string  `json:"id"`
	TS         string  `json:"ts"`
	Type       string  `json:"type"`
	Plate      string  `json:"plate,omitempty"`
	Direction  string  `json:"direction,omitempty"`
	Confidence float64 `json:"confidence,omitempty"`
	Lane       *int    `json:"lane,omitempty"`
	Credential string  `json:"credential,omitempty"`
}

// Start publishes on a goroutine of its own until Close.
func (s *Sim) Start(ctx context.Context) error {
	s.loop.Go(ctx, s.run)
	return nil
}

// Close stops publishing and waits for a publish in progress.
func (s *Sim) Close() error { return s.loop.Stop() }

func (s *Sim) run(ctx context.Context) error {
	if s.Every <= 0 {
		s.Every = 20 * time.Second
	}
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	rng := rand.New(rand.NewPCG(s.Seed, 0x5eed))
	for {
		wait := time.Duration(float64(s.Every) * (0.5 + rng.Float64()))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		for _, p := range s.step(rng, time.Now()) {
			b, _ := json.Marshal(p)
			if err := s.Bus.Publish(ctx, s.Topics.GateEvents(s.Gate), false, b); err != nil && ctx.Err() == nil {
				log.Warn("gate simulator: publish failed", "gate", s.Gate, "err", err)
			}
		}
	}
}

// step returns the events of one thing happening at the gate.
func (s *Sim) step(rng *rand.Rand, now time.Time) []payload {
	lane := 1
	ev := func(typ string) payload {
		s.seq++
		return payload{ID: fmt.Sprintf("sim-%s-%d-%d", s.Gate, now.Unix(), s.seq), TS: now.Format(time.RFC3339Nano), Type: typ, Lane: &lane}
	}
	switch r := rng.Float64(); {
	case r < 0.1: // a pedestrian with a card through the side door
		g := ev("access_granted")
		g.Direction = "in"
		g.Credential = fmt.Sprintf("card-%04d", rng.IntN(9999))
		return []payload{g, ev("door_open"), ev("door_close")}
	case len(s.inside) > 0 && r < 0.5: // a car leaves
		i := rng.IntN(len(s.inside))
		plate := s.inside[i]
		s.inside = append(s.inside[:i], s.inside[i+1:]...)
		return s.cycle(ev, plate, "out", rng)
	default: // a car arrives
		var plate string
		switch {
		case len(s.Watch) > 0 && rng.Float64() < 0.03:
			plate = s.Watch[rng.IntN(len(s.Watch))]
		case len(s.Visitors) > 0 && rng.Float64() < 0.3:
			plate = s.Visitors[rng.IntN(len(s.Visitors))]
		case len(s.Residents) > 0:
			plate = s.Residents[rng.IntN(len(s.Residents))]
		default:
			plate = fmt.Sprintf("沪A%05d", rng.IntN(99999))
		}
		s.inside = append(s.inside, plate)
		return s.cycle(ev, plate, "in", rng)
	}
}

func (s *Sim) cycle(ev func(string) payload, plate, dir string, rng *rand.Rand) []payload {
	read := ev("plate_read")
	read.Plate, read.Direction, read.Confidence = plate, dir, 0.85+0.14*rng.Float64()
	open := ev("barrier_open")
	open.Plate = plate
	loop := ev("loop")
	loop.Direction = dir
	return []payload{read, open, loop, ev("barrier_close")}
}
