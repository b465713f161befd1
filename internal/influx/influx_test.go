package influx

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api/write"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/sensors"
	"github.com/lanewatch/lanewatch/internal/testenv"
	"github.com/lanewatch/lanewatch/internal/vehicles"
)

// row is one Flux record flattened to its measurement, tags and field.
type row struct {
	tags  map[string]string
	field string
	value any
}

// query returns every record of measurement written in the last hour.
func query(t *testing.T, d *testenv.Influxd, measurement string) []row {
	t.Helper()
	c := influxdb2.NewClient(d.URL, "")
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	q := fmt.Sprintf(`from(bucket:%q) |> range(start: -1h) |> filter(fn: (r) => r._measurement == %q)`, d.Bucket, measurement)
	res, err := c.QueryAPI("").Query(ctx, q)
	if err != nil {
		t.Fatalf("flux: %v", err)
	}
	var out []row
	for res.Next() {
		r := res.Record()
		tags := map[string]string{}
		for k, v := range r.Values() {
			if s, ok := v.(string); ok && len(k) > 0 && k[0] != '_' && k != "result" {
				tags[k] = s
			}
		}
		out = append(out, row{tags: tags, field: r.Field(), value: r.Value()})
	}
	if res.Err() != nil {
		t.Fatal(res.Err())
	}
	return out
}

func count(t *testing.T, d *testenv.Influxd, measurement string) int64 {
	t.Helper()
	c := influxdb2.NewClient(d.URL, "")
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	q := fmt.Sprintf(`from(bucket:%q) |> range(start: -2h) |> filter(fn: (r) => r._measurement == %q and r._field == "count") |> group() |> count()`, d.Bucket, measurement)
	res, err := c.QueryAPI("").Query(ctx, q)
	if err != nil {
		t.Fatalf("flux: %v", err)
	}
	var n int64
	for res.Next() {
		n += res.Record().Value().(int64)
	}
	if res.Err() != nil {
		t.Fatal(res.Err())
	}
	return n
}

