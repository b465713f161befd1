package gateway_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// embeddedSite runs the gateway with its embedded broker and mqtt.users.
func embeddedSite(t *testing.T) (*site, string) {
	t.Helper()
	s := &site{Dir: t.TempDir()}
	addr := testenv.FreeAddr(t)
	s.Console = "http://" + testenv.FreeAddr(t)
	conf := fmt.Sprintf(`site: {id: test-site, timezone: Asia/Shanghai}
gateway_id: gw-test
data_dir: %q
log: {level: warn}
mqtt:
  broker: embedded
  listen: %q
  users:
    - {name: gate-north, password: pw-north, role: gate, gates: [north]}
    - {name: patrol-07, password: pw-patrol, role: patrol}
console:
  listen: %q
  tokens: [{name: ops, role: admin, token: %q}]
gates:
  - {id: north}
`, filepath.Join(s.Dir, "data"), addr, strings.TrimPrefix(s.Console, "http://"), adminToken)
	s.ConfigPath = filepath.Join(s.Dir, "lanewatch.yaml")
	if err := os.WriteFile(s.ConfigPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.run(t); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(t) })
	return s, "tcp://" + addr
}

func userMQTT(t *testing.T, url, user, pass, id string, clean bool) (mqtt.Client, error) {
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(clean).SetUsername(user).SetPassword(pass).SetAutoReconnect(false)
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("connect %s: %v", user, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, nil
}

// The attack of issue 11: a CONNECT with the gateway's client id. Refused,
// and the gateway keeps receiving gate events, SOS included.
func TestEmbeddedSessionTakeoverRefused(t *testing.T) {
	s, url := embeddedSite(t)
	cred := filepath.Join(s.Dir, "data", "mqtt-gateway.json")
	if fi, err := os.Stat(cred); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", fi, err)
	}
	patrol, err := userMQTT(t, url, "patrol-07", "pw-patrol", "patrol-app", true)
	if err != nil {
		t.Fatal(err)
	}
	alerts := subscribe(t, patrol, "lanewatch/test-site/alerts")
	for _, a := range []struct{ user, pass string }{{"patrol-07", "pw-patrol"}, {"gate-north", "pw-north"}, {"", ""}} {
		for _, clean := range []bool{true, false} {
			if _, err := userMQTT(t, url, a.user, a.pass, "lanewatch-gw-test", clean); err == nil {
				t.Fatalf("CONNECT as %q with the gateway's client id admitted", a.user)
			}
		}
	}
	gate, err := userMQTT(t, url, "gate-north", "pw-north", "north-ctl", true)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, gate, "lanewatch/test-site/gates/north/events", `{"id":"sos-1","type":"sos"}`)
	alerts.wait(t, "sos alert after takeover attempts", 10*time.Second, func(m mqtt.Message) bool {
		return strings.Contains(string(m.Payload()), `"type":"sos"`)
	})
}

// An ack over MQTT is recorded as the account that sent it, whatever the
// payload's "by" says, and is in the audit log.
func TestEmbeddedAckRecordsAccount(t *testing.T) {
	s, url := embeddedSite(t)
	patrol, err := userMQTT(t, url, "patrol-07", "pw-patrol", "patrol-app", true)
	if err != nil {
		t.Fatal(err)
	}
	alerts := subscribe(t, patrol, "lanewatch/test-site/alerts")
	gate, err := userMQTT(t, url, "gate-north", "pw-north", "north-ctl", true)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, gate, "lanewatch/test-site/gates/north/events", `{"id":"sos-1","type":"sos"}`)
	m := alerts.wait(t, "sos alert", 10*time.Second, func(m mqtt.Message) bool {
		return strings.Contains(string(m.Payload()), `"type":"sos"`)
	})
	var inc struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(m.Payload(), &inc); err != nil || inc.ID == "" {
		t.Fatalf("alert %s: %v", m.Payload(), err)
	}
	// The gate may not ack at all (its role), the patrol's claim to be
	// someone else is ignored.
	publish(t, gate, "lanewatch/test-site/incidents/"+inc.ID+"/ack", `{"by":"gate-north"}`)
	publish(t, patrol, "lanewatch/test-site/incidents/"+inc.ID+"/ack", `{"by":"chief-of-security","note":"on my way"}`)
	eventually(t, "ack recorded", 10*time.Second, func() bool {
		got, err := s.Gateway.Incidents.Get(inc.ID)
		return err == nil && len(got.Acks) > 0
	})
	got, _ := s.Gateway.Incidents.Get(inc.ID)
	if len(got.Acks) != 1 || got.Acks[0].By != "patrol-07" {
		t.Fatalf("acks %+v, want one by patrol-07", got.Acks)
	}
	// The audit line is written just after the engine took the ack.
	var entries []auth.Entry
	eventually(t, "audit entry for the MQTT ack by patrol-07", 5*time.Second, func() bool {
		var err error
		entries, err = auth.ReadAudit(filepath.Join(s.Dir, "data", "audit.log"))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range entries {
			if e.Action == "ack" && e.Target == inc.ID {
				found = e.User == "patrol-07" && e.Details["note"] == "on my way" && e.Details["via"] == "mqtt"
			}
		}
		return found
	}, func() { t.Logf("audit: %+v", entries) })
}
