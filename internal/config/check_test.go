package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// want is one expected problem: exact line and path, and a fragment of the message.
type want struct {
	line int
	path string
	msg  string
}

func checkProblems(t *testing.T, yml string, wants []want) {
	t.Helper()
	got := CheckBytes("test.yaml", []byte(yml))
	if len(got) != len(wants) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(wants), problemsText(got))
	}
	for i, w := range wants {
		g := got[i]
		if g.File != "test.yaml" || g.Line != w.line || g.Path != w.path || !strings.Contains(g.Msg, w.msg) {
			t.Errorf("problem %d = %s\nwant test.yaml:%d: %s: …%s…", i, g, w.line, w.path, w.msg)
		}
	}
}

func problemsText(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString("  " + p.String() + "\n")
	}
	return b.String()
}

// Each case is a whole file so that the expected line numbers can be read
// off the text.
// cam is lines 1-4 of most cases below: a valid site and one camera, to
// which a case adds its faulty lines from line 5 on.
const cam = `site: {id: s1}
cameras:
  - id: cam
    url: rtsp://10.0.0.2/stream
`

// Each case is a whole file; expected line numbers count from its first line.
func TestCheckCatchesEachClass(t *testing.T) {
	t.Setenv("LW_TEST_FPS", "7")
	tests := []struct {
		name  string
		yml   string
		wants []want
	}{
		{"valid minimal", cam, nil},
		{"unknown key with suggestion", cam + `    zonez: []
`, []want{{5, "cameras[0].zonez", "unknown key (did you mean zones?)"}}},
		{"unknown top-level key", `site: {id: s1}
frobnicate: 3
`, []want{{2, "frobnicate", "unknown key"}}},
		{"wrong type number", cam + `    detect:
      fps: fast
`, []want{{6, "cameras[0].detect.fps", `expected a number, got "fast"`}}},
		{"wrong type list", `site: {id: s1}
cameras: lawn
`, []want{{2, "cameras", "expected a list"}}},
		{"wrong type duration", `site: {id: s1}
vehicles:
  overstay: 3 days
`, []want{{3, "vehicles.overstay", "expected a duration"}}},
		{"polygon too few points", cam + `    zones:
      - id: lawn
        rule: intrusion
        polygon: [[0, 0], [1, 1]]
`, []want{{8, "cameras[0].zones[0].polygon", "at least 3 points, got 2"}}},
		{"polygon point outside the frame", cam + `    zones:
      - id: lawn
        rule: intrusion
        polygon:
          - [0, 0]
          - [1.2, 0]
          - [1, 1]
`, []want{{10, "cameras[0].zones[0].polygon[1]", "outside the frame"}}},
		{"polygon bow-tie", cam + `    zones:
      - id: lawn
        rule: intrusion
        polygon: [[0, 0], [1, 1], [1, 0], [0, 1]]
`, []want{{8, "cameras[0].zones[0].polygon", "crosses itself"}}},
		{"bad schedule", cam + `    zones:
      - id: lawn
        rule: intrusion
        schedule: "Mon-Fri 25:00-06:00"
        polygon: [[0, 0], [1, 0], [1, 1]]
`, []want{{8, "cameras[0].zones[0].schedule", "out of range"}}},
		{"duplicate camera ids", cam + `  - id: cam
    url: rtsp://10.0.0.3/stream
`, []want{{5, "cameras[1].id", `duplicate id "cam" (also cameras[0])`}}},
		{"duplicate zone ids", cam + `    zones:
      - {id: a, rule: intrusion, polygon: [[0, 0], [1, 0], [1, 1]]}
      - {id: a, rule: loitering, polygon: [[0, 0], [1, 0], [1, 1]]}
`, []want{{7, "cameras[0].zones[1].id", "duplicate id"}}},
		{"non-rtsp url", `site: {id: s1}
cameras:
  - id: cam
    url: http://user:secret@10.0.0.2/stream
`, []want{{4, "cameras[0].url", "rtsp:// or rtsps://"}}},
		{"unset env", `site: {id: s1}
mqtt:
  broker: tcp://10.0.0.9:1883
  password: ${LW_TEST_SURELY_UNSET}
`, []want{{4, "mqtt.password", "environment variable LW_TEST_SURELY_UNSET is not set"}}},
		{"env expanded before decoding", cam + `    detect: {fps: "${LW_TEST_FPS}"}
`, nil},
		{"missing required field", `site: {id: s1}
cameras:
  - id: cam
    name: "no url"
`, []want{{3, "cameras[0].url", "required"}}},
		{"missing site id", `gateway_id: gw-2
`, []want{{1, "site.id", "required"}}},
		{"bad id", `site: {id: Zhonghua Lane}
`, []want{{1, "site.id", "not a valid id"}}},
		{"gate references unknown camera", `site: {id: s1}
gates:
  - id: north
    cameras: [nowhere]
`, []want{{4, "gates[0].cameras[0]", `no camera with id "nowhere"`}}},
		{"duplicate key", `site: {id: s1}
gateway_id: a
gateway_id: b
`, []want{{3, "gateway_id", "duplicate key"}}},
		{"yaml syntax error", `site: {id: s1
cameras: []
`, []want{{1, "", "did not find expected"}}},
		{"platform secret", `site: {id: s1}
platform:
  url: ftp://platform.example/x
  secret: whsec_c2hvcnQ=
`, []want{
			{3, "platform.url", "http:// or https://"},
			{4, "platform.secret", "key is 5 bytes, want at least 16"},
		}},
		{"bad watchlist plate", `site: {id: s1}
vehicles:
  watchlist: ["沪A12345", "A"]
`, []want{{3, "vehicles.watchlist[1]", "not a plate"}}},
		{"console users and tokens", `site: {id: s1}
console:
  users:
    - {name: admin, role: root, password_hash: hunter2}
  tokens:
    - {name: wall, role: viewer, token: ""}
    - {name: wall-2, role: viewer, token: short-token}
`, []want{
			{4, "console.users[0].role", `"root" is not one of viewer, operator, admin`},
			{4, "console.users[0].password_hash", "not a bcrypt hash"},
			{6, "console.tokens[0].token", "required"},
			{7, "console.tokens[1].token", "at least 16 characters"},
		}},
		{"detector", `site: {id: s1}
detector:
  kind: darknet
  model: /m.weights
  sha256: abc
  input: 300
  threshold: 1.5
`, []want{
			{2, "detector.config", "required"},
			{5, "detector.sha256", "64 hex"},
			{6, "detector.input", "multiple of 32"},
			{7, "detector.threshold", "(0, 1]"},
		}},
		{"line and enums", cam + `    transport: quic
    lines:
      - {id: l, direction: sideways, objects: [cat], points: [[0, 0]]}
`, []want{
			{5, "cameras[0].transport", "not one of tcp, udp"},
			{7, "cameras[0].lines[0].direction", "not one of in, out, any"},
			{7, "cameras[0].lines[0].objects[0]", `"cat" is not one of`},
			{7, "cameras[0].lines[0].points", "at least 2 points"},
		}},
		{"mqtt broker and timezone", `site: {id: s1, timezone: Mars/Olympus}
mqtt: {broker: "http://broker:1883"}
`, []want{
			{1, "site.timezone", "unknown time zone"},
			{2, "mqtt.broker", "must be embedded"},
		}},
		{"all problems sorted by line", `bogus: 1
site: {id: s1}
cameras:
  - id: Cam
    url: rtsp://10.0.0.2/stream
    detect: {fps: -1}
gates:
  - {id: g, door_held_open: -5s}
`, []want{
			{1, "bogus", "unknown key"},
			{4, "cameras[0].id", "not a valid id"},
			{6, "cameras[0].detect.fps", "(0, 30]"},
			{8, "gates[0].door_held_open", "positive"},
		}},
		{"read batch too long", `site: {id: s1}
cameras:
  - id: cam
    url: rtsp://10.0.0.2/stream
    read_batch: 2s
`, []want{{5, "cameras[0].read_batch", "at most 1s"}}},
		{"sweep too often", `site: {id: s1}
cameras:
  - id: cam
    url: rtsp://10.0.0.2/stream
    detect: {sweep: 200ms}
`, []want{{5, "cameras[0].detect.sweep", "at least 1s"}}},
		{"second document", `site: {id: s1}
---
site: {id: s2}
`, []want{{2, "", "only one YAML document"}}},
		{"empty file", ``, []want{{1, "", "empty"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkProblems(t, tt.yml, tt.wants)
		})
	}
}

func TestLoadErrorsType(t *testing.T) {
	_, err := Parse("x.yaml", []byte("site: {id: s1}\nnope: 1\n"))
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %v (%T) is not *Errors", err, err)
	}
	if len(errs.Problems) != 1 || errs.Error() != "x.yaml:2: nope: unknown key" {
		t.Fatalf("Error() = %q", errs.Error())
	}
	if _, err := Load("/nonexistent/lanewatch.yaml"); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
	ps := Check("/nonexistent/lanewatch.yaml")
	if len(ps) != 1 || ps[0].Line != 0 || !strings.HasPrefix(ps[0].String(), "/nonexistent/lanewatch.yaml: ") {
		t.Fatalf("Check(missing) = %v", ps)
	}
}

