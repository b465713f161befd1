package broker

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lanewatch/lanewatch/internal/topics"
)

const base = "lanewatch/s"

var siteTopics = topics.Topics{Prefix: "lanewatch", Site: "s"}

var roleUsers = []User{
	{Name: "gate-north", Password: "pw-north", Role: RoleGate, Gates: []string{"north"}},
	{Name: "patrol-07", Password: "pw-patrol", Role: RolePatrol},
	{Name: "display", Password: "pw-display", Role: RoleViewer},
}

var gw = Gateway{Username: "lanewatch-gw", Password: "gw-secret", ClientID: "lanewatch-gw-1"}

// roleCase is one boundary of contract section 9.
type roleCase struct {
	user, pass string
	pub        bool // publish (else subscribe)
	topic      string
	allowed    bool
}

var roleCases = []roleCase{
	{"gate-north", "pw-north", true, base + "/gates/north/events", true},
	{"gate-north", "pw-north", true, base + "/gates/south/events", false},
	{"gate-north", "pw-north", true, base + "/gates/north/commands", false},
	{"gate-north", "pw-north", true, base + "/incidents/i1/resolve", false},
	{"gate-north", "pw-north", false, base + "/gates/north/commands", true},
	{"gate-north", "pw-north", false, base + "/gates/south/commands", false},
	{"gate-north", "pw-north", false, base + "/alerts", false},
	{"patrol-07", "pw-patrol", true, base + "/incidents/i1/ack", true},
	{"patrol-07", "pw-patrol", true, base + "/incidents/i1/resolve", true},
	{"patrol-07", "pw-patrol", true, base + "/incidents/i1/state", false},
	{"patrol-07", "pw-patrol", true, base + "/gates/north/commands", false},
	{"patrol-07", "pw-patrol", true, base + "/gateway/gw-1/status", false},
	{"patrol-07", "pw-patrol", false, base + "/alerts", true},
	{"patrol-07", "pw-patrol", false, base + "/incidents/+/state", true},
	{"patrol-07", "pw-patrol", false, base + "/cameras/+/status", true},
	{"patrol-07", "pw-patrol", false, base + "/gates/+/events", false},
	{"display", "pw-display", true, base + "/incidents/i1/ack", false},
	{"display", "pw-display", true, base + "/gates/north/events", false},
	{"display", "pw-display", false, base + "/alerts", true},
	{"display", "pw-display", false, base + "/gates/+/events", true},
	{"display", "pw-display", false, "other/#", false},
}

func userClient(t *testing.T, url, user, pass, id string) paho.Client {
	t.Helper()
	c, err := client(t, url, id, true, func(o *paho.ClientOptions) { o.SetUsername(user); o.SetPassword(pass) })
	if err != nil {
		t.Fatalf("%s: %v", user, err)
	}
	return c
}

