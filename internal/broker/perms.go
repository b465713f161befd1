package broker

import (
	"strings"

	"github.com/lanewatch/lanewatch/internal/topics"

	"github.com/nats-io/nats-server/v2/server"
)

// Roles of contract section 9.
const (
	RoleGate   = "gate"
	RolePatrol = "patrol"
	RoleViewer = "viewer"
)

// User is one configured account of the embedded broker.
type User struct {
	Name, Password string
	Role           string
	Gates          []string // role gate: the gates it speaks for
}

// permissions maps a role to NATS publish/subscribe permissions. Topics are
// those of contract section 2 (internal/topics), converted the
// way NATS's MQTT layer converts them (natsSubject). An MQTT subscription
// with # becomes two NATS subscriptions ("a" and "a.>"), so both are listed.
// NATS refuses MQTT subscriptions to its internal $MQTT subjects by itself
// and checks deny rules on QoS 1 deliveries too.
func permissions(tp topics.Topics, u User) *server.Permissions {
	t := natsSubject
	p := &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{}},
		Subscribe: &server.SubjectPermission{Allow: []string{}},
	}
	switch u.Role {
	case RoleGate:
		for _, g := range u.Gates {
			p.Publish.Allow = append(p.Publish.Allow, t(tp.GateEvents(g)))
			p.Subscribe.Allow = append(p.Subscribe.Allow, t(tp.GateCommands(g)))
		}
	case RolePatrol:
		p.Publish.Allow = []string{t(tp.IncidentAcks()), t(tp.IncidentResolves())}
		p.Subscribe.Allow = []string{t(tp.Alerts()), t(tp.IncidentState("+")), t(tp.CameraStatus("+"))}
	case RoleViewer:
		p.Subscribe.Allow = []string{t(tp.Base()), t(tp.Base() + "/#")}
		p.Subscribe.Deny = []string{t(tp.GateCommands("+"))}
	}
	if len(p.Publish.Allow) == 0 {
		// An empty allow list means "everything" to NATS; a subject no
		// MQTT topic maps to means nothing.
		p.Publish.Allow = []string{"_lanewatch.nothing"}
	}
	if len(p.Subscribe.Allow) == 0 {
		p.Subscribe.Allow = []string{"_lanewatch.nothing"}
	}
	return p
}

// natsSubject converts an MQTT topic filter to the NATS subject NATS's MQTT
// layer uses (server.mqttToNATSSubjectConversion, not exported): levels are
// separated by ".", a "." inside a level becomes "//", "+" is "*", "#" is
// ">", and empty levels are kept with a "/" (a leading one as "/.", one
// before another "/" or at the end as "./").
func natsSubject(topic string) string {
	var b strings.Builder
	for i := 0; i < len(topic); i++ {
		switch c := topic[i]; c {
		case '/':
			out := b.String()
			switch {
			case i == 0 || strings.HasSuffix(out, "."):
				b.WriteString("/.")
			case i == len(topic)-1 || topic[i+1] == '/':
				b.WriteString("./")
			default:
				b.WriteByte('.')
			}
		case '.':
			b.WriteString("//")
		case '+':
			b.WriteByte('*')
		case '#':
			b.WriteByte('>')
		default:
			b.WriteByte(c)
		}
	}
	s := b.String()
	if strings.HasSuffix(s, ".") {
		s += "/"
	}
	return s
}
