package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
)

// TestFiguresAreMeasured: the camera figures written to InfluxDB are
// measured (decode_ms and detect_ms above zero while a camera with people
// walking is decoded and analysed; decode_ms was a constant 0), and
// /metrics carries the analysis loop: detector time, frames analysed,
// sweeps and signals per rule.
func TestFiguresAreMeasured(t *testing.T) {
	if testing.Short() {
		t.Skip("gateway with camera and influxd")
	}
	// An intrusion zone over the path where people walk in the clip, so
	// that the rules raise signals.
	s := startSite(t, siteOpts{Influx: true, Camera: true,
		Extra: "    zones:\n      - {id: path, rule: intrusion, objects: [person], schedule: always, polygon: [[0, 0.3], [1, 0.15], [1, 0.85], [0, 0.45]]}\n"})
	client := influxdb2.NewClient(s.Influx.URL, "")
	defer client.Close()

	field := func(name string) (float64, bool) {
		q := fmt.Sprintf(`from(bucket:%q) |> range(start: -1h) |> filter(fn: (r) => r._measurement == "camera" and r.camera == "lawn" and r._field == %q) |> max()`,
			s.Influx.Bucket, name)
		res, err := client.QueryAPI("").Query(context.Background(), q)
		if err != nil {
			t.Logf("query: %v", err)
			return 0, false
		}
		defer res.Close()
		best, ok := 0.0, false
		for res.Next() {
			if v, isF := res.Record().Value().(float64); isF {
				best, ok = max(best, v), true
			}
		}
		return best, ok
	}
	// The status goes to InfluxDB every 10 s; the first samples may come
	// before the first decoded frame.
	var decodeMS, detectMS float64
	eventually(t, "camera point with decode_ms > 0 and detect_ms > 0 in InfluxDB", 45*time.Second, func() bool {
		decodeMS, _ = field("decode_ms")
		detectMS, _ = field("detect_ms")
		return decodeMS > 0 && detectMS > 0
	}, func() { t.Logf("decode_ms max %g, detect_ms max %g", decodeMS, detectMS) })
	// A 1280x720 H.264 frame decodes in well under 100 ms on any box this runs on.
	if decodeMS > 100 {
		t.Errorf("decode_ms %g: not a per-frame figure", decodeMS)
	}
	t.Logf("decode_ms %.2f, detect_ms %.2f", decodeMS, detectMS)

	var m map[string]float64
	eventually(t, "analysis loop metrics", 30*time.Second, func() bool {
		m = scrape(t, s)
		return m[`lanewatch_analytics_frames_analysed_total{camera="lawn"}`] > 0 &&
			m[`lanewatch_analytics_detect_seconds_count{camera="lawn"}`] > 0 &&
			m[`lanewatch_analytics_signals_total{camera="lawn",rule="intrusion"}`] > 0 &&
			m[`lanewatch_camera_decode_seconds_total{camera="lawn"}`] > 0
	}, func() {
		for k, v := range m {
			if strings.HasPrefix(k, "lanewatch_analytics") || strings.HasPrefix(k, "lanewatch_camera_decode") {
				t.Logf("%s %g", k, v)
			}
		}
	})
	// Present even when zero: a flat line on a dashboard is a figure too.
	for _, k := range []string{`lanewatch_analytics_frames_skipped_total{camera="lawn"}`, `lanewatch_analytics_sweeps_total{camera="lawn"}`} {
		if _, ok := m[k]; !ok {
			t.Errorf("/metrics lacks %s", k)
		}
	}
}

// scrape reads /metrics into "name{labels}" -> value.
func scrape(t *testing.T, s *site) map[string]float64 {
	t.Helper()
	resp := s.api(t, "GET", "/metrics", adminToken, "")
	body := mustBody(t, resp)
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out
}