// checkRoles runs roleCases against a broker at url: allowed publishes reach
// the gateway, refused ones do not; subscriptions are granted or refused in
// the SUBACK.
func checkRoles(t *testing.T, url, gwUser, gwPass string, denied func(user, action string) float64) {
	g := userClient(t, url, gwUser, gwPass, "observer")
	got := receive(t, g, base+"/#")
	for i, tc := range roleCases {
		name := fmt.Sprintf("%s/pub=%v/%s", tc.user, tc.pub, tc.topic)
		c := userClient(t, url, tc.user, tc.pass, fmt.Sprintf("c%d", i))
		if tc.pub {
			before := len(got(0, 0))
			var d0 float64
			if denied != nil {
				d0 = denied(tc.user, "publish")
			}
			payload := fmt.Sprintf("m%d", i)
			wait(t, c.Publish(tc.topic, 1, false, payload))
			// A marker from the gateway's side: once it is back, the
			// message under test was routed or dropped.
			wait(t, g.Publish(base+"/marker", 1, false, payload+"-marker"))
			msgs := got(before+1, 5*time.Second)
			deadline := time.Now().Add(5 * time.Second)
			for !contains(msgs, payload+"-marker") && time.Now().Before(deadline) {
				msgs = got(len(msgs)+1, time.Second)
			}
			if contains(msgs, payload) != tc.allowed {
				t.Errorf("%s: delivered=%v, want %v", name, contains(msgs, payload), tc.allowed)
			}
			if denied != nil && !tc.allowed && denied(tc.user, "publish") != d0+1 {
				t.Errorf("%s: denied counter %v -> %v", name, d0, denied(tc.user, "publish"))
			}
		} else {
			// Refused is a failure in the SUBACK (NATS) or a subscription
			// that never delivers (Mosquitto 2.0 grants it and filters).
			var mu sync.Mutex
			var in []string
			tok := c.Subscribe(tc.topic, 1, func(_ paho.Client, m paho.Message) {
				mu.Lock()
				in = append(in, string(m.Payload()))
				mu.Unlock()
			})
			granted := tok.WaitTimeout(5*time.Second) && tok.Error() == nil &&
				tok.(*paho.SubscribeToken).Result()[tc.topic] != 0x80
			concrete := strings.NewReplacer("+", "x", "#", "x").Replace(tc.topic)
			payload := fmt.Sprintf("s%d", i)
			wait(t, g.Publish(concrete, 1, false, payload))
			delivered := false
			for deadline := time.Now().Add(time.Second); !delivered && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
				mu.Lock()
				delivered = contains(in, payload)
				mu.Unlock()
			}
			if (granted && delivered) != tc.allowed {
				t.Errorf("%s: granted=%v delivered=%v, want allowed=%v", name, granted, delivered, tc.allowed)
			}
		}
		c.Disconnect(50)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestRolesEmbedded(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := startBroker(t, Config{Listen: "127.0.0.1:0", Users: roleUsers, Topics: siteTopics, Gateway: gw, Registerer: reg})
	denied := func(user, action string) float64 {
		v, err := b.metrics.denied.GetMetricWithLabelValues(user, action)
		if err != nil {
			t.Fatal(err)
		}
		return testutil.ToFloat64(v)
	}
	checkRoles(t, b.URL(), gw.Username, gw.Password, denied)
	if v := denied("gate-north", "subscribe"); v < 1 {
		t.Errorf("refused subscriptions not counted: %v", v)
	}
}

// A viewer may subscribe to everything but the gates' commands: with a
// wildcard, commands are filtered out at delivery, live and retained.
func TestViewerNeverSeesCommands(t *testing.T) {
	b := startBroker(t, Config{Listen: "127.0.0.1:0", Users: roleUsers, Topics: siteTopics, Gateway: gw})
	g := userClient(t, b.URL(), gw.Username, gw.Password, gw.ClientID)
	wait(t, g.Publish(base+"/gates/north/commands", 1, true, "retained-open"))
	v := userClient(t, b.URL(), "display", "pw-display", "wall")
	got := receive(t, v, base+"/#")
	wait(t, g.Publish(base+"/gates/north/commands", 1, false, "open"))
	wait(t, g.Publish(base+"/alerts", 1, false, "alert"))
	msgs := got(1, 5*time.Second)
	time.Sleep(300 * time.Millisecond)
	msgs = got(10, 0)
	if fmt.Sprint(msgs) != "[alert]" {
		t.Fatalf("viewer got %q, want only the alert", msgs)
	}
}

func TestRefusedLogins(t *testing.T) {
	b := startBroker(t, Config{Listen: "127.0.0.1:0", Users: roleUsers, Topics: siteTopics, Gateway: gw})
	for _, tc := range []struct{ name, user, pass, id string }{
		{"unknown user", "nobody", "x", "a"},
		{"wrong password", "patrol-07", "pw-north", "b"},
		{"anonymous from loopback", "", "", "c"},
		{"gateway name, wrong password", gw.Username, "guess", "d"},
		{"gateway client id, other account", "patrol-07", "pw-patrol", gw.ClientID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client(t, b.URL(), tc.id, true, func(o *paho.ClientOptions) { o.SetUsername(tc.user); o.SetPassword(tc.pass) })
			if err == nil {
				t.Fatal("admitted")
			}
		})
	}
}
