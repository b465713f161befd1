package broker

import (
	"fmt"
	"strings"

	"github.com/lanewatch/lanewatch/internal/topics"
)

// MosquittoACL renders the roles of contract section 9 as a Mosquitto
// acl_file, for sites that run Mosquitto instead of the embedded broker
// (docs/operations.md, deploy/mosquitto-acl.example). gatewayUser is the
// account the gateway connects with; it gets every topic under base.
//
// What Mosquitto cannot give: the identity of an ack's sender reaches the
// gateway only through the payload's "by"; the ACL guarantees that only a
// patrol account could have published it, not which one.
func MosquittoACL(tp topics.Topics, gatewayUser string, users []User) string {
	base := tp.Base()
	var b strings.Builder
	fmt.Fprintf(&b, "# lanewatch roles (contract section 9) for topics under %s\n", base)
	fmt.Fprintf(&b, "\n# the gateway itself\nuser %s\ntopic readwrite %s/#\n", gatewayUser, base)
	for _, u := range users {
		fmt.Fprintf(&b, "\n# %s: %s\nuser %s\n", u.Name, u.Role, u.Name)
		switch u.Role {
		case RoleGate:
			for _, g := range u.Gates {
				fmt.Fprintf(&b, "topic write %s/gates/%s/events\n", base, g)
				fmt.Fprintf(&b, "topic read %s/gates/%s/commands\n", base, g)
			}
		case RolePatrol:
			fmt.Fprintf(&b, "topic write %s/incidents/+/ack\n", base)
			fmt.Fprintf(&b, "topic write %s/incidents/+/resolve\n", base)
			fmt.Fprintf(&b, "topic read %s/alerts\n", base)
			fmt.Fprintf(&b, "topic read %s/incidents/+/state\n", base)
			fmt.Fprintf(&b, "topic read %s/cameras/+/status\n", base)
		case RoleViewer:
			fmt.Fprintf(&b, "topic read %s/#\n", base)
			fmt.Fprintf(&b, "topic deny %s/gates/+/commands\n", base)
		}
	}
	return b.String()
}