func TestSecretNotInProblems(t *testing.T) {
	t.Setenv("LW_TEST_SECRET", "whsec_!!!not-base64-topsecret")
	ps := CheckBytes("x.yaml", []byte("site: {id: s1}\nplatform: {url: https://p.example, secret: '${LW_TEST_SECRET}'}\ncameras: [{id: c, url: 'http://u:pw-topsecret@h/'}]\n"))
	if len(ps) != 2 {
		t.Fatalf("want 2 problems, got %s", problemsText(ps))
	}
	for _, p := range ps {
		if strings.Contains(p.String(), "topsecret") {
			t.Errorf("problem leaks a secret: %s", p)
		}
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := Parse("x.yaml", []byte(`
site: {id: s1}
platform: {url: https://p.example/t}
influx: {url: http://127.0.0.1:8086}
detector: {kind: onnx, model: /m.onnx}
cameras:
  - id: cam
    url: rtsp://h/s
    zones:
      - {id: fire, rule: fire_lane_blocked, polygon: [[0, 0], [1, 0], [1, 1]]}
      - {id: crowd, rule: crowd, polygon: [[0, 0], [1, 0], [1, 1]]}
    lines:
      - {id: l, points: [[0, 0], [1, 1]]}
gates: [{id: g}]
incidents:
  escalate: {critical: 1m, medium: 0s}
`))
	if err != nil {
		t.Fatal(err)
	}
	cam := cfg.Cameras[0]
	checks := []struct {
		name     string
		got, exp any
	}{
		{"timezone", cfg.Site.Timezone, "UTC"},
		{"location", cfg.Location(), time.UTC},
		{"gateway_id", cfg.GatewayID, "gw-1"},
		{"data_dir", cfg.DataDir, "./data"},
		{"broker", cfg.MQTT.Broker, "embedded"},
		{"listen", cfg.MQTT.Listen, "127.0.0.1:1883"},
		{"topic_prefix", cfg.MQTT.TopicPrefix, "lanewatch"},
		{"client_id", cfg.MQTT.ClientID, "lanewatch-gw-1"},
		{"console.listen", cfg.Console.Listen, "127.0.0.1:8080"},
		{"mjpeg", cfg.Console.MJPEG, MJPEG{FPS: 5, Width: 640, Quality: 75}},
		{"platform timeout", cfg.Platform.Timeout, 10 * time.Second},
		{"influx buffer", cfg.Influx.BufferPoints, 100000},
		{"influx bucket", cfg.Influx.Bucket, "lanewatch"},
		{"detector input", cfg.Detector.Input, 320},
		{"detector threshold", cfg.Detector.Threshold, 0.35},
		{"camera name", cam.Name, "cam"},
		{"camera detect", [2]any{cam.Detect.FPS, cam.Detect.Width}, [2]any{5.0, 640}},
		{"transport", cam.Transport, "tcp"},
		{"read_batch", cam.ReadBatch, 100 * time.Millisecond},
		{"sweep", cam.Detect.Sweep, 10 * time.Second},
		{"tamper", *cam.Tamper, true},
		{"fire objects", strings.Join(cam.Zones[0].Objects, ","), "vehicle"},
		{"fire dwell", cam.Zones[0].Dwell, 2 * time.Minute},
		{"zone schedule", cam.Zones[0].Schedule, "always"},
		{"crowd min_count", cam.Zones[1].MinCount, 5},
		{"line rule", cam.Lines[0].Rule, "line_crossing"},
		{"line direction", cam.Lines[0].Direction, "any"},
		{"gate door_held_open", cfg.Gates[0].DoorHeldOpen, 60 * time.Second},
		{"gate access_window", cfg.Gates[0].AccessWindow, 15 * time.Second},
		{"overstay", cfg.Vehicles.Overstay, 24 * time.Hour},
		{"retention", cfg.Vehicles.Retention, 2160 * time.Hour},
		{"escalate critical (set)", cfg.Incidents.Escalate["critical"], time.Minute},
		{"escalate high (default)", cfg.Incidents.Escalate["high"], 5 * time.Minute},
		{"escalate medium (off)", cfg.Incidents.Escalate["medium"], time.Duration(0)},
		{"evidence", cfg.Evidence, Evidence{Retention: 720 * time.Hour, MaxBytes: 2 << 30, PreRoll: 10 * time.Second, PostRoll: 10 * time.Second}},
		{"outbox", cfg.Outbox.MaxBytes, int64(1 << 30)},
	}
	for _, c := range checks {
		if c.got != c.exp {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.exp)
		}
	}
}

