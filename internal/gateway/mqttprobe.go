package gateway

import (
	"context"
	"time"

	"github.com/lanewatch/lanewatch/internal/component"
	"github.com/lanewatch/lanewatch/internal/mqttbus"
)

// Probe timing: a deaf subscription is noticed within about 25 s.
const (
	probeInterval = 15 * time.Second
	probeTimeout  = 10 * time.Second
)

// startMQTTProbe checks every probeInterval that the gateway's
// subscriptions still deliver (mqttbus.Probe); a miss makes /readyz 503
// until a probe comes back again.
func (g *Gateway) startMQTTProbe(ctx context.Context) error {
	p := &mqttbus.Probe{Client: g.Bus, Topic: g.Topics.GatewayProbe(g.Config.GatewayID),
		Interval: probeInterval, Timeout: probeTimeout, Logger: g.log, Registerer: g.Registry}
	if err := g.use(ctx, component.Named("mqtt probe", p)); err != nil {
		return err
	}
	g.probe = p
	return nil
}
