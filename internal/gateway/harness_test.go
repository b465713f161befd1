package gateway_test

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/detect"
	"github.com/lanewatch/lanewatch/internal/gateway"
	"github.com/lanewatch/lanewatch/internal/logx"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

const (
	adminToken  = "admin-token-0123456789abcdef"
	viewerToken = "viewer-token-0123456789abcdef"
	adminPass   = "correct horse battery"
	platformKey = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// site is the gateway under test with the real services around it.
type site struct {
	Dir         string
	ConfigPath  string
	Mosquitto   *testenv.Mosquitto
	Influx      *testenv.Influxd
	Console     string // http://127.0.0.1:port
	CamsimAddr  string
	PlatformURL string
	Gateway     *gateway.Gateway
	stop        context.CancelFunc
	pushClient  *http.Client
	MQTT        string // the broker test clients use: Mosquitto's, or the embedded one's
	done        chan error
}

type siteOpts struct {
	PlatformURL string
	Influx      bool
	Camera      bool
	Privacy     bool         // the camera gets a privacy mask over its top-left corner
	Record      string       // the camera's record.mode; default off
	Detector    string       // a model of shared/models for the detector (a pool of 1), with an intrusion zone over the lawn
	SubURL      string       // the camera's detect.url (its analysis sub-stream)
	Extra       string       // appended YAML
	DataDir     string       // default <Dir>/data
	Gates       int          // gates g0000… configured after north (events from unknown gates are rejected)
	PushClient  *http.Client // the gateway's Web Push client (a stand-in push service)
	Embedded    bool         // the embedded broker (NATS) instead of Mosquitto; clients use site.MQTT
}

// writeSiteConfig writes a configuration for a site on loopback: external
// Mosquitto, optional camera served by the built-in simulator from the
// shipped clip, optional platform and InfluxDB.
func writeSiteConfig(t testing.TB, s *site, o siteOpts) {
	t.Helper()
	hash, err := auth.HashPassword(adminPass)
	if err != nil {
		t.Fatal(err)
	}
	s.Console = "http://" + testenv.FreeAddr(t)
	dataDir := o.DataDir
	if dataDir == "" {
		dataDir = filepath.Join(s.Dir, "data")
	}
	var b strings.Builder
	fmt.Fprintf(&b, `site: {id: test-site, name: "Test site", timezone: Asia/Shanghai}
gateway_id: gw-test
data_dir: %q
log: {level: warn}
mqtt: {broker: %s, topic_prefix: lanewatch}
console:
  listen: %q
  users: [{name: admin, role: admin, password_hash: %q}]
  tokens:
    - {name: ops, role: admin, token: %q}
    - {name: wall, role: viewer, token: %q}
gates:
  - {id: north, name: "North gate"%s}
`, dataDir, brokerYAML(t, s, o), strings.TrimPrefix(s.Console, "http://"), hash, adminToken, viewerToken,
		map[bool]string{true: ", cameras: [lawn]", false: ""}[o.Camera])
	for i := range o.Gates {
		fmt.Fprintf(&b, "  - {id: g%04d}\n", i)
	}
	if o.PlatformURL != "" {
		fmt.Fprintf(&b, "platform: {url: %q, secret: %q, timeout: 2s}\n", o.PlatformURL, platformKey)
	}
	if o.Influx {
		s.Influx = testenv.StartInfluxd(t)
		fmt.Fprintf(&b, "influx: {url: %q, bucket: %q}\n", s.Influx.URL, s.Influx.Bucket)
	}
	if o.Camera {
		s.CamsimAddr = testenv.FreeAddr(t)
		clip := filepath.Join(testenv.RepoRoot(t), "media", "campus-walk-10s.mp4")
		fmt.Fprintf(&b, `demo: {camsim: %q, clips: {lawn: %q}}
cameras:
  - id: lawn
    name: "Lawn"
    url: rtsp://viewer:s3cret-cam-pass@%s/lawn
    detect: {fps: 5, width: 640%s}
    record: {mode: %s}
    lines:
      - {id: path, rule: line_crossing, direction: any, objects: [person], points: [[0.6, 0.3], [0.6, 0.8]]}
`, s.CamsimAddr, clip, s.CamsimAddr, subURL(o.SubURL), cmp.Or(o.Record, "off"))
		if o.Privacy {
			b.WriteString("    masks:\n      - {id: corner, kind: privacy, polygon: [[0, 0], [0.25, 0], [0.25, 0.25], [0, 0.25]]}\n")
		}
		if o.Detector != "" {
			m := detect.DefaultModel(filepath.Join(testenv.SharedDir(t), "models"), o.Detector)
			b.WriteString("    zones:\n      - {id: lawn, rule: intrusion, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}\n")
			fmt.Fprintf(&b, "detector: {kind: %s, model: %q, config: %q, input: %d, pool: 1}\n", m.Kind, m.Model, m.Config, m.Input)
		}
	}
	b.WriteString(o.Extra)
	s.ConfigPath = filepath.Join(s.Dir, "lanewatch.yaml")
	if err := os.WriteFile(s.ConfigPath, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// brokerYAML is mqtt.broker (and listen) for the site; it sets s.MQTT, the
// URL test clients connect to.
func brokerYAML(t testing.TB, s *site, o siteOpts) string {
	if !o.Embedded {
		s.MQTT = s.Mosquitto.URL
		return fmt.Sprintf("%q", s.MQTT)
	}
	addr := testenv.FreeAddr(t)
	s.MQTT = "tcp://" + addr
	return fmt.Sprintf("embedded, listen: %q", addr)
}

func subURL(u string) string {
	if u == "" {
		return ""
	}
	return fmt.Sprintf(", url: %q", u)
}

// startSite runs the gateway in this process and waits until it is up.
func startSite(t testing.TB, o siteOpts) *site {
	t.Helper()
	s := &site{Dir: t.TempDir(), Mosquitto: testenv.StartMosquitto(t), PlatformURL: o.PlatformURL, pushClient: o.PushClient}
	for attempt := 1; ; attempt++ {
		writeSiteConfig(t, s, o)
		err := s.run(t)
		if err == nil {
			break
		}
		if !portTaken(err.Error()) || attempt == 3 {
			t.Fatalf("gateway did not start: %v", err)
		}
		t.Logf("attempt %d: %v; retrying on fresh ports", attempt, err)
	}
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// portTaken says a start failed because a port picked by testenv.FreeAddr
// was taken by another process (parallel test packages make outgoing
// connections from the same range) before the gateway bound it.
func portTaken(out string) bool { return strings.Contains(out, "address already in use") }

func (s *site) run(t testing.TB) error {
	cfg, err := config.Load(s.ConfigPath)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.done = make(chan error, 1)
	started := make(chan *gateway.Gateway, 1)
	g := &gateway.Gateway{Config: cfg, ConfigPath: s.ConfigPath, Logger: logx.New(testWriter{t}, logx.Options{Level: "warn"}), PushClient: s.pushClient,
		Started: func(g *gateway.Gateway) { started <- g }}
	go func() { s.done <- g.Run(ctx) }()
	select {
	case s.Gateway = <-started:
		s.stop = cancel
		return nil
	case err := <-s.done:
		cancel()
		return err
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("gateway did not start within 60s")
		return nil
	}
}

// Stop cancels the gateway and waits for a clean shutdown; safe twice.
func (s *site) Stop(t testing.TB) {
	if s.stop == nil {
		return
	}
	s.stop()
	s.stop = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("gateway shutdown: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("gateway did not stop within 15s")
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// api makes an authenticated request to the console.
func (s *site) api(t testing.TB, method, path, token string, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, s.Console+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// apiClient bounds every API call of the tests: a console that does not
// answer fails the test rather than hanging the suite (CI saw a 22-minute wait).
var apiClient = &http.Client{Timeout: 60 * time.Second}

// mqttClient connects a patrol/sensor client to the test's Mosquitto.
func mqttClient(t testing.TB, url, id string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).SetOrderMatters(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// collector gathers MQTT messages of one subscription.
type collector struct {
	mu   sync.Mutex
	msgs []mqtt.Message
	ch   chan mqtt.Message
}

func subscribe(t testing.TB, c mqtt.Client, filter string) *collector {
	t.Helper()
	col := &collector{ch: make(chan mqtt.Message, 10000)}
	tok := c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
		col.mu.Lock()
		col.msgs = append(col.msgs, m)
		col.mu.Unlock()
		select {
		case col.ch <- m:
		default:
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return col
}

func (c *collector) wait(t testing.TB, what string, timeout time.Duration, match func(mqtt.Message) bool) mqtt.Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m := <-c.ch:
			if match(m) {
				return m
			}
		case <-deadline:
			t.Fatalf("no MQTT message: %s within %s", what, timeout)
			return nil
		}
	}
}

func publish(t testing.TB, c mqtt.Client, topic string, payload string) {
	t.Helper()
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func eventually(t testing.TB, what string, timeout time.Duration, cond func() bool, onFail ...func()) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			for _, f := range onFail {
				f()
			}
			t.Fatalf("not within %s: %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// publishEvery publishes msg(i) at QoS 1 from c once every `every` on
// average, in the background, handing each token to onToken (nil: not waited for). The
// returned stop ends the publisher and returns once every onToken has.
func publishEvery(c mqtt.Client, every time.Duration, msg func(i int) (topic, payload string), onToken func(i int, tok mqtt.Token)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// A ticker drops the ticks it is late for: at 1 ms under load the
		// soak sent ~540 events/s where 1,000 were asked. So each tick
		// sends what is owed since the start, up to a second's worth (a
		// longer stall is not made up: callers count what was sent).
		tick := time.NewTicker(max(every, 5*time.Millisecond))
		defer tick.Stop()
		start, perSecond := time.Now(), int(time.Second/every)
		for i := 0; ; {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			due := int(time.Since(start) / every)
			if due-i > perSecond {
				i = due - perSecond
			}
			for ; i < due; i++ {
				j := i
				topic, payload := msg(j)
				tok := c.Publish(topic, 1, false, payload)
				if onToken != nil {
					wg.Add(1)
					go func() {
						defer wg.Done()
						onToken(j, tok)
					}()
				}
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}