func TestDecodingFeatures(t *testing.T) {
	t.Setenv("LW_TEST_TZ", "Asia/Shanghai")
	cfg, err := Parse("x.yaml", []byte(`
site: {id: s1, timezone: "${LW_TEST_TZ}"}
mqtt: {broker: embedded, password: "a$${literal}"}
evidence: {max_bytes: 512MiB}
outbox: {max_bytes: 1000000}
vehicles: {watchlist: ["粤b·d12345"]}
cameras:
  - id: a
    url: rtsp://h/a
    zones:
      - &night
        id: z1
        rule: intrusion
        schedule: ["Mon-Fri 22:00-06:00", "Sat,Sun 00:00-24:00"]
        polygon: [[0, 0], [1, 0], [1, 1]]
      - <<: *night
        id: z2
`))
	if err != nil {
		t.Fatal(err)
	}
	sh, _ := time.LoadLocation("Asia/Shanghai")
	if cfg.Location().String() != sh.String() {
		t.Errorf("Location() = %v", cfg.Location())
	}
	if cfg.MQTT.Password != "a${literal}" {
		t.Errorf("$${ escape: password = %q", cfg.MQTT.Password)
	}
	if cfg.Evidence.MaxBytes != 512<<20 || cfg.Outbox.MaxBytes != 1000000 {
		t.Errorf("sizes: %d %d", cfg.Evidence.MaxBytes, cfg.Outbox.MaxBytes)
	}
	if cfg.Vehicles.Watchlist[0] != "粤BD12345" {
		t.Errorf("watchlist not normalised: %q", cfg.Vehicles.Watchlist[0])
	}
	zs := cfg.Cameras[0].Zones
	if len(zs) != 2 || zs[1].ID != "z2" || zs[1].Rule != "intrusion" || zs[1].Schedule != "Mon-Fri 22:00-06:00, Sat,Sun 00:00-24:00" || len(zs[1].Polygon) != 3 {
		t.Errorf("merge/schedule list: %+v", zs)
	}
}

// A "billion laughs" file, aliases nested along the schema (cameras of zones
// of polygon points), must be refused quickly rather than expanded.
func TestAliasBomb(t *testing.T) {
	rep := func(s string, n int) string { return strings.TrimSuffix(strings.Repeat(s+", ", n), ", ") }
	yml := "site: {id: s1}\ncameras: [&c {id: c, url: \"rtsp://h/\", zones: [" +
		"&z {id: z, rule: intrusion, polygon: [&pt [0.1, 0.1], " + rep("*pt", 250) + "]}, " +
		rep("*z", 300) + "]}, " + rep("*c", 300) + "]\n"
	start := time.Now()
	ps := CheckBytes("bomb.yaml", []byte(yml))
	if time.Since(start) > 5*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
	found := false
	for _, p := range ps {
		found = found || strings.Contains(p.Msg, "too large")
	}
	if !found {
		t.Fatalf("no 'too large' problem in:\n%s", problemsText(ps))
	}
}
