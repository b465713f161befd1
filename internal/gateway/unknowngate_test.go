package gateway_test

import (
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/lanewatch/lanewatch/internal/incidents"
)

// An SOS from a gate the config does not know opens nothing; one from a
// configured gate still does.
func TestUnknownGateSOSRejected(t *testing.T) {
	s := startSite(t, siteOpts{})
	sensor := mqttClient(t, s.Mosquitto.URL, "sensor")
	patrol := mqttClient(t, s.Mosquitto.URL, "patrol")
	alerts := subscribe(t, patrol, "lanewatch/test-site/alerts")
	rejected0 := s.Gateway.Sensors.Counts().Rejected
	for i := range 5 {
		publish(t, sensor, "lanewatch/test-site/gates/west/events", `{"type":"sos","id":"w`+string(rune('0'+i))+`"}`)
	}
	publish(t, sensor, "lanewatch/test-site/gates/north/events", `{"type":"sos","id":"n1"}`)
	m := alerts.wait(t, "sos alert from north", 10*time.Second, func(m mqtt.Message) bool {
		return strings.Contains(string(m.Payload()), `"type":"sos"`)
	})
	if !strings.Contains(string(m.Payload()), `"gate":"north"`) {
		t.Fatalf("alert %s", m.Payload())
	}
	eventually(t, "unknown gate counted", 5*time.Second, func() bool {
		return s.Gateway.Sensors.Counts().Rejected-rejected0 == 5
	})
	list, err := s.Gateway.Incidents.List(incidents.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, inc := range list {
		if inc.Source.Gate != "north" {
			t.Errorf("incident from gate %q: %+v", inc.Source.Gate, inc)
		}
	}
	if len(list) != 1 {
		t.Errorf("%d incidents, want 1", len(list))
	}
}
