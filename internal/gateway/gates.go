package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/lanewatch/lanewatch/internal/component"
	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/gaterules"
	"github.com/lanewatch/lanewatch/internal/gatesim"
	"github.com/lanewatch/lanewatch/internal/sensors"
	"github.com/lanewatch/lanewatch/internal/topics"
	"github.com/lanewatch/lanewatch/internal/vehicles"
)

// handleGateEvents fans a batch of accepted sensor events out to the gate
// rules and InfluxDB event by event, in order, then to the vehicle log (one
// transaction, one fsync for the batch). It runs on the sensor
// subscription's delivery goroutine; the broker gets the batch's PUBACKs
// after it returns nil, so an event is acknowledged only once the vehicle log
// and every incident it raised are on disk. The rules go first so that an
// SOS alerts even while the disk fails.
func (g *Gateway) handleGateEvents(evs []sensors.Event) error {
	if evs = g.heldGateEvents(evs); len(evs) == 0 {
		return nil // in a cluster, each gate's holder handles its events (cluster.go)
	}
	for _, ev := range evs {
		g.gateRules.Handle(ev)
		if g.Influx != nil {
			g.Influx.GateEvent(ev.Gate, string(ev.Type), ev.TS)
		}
	}
	// A failed commit keeps nothing; returning nil would acknowledge events
	// the disk does not have. So: retry, holding the subscription (the
	// broker keeps what follows, unacknowledged, within its in-flight
	// window), until the disk takes them. The incidents the rules raised are
	// in the engine's memory meanwhile; Flush writes them. At shutdown the
	// batch is returned unstored: not acknowledged, the broker sends it to
	// the next process.
	wait := 100 * time.Millisecond
	for {
		err := g.Vehicles.HandleBatch(evs)
		g.diskFailed("vehicles", err)
		if err == nil {
			err = g.Incidents.Flush()
			g.diskFailed("incidents", err)
		}
		if err == nil {
			return nil // in a cluster acknowledged once the site has them too (settleGateEvents)
		}
		select {
		case <-time.After(wait):
		case <-g.stopping:
			return fmt.Errorf("gate events not stored at shutdown: %w", err)
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func (g *Gateway) diskFailed(store string, err error) {
	if g.disk != nil {
		g.disk.failed(store, err)
	}
}

// handleGateEvent is handleGateEvents for one event (a Bus without batches).
func (g *Gateway) handleGateEvent(ev sensors.Event) {
	_ = g.handleGateEvents([]sensors.Event{ev})
}

func (g *Gateway) startGateRules(ctx context.Context) error {
	r := &gaterules.Rules{Gates: g.Config.Gates, Vehicles: g.Vehicles, Raiser: g.Incidents,
		Snapshot: g.gateSnapshot, Logger: g.log, Registerer: g.Registry}
	g.gateRules = r
	if err := g.use(ctx, component.Named("gate rules", r)); err != nil {
		return err
	}
	g.Vehicles.OnOverstay = r.Overstay
	f, err := newPassageFeed(g.Bus, g.Topics.Passages(), g.log, g.Registry)
	if err != nil {
		return err
	}
	if err := g.use(ctx, component.Named("passage feed", f)); err != nil {
		return err
	}
	g.passages = f
	g.Vehicles.OnPassage = g.onPassage
	return nil
}

// gateSnapshot is a JPEG from a gate camera now, for gate incidents.
func (g *Gateway) gateSnapshot(camera string) ([]byte, error) {
	if g.Cameras == nil {
		return nil, console.ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return g.Cameras.Snapshot(ctx, camera)
}

// onPassage publishes each passage (contract 2.3 and 5), with a snapshot from
// the gate's first camera when it has one, and writes it to InfluxDB.
func (g *Gateway) onPassage(p vehicles.Passage) {
	if s := g.siteInside.Load(); s != nil {
		s.Record(p) // the site's inside set, in a cluster (siteledger.go)
	}
	if cams := g.gateCameras(p.Gate); len(cams) > 0 && g.Cameras != nil {
		if err := g.passageSnapshot(&p, cams[0]); err != nil {
			g.log.Warn("passage without snapshot", "passage", p.ID, "camera", cams[0], "err", err)
		}
	}
	if b, err := json.Marshal(p); err == nil {
		g.passages.Publish(b)
	}
	if g.Influx != nil {
		// Plates are personal data: InfluxDB gets the keyed pseudonym
		// unless the plate is on the watch list.
		ip := p
		ip.Plate = g.Vehicles.PlateOutside(p.Plate)
		g.Influx.Passage(ip)
	}
	if g.Console != nil {
		g.Console.PublishPassage(consolePassage(p)) // the wall's live vehicle log
	}
}

func (g *Gateway) passageSnapshot(p *vehicles.Passage, camera string) error {
	jpeg, err := g.gateSnapshot(camera)
	if err != nil {
		return err
	}
	if err := g.Evidence.PutSnapshot(passageEvidenceID(p.ID), jpeg); err != nil {
		return err
	}
	link, err := g.Vehicles.SetSnapshot(p.ID)
	if err != nil {
		return err
	}
	p.Snapshot = link
	return nil
}

func (g *Gateway) gateCameras(gate string) []string {
	for _, gt := range g.Config.Gates {
		if gt.ID == gate {
			return gt.Cameras
		}
	}
	return nil
}

// passageEvidenceID keeps passage snapshots apart from incident evidence in
// the same store, so that retention and the disk cap cover both.
func passageEvidenceID(id string) string { return "passage_" + id }

// OpenGate publishes the barrier command of contract 2.3. The console audits
// it; the gate rules are told so that the opening is not taken for a forced gate.
func (g *Gateway) OpenGate(ctx context.Context, gate, by, reason string) (string, error) {
	if g.gateCameras(gate) == nil && !g.hasGate(gate) {
		return "", console.ErrNotFound
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := "cmd_" + hex.EncodeToString(b[:])
	payload, _ := json.Marshal(topics.GateCommand{Action: "open", By: by, Reason: reason, ID: id})
	g.gateRules.NoteCommand(gate)
	if err := g.Bus.Publish(ctx, g.Topics.GateCommands(gate), false, payload); err != nil {
		return "", console.ErrUnavailable
	}
	return id, nil
}

func (g *Gateway) hasGate(gate string) bool {
	for _, gt := range g.Config.Gates {
		if gt.ID == gate {
			return true
		}
	}
	return false
}

func (g *Gateway) startGateSim(ctx context.Context) error {
	d := g.Config.Demo
	if d == nil || !d.GateTraffic || len(g.Config.Gates) == 0 {
		return nil
	}
	var residents []string
	if f, err := os.Open(g.Config.Vehicles.ResidentsFile); err == nil {
		rs, _, _ := vehicles.ParseResidents(f)
		f.Close()
		for plate := range rs {
			residents = append(residents, plate)
		}
		sort.Strings(residents) // map order would make the seeded demo differ run to run
	}
	sim := &gatesim.Sim{Bus: g.Bus, Topics: g.Topics, Gate: g.Config.Gates[0].ID, Residents: residents,
		Visitors: []string{"浙A8K2M1", "苏B77Q21"}, Watch: g.Config.Vehicles.Watchlist,
		Logger: g.log.With("component", "gatesim"), Seed: uint64(time.Now().UnixNano())}
	return g.use(ctx, component.Named("gate simulator", sim))
}