func newWriter(t *testing.T, d *testenv.Influxd, mod func(*Config)) *Writer {
	t.Helper()
	cfg := Config{URL: d.URL, Bucket: d.Bucket, Site: "zl", FlushInterval: 50 * time.Millisecond,
		RetryMin: 50 * time.Millisecond, RetryMax: 300 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.Start(context.Background())
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Each contract measurement lands with exactly the contract's tags and fields.
func TestMeasurementsMatchContract(t *testing.T) {
	d := testenv.StartInfluxd(t)
	w := newWriter(t, d, nil)
	at := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	dwell := int64(3600)
	entry := at.Add(-time.Hour)

	w.Camera("lawn", 25, 24.5, 5, 3.25, 40.5, 2, true, at)
	w.Incident(incident.Incident{ID: "inc-1", Type: incident.GateForced, Severity: incident.High,
		Source: incident.Source{Gate: "north"}, UpdatedAt: at})
	w.Incident(incident.Incident{ID: "inc-2", Type: incident.Intrusion, Severity: incident.Medium,
		Source: incident.Source{Camera: "lawn", Zone: "z"}, StartedAt: at})
	w.Passage(vehicles.Passage{Gate: "north", Direction: sensors.Out, Plate: "青A12345", Class: vehicles.ClassResident,
		At: at, EntryAt: &entry, DwellS: &dwell})
	w.Passage(vehicles.Passage{Gate: "north", Direction: sensors.In, Plate: "B77", Class: vehicles.ClassUnknown, At: at})
	w.GateEvent("north", "door_open", at)
	w.GateEvent("zero", "sos", time.Time{}) // no time: now, not year 1
	waitFor(t, "points written", 20*time.Second, func() bool { return w.Written() == 7 })

	type want struct {
		measurement string
		tags        map[string]string
		fields      map[string]any
	}
	cases := []want{
		{"camera", map[string]string{"site": "zl", "camera": "lawn"}, map[string]any{
			"fps_in": 25.0, "fps_decoded": 24.5, "fps_analyzed": 5.0, "decode_ms": 3.25, "detect_ms": 40.5,
			"reconnects": int64(2), "online": int64(1)}},
		{"incident", map[string]string{"site": "zl", "type": "gate_forced", "severity": "high", "gate": "north"},
			map[string]any{"count": int64(1), "id": "inc-1"}},
		{"incident", map[string]string{"site": "zl", "type": "intrusion", "severity": "medium", "camera": "lawn"},
			map[string]any{"count": int64(1), "id": "inc-2"}},
		{"vehicle_passage", map[string]string{"site": "zl", "gate": "north", "direction": "out", "class": "resident"},
			map[string]any{"plate": "青A12345", "dwell_s": int64(3600)}},
		{"vehicle_passage", map[string]string{"site": "zl", "gate": "north", "direction": "in", "class": "unknown"},
			map[string]any{"plate": "B77"}},
		{"gate_event", map[string]string{"site": "zl", "gate": "north", "type": "door_open"},
			map[string]any{"count": int64(1)}},
		{"gate_event", map[string]string{"site": "zl", "gate": "zero", "type": "sos"},
			map[string]any{"count": int64(1)}},
	}
	got := map[string][]row{}
	for _, m := range []string{"camera", "incident", "vehicle_passage", "gate_event"} {
		got[m] = query(t, d, m)
	}
	for _, c := range cases {
		t.Run(c.measurement+"/"+fmt.Sprint(c.tags), func(t *testing.T) {
			fields := map[string]any{}
			for _, r := range got[c.measurement] {
				if fmt.Sprint(r.tags) == fmt.Sprint(c.tags) {
					fields[r.field] = r.value
				}
			}
			if fmt.Sprint(fields) != fmt.Sprint(c.fields) {
				t.Errorf("fields = %v, want %v", fields, c.fields)
			}
			for f, v := range c.fields {
				if fmt.Sprintf("%T", fields[f]) != fmt.Sprintf("%T", v) {
					t.Errorf("field %s type %T, want %T", f, fields[f], v)
				}
			}
		})
	}
	// No stray tag sets: every series read back is one we expect.
	var seen []string
	for m, rs := range got {
		for _, r := range rs {
			seen = append(seen, m+fmt.Sprint(r.tags))
		}
	}
	sort.Strings(seen)
	for _, s := range seen {
		ok := false
		for _, c := range cases {
			if s == c.measurement+fmt.Sprint(c.tags) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("unexpected series %s", s)
		}
	}
}

// While influxd is down callers never block and nothing crashes; the points
// buffered meanwhile arrive once it is back.
func TestOutageBuffersAndResumes(t *testing.T) {
	t.Parallel()
	d := testenv.StartInfluxd(t)
	w := newWriter(t, d, nil)
	base := time.Now().Add(-30 * time.Minute)
	w.GateEvent("north", "loop", base)
	waitFor(t, "first point", 20*time.Second, func() bool { return w.Written() == 1 })

	d.Stop()
	const n = 10000
	done := make(chan time.Duration)
	go func() {
		start := time.Now()
		for i := 0; i < n; i++ {
			w.GateEvent("north", "loop", base.Add(time.Duration(i+1)*time.Millisecond))
		}
		done <- time.Since(start)
	}()
	select {
	case el := <-done:
		t.Logf("%d calls with InfluxDB down took %v", n, el)
	case <-time.After(30 * time.Second):
		t.Fatal("callers blocked while InfluxDB was down")
	}
	time.Sleep(500 * time.Millisecond) // let the writer fail and retry a few times
	if w.Dropped() != 0 {
		t.Fatalf("dropped %d points below the bound", w.Dropped())
	}
	if q := w.Queued(); q < n-DefaultBatchPoints {
		t.Fatalf("queued %d, want about %d", q, n)
	}
	d.Start()
	waitFor(t, "buffered points written", 30*time.Second, func() bool { return w.Written() == n+1 })
	if got := count(t, d, "gate_event"); got != n+1 {
		t.Fatalf("InfluxDB holds %d gate_event points, want %d", got, n+1)
	}
}

// Over the bound the oldest points go, are counted in Dropped and the metric,
// and the newest ones survive.
func TestBoundDropsOldest(t *testing.T) {
	t.Parallel()
	d := testenv.StartInfluxd(t)
	reg := prometheus.NewRegistry()
	w := newWriter(t, d, func(c *Config) { c.BufferPoints = 1000; c.BatchPoints = 100; c.Registerer = reg })
	d.Stop()
	base := time.Now().Add(-30 * time.Minute).Truncate(time.Millisecond)
	const n = 3000
	for i := 0; i < n; i++ {
		w.GateEvent(fmt.Sprintf("g%d", i), "loop", base.Add(time.Duration(i)*time.Millisecond))
	}
	// The writer may hold one batch in flight on top of the ring.
	if dr := w.Dropped(); dr < n-1000-100 || dr > n-1000 {
		t.Fatalf("dropped %d, want about %d", dr, n-1000)
	}
	d.Start()
	waitFor(t, "kept points written", 30*time.Second, func() bool { return w.Queued() == 0 && w.Written()+w.Dropped() == n })
	if w.Written() > 1000+100 {
		t.Fatalf("written %d, more than the bound", w.Written())
	}
	if got := testutil.ToFloat64(w.mDropped); int64(got) != w.Dropped() {
		t.Fatalf("metric %v != Dropped() %d", got, w.Dropped())
	}
	rows := query(t, d, "gate_event")
	gates := map[string]bool{}
	for _, r := range rows {
		gates[r.tags["gate"]] = true
	}
	if !gates[fmt.Sprintf("g%d", n-1)] {
		t.Fatal("newest point was dropped")
	}
	if gates["g0"] || gates["g1000"] {
		t.Fatal("oldest points were kept over newer ones")
	}
	if int64(len(gates)) != w.Written() {
		t.Fatalf("InfluxDB holds %d points, writer says %d", len(gates), w.Written())
	}
}

func pt(i int) *write.Point {
	return write.NewPoint(fmt.Sprintf("m%d", i), nil, map[string]any{"v": i}, time.Unix(int64(i), 0))
}

func TestRingPushFront(t *testing.T) {
	r := newRing(4)
	for i := 0; i < 3; i++ {
		r.push(pt(i))
	}
	b := r.popN(2) // 0,1 in flight
	r.push(pt(3))
	r.push(pt(4))
	r.push(pt(5)) // ring: 2,3,4,5 (full)
	if lost := r.pushFront(b); lost != 2 {
		t.Fatalf("lost %d, want 2", lost)
	}
	r.push(pt(6)) // drops 2
	got := r.popN(10)
	var names []string
	for _, p := range got {
		names = append(names, p.Name())
	}
	if fmt.Sprint(names) != "[m3 m4 m5 m6]" {
		t.Fatalf("ring = %v", names)
	}
}

func TestCloseUnstartedAndDefaults(t *testing.T) {
	if _, err := New(Config{Bucket: "b"}); err == nil {
		t.Fatal("missing URL accepted")
	}
	w, err := New(Config{URL: "http://127.0.0.1:1", Bucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if w.cfg.BufferPoints != DefaultBufferPoints {
		t.Fatalf("buffer default %d", w.cfg.BufferPoints)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c := FromConfig(config.Influx{URL: "u", Token: "a:b", Org: "o", Bucket: "db/rp", BufferPoints: 7}, "zl")
	if c != (Config{URL: "u", Token: "a:b", Org: "o", Bucket: "db/rp", BufferPoints: 7, Site: "zl"}) {
		t.Fatalf("FromConfig = %+v", c)
	}
}

// A point InfluxDB refuses (a field type conflict is HTTP 400) is counted and
// skipped; it must not wedge the queue for the points behind it.
func TestRejectedBatchDoesNotWedge(t *testing.T) {
	t.Parallel()
	d := testenv.StartInfluxd(t)
	w := newWriter(t, d, func(c *Config) { c.BatchPoints = 1 })
	at := time.Now().Add(-time.Minute)
	w.Add(write.NewPoint("gate_event", map[string]string{"gate": "x"}, map[string]any{"count": int64(1)}, at))
	waitFor(t, "first point", 20*time.Second, func() bool { return w.Written() == 1 })
	w.Add(write.NewPoint("gate_event", map[string]string{"gate": "x"}, map[string]any{"count": "one"}, at.Add(time.Second)))
	w.GateEvent("after", "loop", at.Add(2*time.Second))
	waitFor(t, "point after the rejected one", 20*time.Second, func() bool { return w.Written() == 2 })
	if w.rejected.Load() != 1 {
		t.Fatalf("rejected = %d", w.rejected.Load())
	}
}

// Close writes what is still queued.
func TestCloseFlushes(t *testing.T) {
	t.Parallel()
	d := testenv.StartInfluxd(t)
	w, err := New(Config{URL: d.URL, Bucket: d.Bucket, Site: "zl", FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	w.Start(context.Background())
	at := time.Now().Add(-time.Minute)
	for i := 0; i < 1234; i++ {
		w.GateEvent("north", "loop", at.Add(time.Duration(i)*time.Microsecond))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := count(t, d, "gate_event"); got != 1234 {
		t.Fatalf("after Close InfluxDB holds %d points, want 1234", got)
	}
}

// BenchmarkAdd is the cost to the caller of one point (InfluxDB down, so the
// writer only fails and re-queues in the background).
func BenchmarkAdd(b *testing.B) {
	w, err := New(Config{URL: "http://127.0.0.1:1", Bucket: "b", Site: "zl", RetryMin: time.Second,
		Logger: slog.New(slog.DiscardHandler), CloseTimeout: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	w.Start(context.Background())
	defer w.Close()
	at := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.Camera("lawn", 25, 25, 5, 3, 40, 0, true, at)
	}
}
