package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/lanewatch/lanewatch/internal/testenv"
	"github.com/lanewatch/lanewatch/internal/vehicles"
)

// A really full data_dir (a 2 MB tmpfs filled to the last byte): gate
// events published through Mosquitto meanwhile — plate reads and an SOS,
// each PUBACKed by the broker — are all in the vehicle log and the incidents
// after space returns and a restart; the gateway never stopped, /readyz said
// 503 with the reason, lanewatch_disk_full was 1 and the gateway alert
// topic said disk_full.
func TestFullDataDirLosesNoGateEvent(t *testing.T) {
	disk := testenv.NewSmallDisk(t, "2m")
	s := startSite(t, siteOpts{DataDir: disk.Dir})
	patrol := mqttClient(t, s.Mosquitto.URL, "patrol-app")
	gwAlerts := subscribe(t, patrol, "lanewatch/test-site/gateway/gw-test/alerts")
	sensor := mqttClient(t, s.Mosquitto.URL, "gate-north-lpr")
	topic := "lanewatch/test-site/gates/north/events"
	plate := func(i int) string { return fmt.Sprintf("沪B%05d", i) }
	read := func(i int) string {
		return fmt.Sprintf(`{"id":"pr-%d","type":"plate_read","plate":%q,"direction":"in","confidence":0.9}`, i, plate(i))
	}
	publish(t, sensor, topic, read(0))
	eventually(t, "the first passage stored", 10*time.Second, func() bool {
		return len(s.Gateway.Vehicles.Passages(vehicles.Query{})) == 1
	})
	if code, body := readyz(t, s); code != 200 {
		t.Fatalf("readyz before the disk filled: %d %s", code, body)
	}

	disk.Fill(t)
	// Enough events that the vehicle log must grow its file (bbolt reuses
	// free pages of its file first), and the SOS in the middle.
	const n = 300
	for i := 1; i <= n; i++ {
		publish(t, sensor, topic, read(i)) // waits for the broker's PUBACK
		if i == n/2 {
			publish(t, sensor, topic, `{"id":"sos-1","type":"sos","ts":"`+time.Now().Format(time.RFC3339)+`"}`)
		}
	}
	var body string
	eventually(t, "/readyz 503 naming the full data_dir", 20*time.Second, func() bool {
		var code int
		code, body = readyz(t, s)
		return code == 503 && strings.Contains(body, "data_dir full")
	}, func() { t.Logf("last /readyz: %s", body) })
	if v := gauge(t, s.Gateway.Registry, "lanewatch_disk_full"); v != 1 {
		t.Fatalf("lanewatch_disk_full = %v while full", v)
	}
	gwAlerts.wait(t, "disk_full on the gateway alert topic", 10*time.Second, func(m mqtt.Message) bool {
		return strings.Contains(string(m.Payload()), `"alert":"disk_full"`)
	})
	time.Sleep(2 * time.Second) // full for a while: retries, polls, log lines
	if got := len(s.Gateway.Vehicles.Passages(vehicles.Query{Limit: 2 * n})); got > n {
		t.Fatalf("%d passages stored on a full disk", got)
	}
	select {
	case err := <-gatewayDone(s):
		t.Fatalf("gateway stopped while the disk was full: %v", err)
	default:
	}

	disk.Free(t)
	eventually(t, "every plate read in the vehicle log after space returned", 30*time.Second, func() bool {
		return len(s.Gateway.Vehicles.Passages(vehicles.Query{Limit: 2 * n})) == n+1
	})
	eventually(t, "/readyz 200 again", 10*time.Second, func() bool { code, _ := readyz(t, s); return code == 200 })
	gwAlerts.wait(t, "store_recovered on the gateway alert topic", 10*time.Second, func(m mqtt.Message) bool {
		return strings.Contains(string(m.Payload()), `"alert":"store_recovered"`)
	})

	// On disk, not only in memory: a restart finds all of it.
	s.Stop(t)
	if err := s.run(t); err != nil {
		t.Fatal(err)
	}
	ps := s.Gateway.Vehicles.Passages(vehicles.Query{Limit: 2 * n})
	have := map[string]bool{}
	for _, p := range ps {
		have[p.Plate] = true
	}
	for i := 0; i <= n; i++ {
		if !have[plate(i)] {
			t.Fatalf("plate read %d (%s) lost; %d passages after restart", i, plate(i), len(ps))
		}
	}
	incs, err := s.Gateway.Incidents.List(incidents.Filter{Type: incident.SOS})
	if err != nil || len(incs) != 1 || incs[0].Source.Gate != "north" {
		t.Fatalf("SOS incident after restart: %+v, %v", incs, err)
	}
}

func readyz(t *testing.T, s *site) (int, string) {
	t.Helper()
	resp, err := http.Get(s.Console + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func gauge(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func gatewayDone(s *site) <-chan error { return s.done }

// Stopped while the disk is full, the gateway leaves the events it could
// not store unacknowledged: the broker gives them to the next process, which
// stores them once there is space.
func TestFullDataDirStopHandsEventsBackToBroker(t *testing.T) {
	disk := testenv.NewSmallDisk(t, "2m")
	s := startSite(t, siteOpts{DataDir: disk.Dir})
	sensor := mqttClient(t, s.Mosquitto.URL, "gate-north-lpr")
	topic := "lanewatch/test-site/gates/north/events"
	plate := func(i int) string { return fmt.Sprintf("沪C%05d", i) }
	disk.Fill(t)
	const n = 300
	for i := range n {
		publish(t, sensor, topic, fmt.Sprintf(`{"id":"pr-%d","type":"plate_read","plate":%q,"direction":"in","confidence":0.9}`, i, plate(i)))
	}
	eventually(t, "/readyz 503", 20*time.Second, func() bool { code, _ := readyz(t, s); return code == 503 })
	stopped := time.Now()
	s.Stop(t) // fails the test if shutdown takes over 15 s or errs
	t.Logf("stopped in %v with the disk full", time.Since(stopped).Round(time.Millisecond))

	disk.Free(t)
	if err := s.run(t); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every plate read stored by the next process", 30*time.Second, func() bool {
		return len(s.Gateway.Vehicles.Passages(vehicles.Query{Limit: 2 * n})) == n
	}, func() {
		t.Logf("%d passages, ingest %+v", len(s.Gateway.Vehicles.Passages(vehicles.Query{Limit: 2 * n})), s.Gateway.Sensors.Counts())
	})
	have := map[string]bool{}
	for _, p := range s.Gateway.Vehicles.Passages(vehicles.Query{Limit: 2 * n}) {
		have[p.Plate] = true
	}
	for i := range n {
		if !have[plate(i)] {
			t.Fatalf("plate read %d lost", i)
		}
	}
}
