package gateway_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/lanewatch/lanewatch/internal/auth"
)

// An operator opens the barrier from the console: the gate controller gets
// the contract's command over MQTT, the opening is audited, a viewer may not
// do it, and the barrier opening that follows is not taken for a forced gate.
func TestConsoleOpensGate(t *testing.T) {
	if testing.Short() {
		t.Skip("real Mosquitto")
	}
	s := startSite(t, siteOpts{})
	controller := mqttClient(t, s.Mosquitto.URL, "north-controller")
	cmds := subscribe(t, controller, "lanewatch/test-site/gates/north/commands")
	alerts := subscribe(t, controller, "lanewatch/test-site/alerts")

	if resp := s.api(t, "POST", "/api/gates/north/open", viewerToken, `{"reason":"delivery van"}`); resp.StatusCode != 403 {
		t.Fatalf("viewer opening a gate: %d, want 403", resp.StatusCode)
	}
	if resp := s.api(t, "POST", "/api/gates/nowhere/open", adminToken, `{"reason":"x"}`); resp.StatusCode != 404 {
		t.Fatalf("unknown gate: %d, want 404", resp.StatusCode)
	}
	resp := s.api(t, "POST", "/api/gates/north/open", adminToken, `{"reason":"delivery van"}`)
	body := mustBody(t, resp)
	if resp.StatusCode != 200 && resp.StatusCode != 202 {
		t.Fatalf("open: %d %s", resp.StatusCode, body)
	}
	m := cmds.wait(t, "gate command", 10*time.Second, func(mqtt.Message) bool { return true })
	var cmd map[string]string
	if err := json.Unmarshal(m.Payload(), &cmd); err != nil {
		t.Fatal(err)
	}
	if cmd["action"] != "open" || cmd["by"] != "ops" || cmd["reason"] != "delivery van" || cmd["id"] == "" || !strings.Contains(string(body), cmd["id"]) {
		t.Fatalf("command %s (response %s)", m.Payload(), body)
	}

	// The controller opens the barrier; no gate_forced follows a console command.
	publish(t, controller, "lanewatch/test-site/gates/north/events", `{"id":"b1","type":"barrier_open"}`)
	publish(t, controller, "lanewatch/test-site/gates/north/events", `{"id":"b2","type":"barrier_close"}`)
	select {
	case a := <-alerts.ch:
		t.Fatalf("unexpected alert after a console opening: %s", a.Payload())
	case <-time.After(2 * time.Second):
	}

	entries, err := auth.ReadAudit(filepath.Join(s.Dir, "data", "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		if e.Action == "gate_open" && e.Target == "north" && e.User == "ops" && e.Details["reason"] == "delivery van" {
			found = true
		}
	}
	if !found {
		t.Fatalf("gate opening not in the audit log: %+v", entries)
	}
}
