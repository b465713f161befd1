package gateway

import (
	"context"

	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/broker"
	"github.com/lanewatch/lanewatch/internal/mqttbus"
)

// startMQTTCommands feeds patrol acks and resolves from the embedded broker
// to the alerts, with the account that published each (broker.Commands):
// the account is recorded as "by" and the action is audited like the
// console's. It runs after the console step because the audit log is
// opened there. With an external broker the alerts subscribe on the bus
// themselves and take "by" from the payload (docs/operations.md).
func (g *Gateway) startMQTTCommands(context.Context) error {
	if g.Broker == nil {
		return nil
	}
	for _, c := range []struct{ filter, action string }{
		{g.Topics.IncidentAcks(), "ack"}, {g.Topics.IncidentResolves(), "resolve"},
	} {
		action := c.action
		stop, err := g.Broker.Commands(c.filter, func(cmd broker.Command) {
			if !g.mqttCommandHere(cmd.Topic) {
				return // another gateway acts on it (siteview.go)
			}
			id, note, ok := g.alerts.HandleIdentified(action, mqttbus.Message{Topic: cmd.Topic, Payload: cmd.Payload}, cmd.Account)
			if ok {
				_ = g.Auth.Audit(auth.Principal{Name: cmd.Account, Kind: "mqtt"}, action, id, map[string]string{"note": note, "via": "mqtt"})
			}
		})
		if err != nil {
			return err
		}
		if err := g.owns("mqtt "+action+" commands", func() error { stop(); return nil }); err != nil {
			return err
		}
	}
	return nil
}
