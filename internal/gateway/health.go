package gateway

import (
	"context"
	"encoding/json"
	"time"

	"github.com/lanewatch/lanewatch/internal/mqttbus"
)

// gatewayAlertsTopic carries alerts about the gateway itself
// (lanewatch/<site>/gateway/<id>/alerts). They are not incidents of contract
// section 3, so they stay off the incident alerts topic whose consumers parse
// incidents.
func gatewayAlertsTopic(t mqttbus.Topics, gw string) string {
	return t.GatewayAlerts(gw)
}

type gatewayAlert struct {
	Alert     string    `json:"alert"`
	Gateway   string    `json:"gateway"`
	At        time.Time `json:"at"`
	Message   string    `json:"message"`
	UsedBytes int64     `json:"used_bytes,omitempty"`
	MaxBytes  int64     `json:"max_bytes,omitempty"`
}

// outboxFull is the outbox's OnFull hook: the contract wants a full outbox
// said loudly — log, metric (the outbox's own), /readyz, and an MQTT alert.
func (g *Gateway) outboxFull() {
	st := g.Outbox.Stats()
	g.log.Error("OUTBOX FULL: new tickets are refused until the platform takes the queued ones; nothing accepted is dropped",
		"used_bytes", st.UsedBytes, "max_bytes", st.MaxBytes, "pending", st.Pending, "dead", st.Dead)
	a := gatewayAlert{Alert: "outbox_full", Gateway: g.Config.GatewayID, At: time.Now(),
		Message: "ticket outbox reached its size cap", UsedBytes: st.UsedBytes, MaxBytes: st.MaxBytes}
	g.publishAlert(a)
}

// publishAlert puts a on the gateway's alert topic.
func (g *Gateway) publishAlert(a gatewayAlert) {
	b, _ := json.Marshal(a)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.Bus.Publish(ctx, gatewayAlertsTopic(g.Topics, g.Config.GatewayID), false, b); err != nil {
		g.log.Warn("gateway alert not published", "alert", a.Alert, "err", err)
	}
}
