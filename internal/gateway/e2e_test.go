package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/lanewatch/lanewatch/internal/console/consoletest"
)

// The whole path on real parts: a camera served over RTSP by the simulator,
// an SOS button on a real Mosquitto, the platform receiving signed tickets,
// InfluxDB receiving the incident, and the monitor wall in headless Chromium
// where an operator acknowledges the incident.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	plat := newPlatform(t)
	s := startSite(t, siteOpts{PlatformURL: plat.URL(), Influx: true, Camera: true})
	patrol := mqttClient(t, s.Mosquitto.URL, "patrol-07")
	alerts := subscribe(t, patrol, "lanewatch/test-site/alerts")
	states := subscribe(t, patrol, "lanewatch/test-site/incidents/+/state")
	camStatus := subscribe(t, patrol, "lanewatch/test-site/cameras/lawn/status")

	// The camera comes online and says so on MQTT (retained) and in the API.
	camStatus.wait(t, "camera online status", 30*time.Second, func(m mqtt.Message) bool {
		var st map[string]any
		return json.Unmarshal(m.Payload(), &st) == nil && st["state"] == "online"
	})
	var cams []map[string]any
	getJSON(t, s, "/api/cameras", viewerToken, &cams)
	if len(cams) != 1 || cams[0]["id"] != "lawn" || cams[0]["state"] != "online" {
		t.Fatalf("cameras: %v", cams)
	}
	if raw := string(mustBody(t, s.api(t, "GET", "/api/cameras", viewerToken, ""))); strings.Contains(raw, "s3cret-cam-pass") {
		t.Fatalf("camera password leaked into the API: %s", raw)
	}

	// A car at the north gate: the passage goes out on MQTT with a snapshot
	// from the gate's camera, served by the console.
	eventually(t, "a full-resolution camera snapshot", 15*time.Second, func() bool {
		resp := s.api(t, "GET", "/api/cameras/lawn/snapshot.jpg", viewerToken, "")
		resp.Body.Close()
		return resp.StatusCode == 200 && resp.Header.Get("Content-Type") == "image/jpeg"
	})
	passages := subscribe(t, patrol, "lanewatch/test-site/vehicles/passages")
	gateSensor := mqttClient(t, s.Mosquitto.URL, "gate-north-lpr")
	publish(t, gateSensor, "lanewatch/test-site/gates/north/events", `{"id":"pr-1","type":"plate_read","plate":"沪A·12345","direction":"in","confidence":0.93}`)
	pm := passages.wait(t, "vehicle passage", 10*time.Second, func(mqtt.Message) bool { return true })
	var passage map[string]any
	if err := json.Unmarshal(pm.Payload(), &passage); err != nil {
		t.Fatal(err)
	}
	if passage["plate"] != "沪A12345" || passage["direction"] != "in" || passage["gate"] != "north" || passage["class"] != "unknown" {
		t.Fatalf("passage: %s", pm.Payload())
	}
	link, _ := passage["snapshot"].(string)
	if link == "" {
		t.Fatalf("passage without snapshot: %s", pm.Payload())
	}
	if resp := s.api(t, "GET", link, viewerToken, ""); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("GET %s: %d %s", link, resp.StatusCode, resp.Header.Get("Content-Type"))
	} else {
		resp.Body.Close()
	}

	// The gates list their cameras: a gate incident's pop-up shows the first live.
	var gates []map[string]any
	getJSON(t, s, "/api/gates", viewerToken, &gates)
	if len(gates) != 1 || gates[0]["id"] != "north" || fmt.Sprint(gates[0]["cameras"]) != "[lawn]" {
		t.Fatalf("gates: %v", gates)
	}

	// The wall: log in and see the live picture.
	b := consoletest.NewBrowser(t, s.Console)
	b.Open()
	b.Login("admin", adminPass)
	b.WaitLiveImage("lawn")
	// A second car: the vehicle log publishes it to the console's event
	// stream and the wall shows it, with its snapshot, without a reload.
	publish(t, gateSensor, "lanewatch/test-site/gates/north/events", `{"id":"pr-2","type":"plate_read","plate":"沪B·54321","direction":"in","confidence":0.93}`)
	b.WaitJS("the live passage on the wall", `[...document.querySelectorAll("#passages tr")].some(tr =>
		tr.querySelector(".ptext") && tr.querySelector(".ptext").textContent === "沪B54321" && tr.querySelector("img.pthumb"))`)

	// An SOS button at the north gate.
	sensor := mqttClient(t, s.Mosquitto.URL, "gate-north")
	publish(t, sensor, "lanewatch/test-site/gates/north/events", `{"id":"sos-1","type":"sos","ts":"`+time.Now().Format(time.RFC3339)+`"}`)
	alert := alerts.wait(t, "sos alert", 10*time.Second, func(m mqtt.Message) bool {
		return strings.Contains(string(m.Payload()), `"type":"sos"`)
	})
	var inc map[string]any
	if err := json.Unmarshal(alert.Payload(), &inc); err != nil {
		t.Fatal(err)
	}
	id, _ := inc["id"].(string)
	if inc["severity"] != "critical" || inc["state"] != "open" || inc["site"] != "test-site" || id == "" {
		t.Fatalf("alert: %s", alert.Payload())
	}
	if src, _ := inc["source"].(map[string]any); src["gate"] != "north" {
		t.Fatalf("alert source: %v", inc["source"])
	}

	// The platform receives a signed ticket, version 1.
	eventually(t, "ticket for the SOS", 15*time.Second, func() bool {
		_, byKey, _, _ := plat.snapshot()
		return byKey[id+":1"] > 0
	})

	// The operator acknowledges it on the wall; the state follows everywhere.
	b.WaitIncident(id)
	// It popped up with the gate's camera live.
	b.WaitJS("the SOS pop-up", `window.LWDesk.shown === `+strconv.Quote(id))
	b.WaitLiveElement("#alarm-live")
	b.Acknowledge(id, "on my way")
	b.WaitJS("the pop-up closed by the feed's ack", `document.getElementById("alarm").hidden`)
	b.WaitIncidentState(id, "acknowledged")
	// The operator opens the north barrier from the wall: the gate
	// controller gets the contract's command.
	controller := mqttClient(t, s.Mosquitto.URL, "north-controller")
	cmds := subscribe(t, controller, "lanewatch/test-site/gates/north/commands")
	b.WaitJS("barrier button", `document.querySelector('#gate-buttons button[data-gate="north"]') !== null`)
	consoletest.Eval[bool](b, `(() => { document.querySelector('#gate-reason').value = 'ambulance'; return true })()`)
	b.Click(`#gate-buttons button[data-gate="north"]`)
	cm := cmds.wait(t, "barrier command from the wall", 10*time.Second, func(mqtt.Message) bool { return true })
	if !strings.Contains(string(cm.Payload()), `"action":"open"`) || !strings.Contains(string(cm.Payload()), `"by":"admin"`) ||
		!strings.Contains(string(cm.Payload()), `"reason":"ambulance"`) {
		t.Fatalf("gate command: %s", cm.Payload())
	}
	shot := b.Screenshot("e2e-wall")
	t.Logf("screenshot: %s", shot)
	states.wait(t, "retained state acknowledged", 10*time.Second, func(m mqtt.Message) bool {
		return strings.Contains(m.Topic(), id) && strings.Contains(string(m.Payload()), `"state":"acknowledged"`)
	})
	var got map[string]any
	getJSON(t, s, "/api/incidents/"+id, viewerToken, &got)
	acks, _ := got["acks"].([]any)
	if got["state"] != "acknowledged" || len(acks) != 1 || acks[0].(map[string]any)["by"] != "admin" {
		t.Fatalf("incident after ack: %v", got)
	}
	eventually(t, "ticket version 2 (acknowledged)", 15*time.Second, func() bool {
		_, byKey, _, _ := plat.snapshot()
		return byKey[id+":2"] > 0
	})

	// A patrol member resolves it over MQTT (contract 2.2).
	publish(t, patrol, "lanewatch/test-site/incidents/"+id+"/resolve", `{"by":"patrol-07","note":"false alarm"}`)
	states.wait(t, "retained state resolved", 10*time.Second, func(m mqtt.Message) bool {
		return strings.Contains(m.Topic(), id) && strings.Contains(string(m.Payload()), `"state":"resolved"`)
	})

	// InfluxDB got the incident with the contract's tags.
	client := influxdb2.NewClient(s.Influx.URL, "")
	defer client.Close()
	eventually(t, "incident point in InfluxDB", 20*time.Second, func() bool {
		q := fmt.Sprintf(`from(bucket:%q) |> range(start: -1h) |> filter(fn: (r) => r._measurement == "incident" and r.type == "sos" and r.gate == "north" and r.severity == "critical")`, s.Influx.Bucket)
		res, err := client.QueryAPI("").Query(context.Background(), q)
		if err != nil {
			return false
		}
		n := 0
		for res.Next() {
			n++
		}
		return n > 0
	})

	_, _, badSig, mismatch := plat.snapshot()
	if badSig != 0 || mismatch != 0 {
		t.Fatalf("%d tickets failed signature verification, %d had Idempotency-Key != webhook-id", badSig, mismatch)
	}
}

func getJSON(t *testing.T, s *site, path, token string, v any) {
	t.Helper()
	resp := s.api(t, "GET", path, token, "")
	b := mustBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, b)
	}
}

func mustBody(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
