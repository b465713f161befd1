package broker

import (
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// checkTakeover: a persistent session stands in for the gateway's own
// connection; CONNECTs with its client id by other accounts (clean session,
// as in the attack of issue 11, and persistent) must not take it over: it
// keeps receiving gate events, SOS included.
func checkTakeover(t *testing.T, url, gwID string) {
	var got []string
	msgs := make(chan string, 100)
	gwc, err := client(t, url, gwID, false, func(o *paho.ClientOptions) {
		o.SetUsername(gw.Username)
		o.SetPassword(gw.Password)
		o.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { msgs <- string(m.Payload()) })
	})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, gwc.Subscribe(base+"/gates/+/events", 1, func(_ paho.Client, m paho.Message) { msgs <- string(m.Payload()) }))
	for i, a := range []struct {
		user, pass string
		clean      bool
	}{
		{"patrol-07", "pw-patrol", true},
		{"patrol-07", "pw-patrol", false},
		{"display", "pw-display", true},
		{"gate-north", "pw-north", true},
		{gw.Username, "guessed", true},
		{"", "", true},
	} {
		// Admitted or not (Mosquitto admits and renames the client), the
		// gateway's connection must stay and keep receiving.
		if c, err := client(t, url, gwID, a.clean, func(o *paho.ClientOptions) { o.SetUsername(a.user); o.SetPassword(a.pass) }); err == nil {
			c.Subscribe(base+"/#", 1, nil).WaitTimeout(time.Second)
		}
		// A fresh gate connection each time: with Mosquitto a CONNECT as
		// gate-north replaces the gate's own session, which is its account's.
		gate := userClient(t, url, "gate-north", "pw-north", fmt.Sprintf("gate-north-%d", i))
		payload := fmt.Sprintf(`{"id":"sos-%d","type":"sos"}`, i)
		wait(t, gate.Publish(base+"/gates/north/events", 1, false, payload))
		gate.Disconnect(50)
		select {
		case m := <-msgs:
			got = append(got, m)
		case <-time.After(5 * time.Second):
			t.Fatalf("after a CONNECT as %q (clean=%v) with the gateway's client id, the gateway no longer receives (got %q)", a.user, a.clean, got)
		}
		if !gwc.IsConnectionOpen() {
			t.Fatalf("gateway's connection dropped by a CONNECT as %q", a.user)
		}
	}
}

func TestTakeoverEmbedded(t *testing.T) {
	b := startBroker(t, Config{Listen: "127.0.0.1:0", Users: roleUsers, Topics: siteTopics, Gateway: gw})
	checkTakeover(t, b.URL(), gw.ClientID)
}

// Without mqtt.users (loopback only) the gateway's client id is reserved
// all the same.
func TestTakeoverEmbeddedAnonymous(t *testing.T) {
	b := startBroker(t, Config{Listen: "127.0.0.1:0", Topics: siteTopics, Gateway: gw})
	if _, err := client(t, b.URL(), gw.ClientID, true, nil); err == nil {
		t.Fatal("anonymous client admitted with the gateway's client id")
	}
	mustClient(t, b.URL(), "someone-else", true)
}

func TestTakeoverMosquitto(t *testing.T) {
	m := mosquittoWithRoles(t)
	// use_username_as_clientid: the session is the account's.
	checkTakeover(t, m.URL, gw.Username)
}
