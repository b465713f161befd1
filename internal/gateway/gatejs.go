package gateway

import (
	"context"

	"github.com/lanewatch/lanewatch/internal/component"
	"github.com/lanewatch/lanewatch/internal/gatejs"
	"github.com/lanewatch/lanewatch/internal/mqttbus"
	"github.com/lanewatch/lanewatch/internal/sensors"
)

// startGateEvents, in a cluster, takes the gate events from JetStream
// (internal/gatejs): each gate's events wait in the broker's replicated
// store until the gate's holder has committed them, so that those sent
// while a dead holder's lease has not yet moved are handled by the next
// holder instead of being acknowledged and dropped. It runs before the
// devices are admitted: a gate's consumer must exist for the broker to
// store its events. A single box keeps its MQTT subscription.
func (g *Gateway) startGateEvents(ctx context.Context) error {
	if g.Cluster == nil {
		return nil
	}
	nc, err := g.Broker.Conn("lanewatch-gate-events")
	if err != nil {
		return err
	}
	if err := g.owns("gate events connection", func() error { nc.Close(); return nil }); err != nil {
		return err
	}
	var gates []string
	for _, gt := range g.Config.Gates {
		gates = append(gates, gt.ID)
	}
	s := &gatejs.Source{Conn: nc, Topics: g.Topics, Gates: gates, Replicas: g.Config.Cluster.Replicas(),
		Settle: g.settleGateEvents, Early: (&sensors.Decoder{}).Urgent, Logger: g.log, Registerer: g.Registry}
	if err := g.use(ctx, component.Named("cluster gate events", s)); err != nil {
		return err
	}
	g.gateSource = s
	return nil
}

// gateEventBus is where sensors takes gate events from: the MQTT client on
// a single box, JetStream in a cluster.
func (g *Gateway) gateEventBus() mqttbus.Bus {
	if g.gateSource != nil {
		return g.gateSource
	}
	return g.Bus
}
