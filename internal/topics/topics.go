// Package topics is contract section 2 in one place: every MQTT topic
// lanewatch publishes or subscribes to, and the payload types that are not
// domain types. All publishers and subscribers build their topics here
// (mqttbus.Topics is this type), and the broker's roles (internal/broker)
// are written in the same terms. A leaf package: it imports nothing of
// lanewatch.
//
// Payloads by topic:
//
//	GateEvents      gate/door event (2.1): decoded by internal/sensors (sensors.Event)
//	IncidentAcks,
//	IncidentResolves IncidentCommand (2.2)
//	Alerts,
//	IncidentState   the incident (section 3): incidents.Incident, JSON as is;
//	                state retained, cleared with an empty retained payload
//	CameraStatus    CameraStatus, retained
//	Passages        the passage (section 5): vehicles.Passage, JSON as is
//	GatewayStatus   StatusOnline / StatusOffline (the last will), retained
//	GateCommands    GateCommand
//	GatewayAlerts   alerts about the gateway itself (docs/operations.md)
//	GatewayProbe    the subscription probe (mqttbus.Probe), opaque
package topics

import (
	"strings"
	"time"
)

// DefaultPrefix is mqtt.topic_prefix's default.
const DefaultPrefix = "lanewatch"

// Topics builds the contract's topic names for one site.
type Topics struct {
	Prefix string // default "lanewatch"
	Site   string
}

// Base is "<prefix>/<site>", under which every topic of the site is.
func (t Topics) Base() string { return t.Prefix + "/" + t.Site }

func (t Topics) base() string { return t.Base() }

func (t Topics) GateEvents(gate string) string   { return t.base() + "/gates/" + gate + "/events" }
func (t Topics) AllGateEvents() string           { return t.base() + "/gates/+/events" }
func (t Topics) GateCommands(gate string) string { return t.base() + "/gates/" + gate + "/commands" }
func (t Topics) Alerts() string                  { return t.base() + "/alerts" }
func (t Topics) IncidentState(id string) string  { return t.base() + "/incidents/" + id + "/state" }
func (t Topics) IncidentAcks() string            { return t.base() + "/incidents/+/ack" }
func (t Topics) IncidentResolves() string        { return t.base() + "/incidents/+/resolve" }
func (t Topics) CameraStatus(camera string) string {
	return t.base() + "/cameras/" + camera + "/status"
}
func (t Topics) Passages() string               { return t.base() + "/vehicles/passages" }
func (t Topics) GatewayStatus(gw string) string { return t.base() + "/gateway/" + gw + "/status" }

// GatewayAlerts carries alerts about the gateway itself. They are not
// incidents of contract section 3, so they stay off the incident alerts
// topic whose consumers parse incidents.
func (t Topics) GatewayAlerts(gw string) string { return t.base() + "/gateway/" + gw + "/alerts" }

// GatewayProbe is the gateway's self-addressed subscription probe.
func (t Topics) GatewayProbe(gw string) string { return t.GatewayStatus(gw) + "/probe" }

// Escalations is the extra topic that escalated incidents go to (below the site prefix).
func (t Topics) Escalations(sub string) string {
	if sub == "" {
		sub = "alerts/escalated"
	}
	return t.base() + "/" + strings.Trim(sub, "/")
}

// Segment returns the n-th '/'-separated segment of topic ("" when absent);
// used to take the gate or incident id out of a wildcard match.
func Segment(topic string, n int) string {
	parts := strings.Split(topic, "/")
	if n < 0 || n >= len(parts) {
		return ""
	}
	return parts[n]
}

// Gateway status payloads (retained; StatusOffline is also the last will).
const (
	StatusOnline  = "online"
	StatusOffline = "offline"
)

// IncidentCommand is the payload of an ack or resolve (2.2). On the
// embedded broker By is replaced by the account that published it.
type IncidentCommand struct {
	By   string `json:"by"`
	Note string `json:"note"`
}

// CameraStatus is the retained payload of CameraStatus (2.3).
type CameraStatus struct {
	State       string    `json:"state"` // online, degraded, offline
	FPSIn       float64   `json:"fps_in"`
	FPSAnalyzed float64   `json:"fps_analyzed"`
	Since       time.Time `json:"since"`
}

// GateCommand is the payload of GateCommands (2.3): a barrier opened from
// the console.
type GateCommand struct {
	Action string `json:"action"` // open
	By     string `json:"by"`
	Reason string `json:"reason"`
	ID     string `json:"id"`
}
