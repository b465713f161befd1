package gateway_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/lanewatch/lanewatch/internal/vehicles"
)

// TestInfluxPassagesCarryPseudonyms: vehicle_passage points in a real
// InfluxDB carry the keyed pseudonym of a plate, and the plate itself only
// when it is on the watch list; the key sits in data_dir/plate.key (0600).
func TestInfluxPassagesCarryPseudonyms(t *testing.T) {
	if testing.Short() {
		t.Skip("gateway with influxd")
	}
	s := startSite(t, siteOpts{Influx: true, Extra: "vehicles: {watchlist: [\"苏E99999\"]}\n"})
	sensor := mqttClient(t, s.Mosquitto.URL, "gate-north-lpr")
	publish(t, sensor, "lanewatch/test-site/gates/north/events", `{"id":"pr-1","type":"plate_read","plate":"沪A12345","direction":"in","confidence":0.93}`)
	publish(t, sensor, "lanewatch/test-site/gates/north/events", `{"id":"pr-2","type":"plate_read","plate":"苏E99999","direction":"in","confidence":0.91}`)

	client := influxdb2.NewClient(s.Influx.URL, "")
	defer client.Close()
	plates := map[string]string{} // class -> plate field
	eventually(t, "two vehicle_passage points in InfluxDB", 30*time.Second, func() bool {
		q := fmt.Sprintf(`from(bucket:%q) |> range(start: -1h) |> filter(fn: (r) => r._measurement == "vehicle_passage" and r._field == "plate")`, s.Influx.Bucket)
		res, err := client.QueryAPI("").Query(context.Background(), q)
		if err != nil {
			return false
		}
		defer res.Close()
		for res.Next() {
			r := res.Record()
			plates[fmt.Sprint(r.ValueByKey("class"))] = fmt.Sprint(r.Value())
		}
		return len(plates) == 2
	}, func() { t.Logf("points: %v", plates) })
	if got := plates["blacklisted"]; got != "苏E99999" {
		t.Errorf("watch-listed plate written as %q, want it as it is", got)
	}
	got := plates["unknown"]
	if !strings.HasPrefix(got, vehicles.AnonPrefix) || len(got) != len(vehicles.AnonPrefix)+64 || strings.Contains(got, "12345") {
		t.Errorf("unlisted plate written as %q, want its keyed pseudonym", got)
	}
	fi, err := os.Stat(filepath.Join(s.Dir, "data", vehicles.KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("pseudonymisation key file: %v %v", fi, err)
	}
}
