package gateway

import (
	"context"
	"errors"

	"github.com/lanewatch/lanewatch/internal/storecheck"
)

// checkBrokerStore checks the embedded broker's store before the broker
// opens it: its storage engine panics on some damaged pages, and that must
// be one clear line, not a stack trace. incidents, outbox and vehicles
// check their own files at open (storecheck.OpenBolt).
func (g *Gateway) checkBrokerStore(context.Context) error {
	if g.Config.MQTT.Broker != "embedded" {
		return nil
	}
	_, err := storecheck.BrokerStore(g.Config.DataDir)
	if errors.Is(err, storecheck.ErrMissing) {
		return nil
	}
	return err
}
