package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/lanewatch/lanewatch/internal/testenv"
)

// lanewatchBinary builds cmd/lanewatch once for the tests that need the real
// process (signals, kill -9).
func lanewatchBinary(t *testing.T) string { return testenv.LanewatchBinary(t) }

type proc struct {
	cmd *exec.Cmd
	out testenv.SyncBuffer
}

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	return p
}

func (p *proc) output() string { return p.out.String() }

func waitReady(t *testing.T, s *site, p *proc) {
	t.Helper()
	if !ready(s, p) {
		t.Fatalf("gateway not ready within 60s:\n%s", p.output())
	}
}

// readyNow is one look at the gateway's /readyz.
func readyNow(s *site) bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(s.Console + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func ready(s *site, p *proc) bool {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.Console + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		if portTaken(p.output()) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// startSiteProc writes the site's config and runs the real binary on it
// until it is ready, on fresh ports again if one was taken meanwhile.
func startSiteProc(t *testing.T, bin string, s *site, o siteOpts) *proc {
	t.Helper()
	for attempt := 1; ; attempt++ {
		writeSiteConfig(t, s, o)
		p := startProc(t, bin, "run", "-c", s.ConfigPath)
		if ready(s, p) {
			return p
		}
		if !portTaken(p.output()) || attempt == 3 {
			t.Fatalf("gateway not ready within 60s:\n%s", p.output())
		}
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		t.Logf("attempt %d: a port was taken; retrying on fresh ports", attempt)
	}
}

// SIGTERM: stop taking input, flush, exit 0 within 10 s (contract 1).
func TestBinaryStopsCleanlyOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := lanewatchBinary(t)
	plat := newPlatform(t)
	s := &site{Dir: t.TempDir(), Mosquitto: testenv.StartMosquitto(t)}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		p := startSiteProc(t, bin, s, siteOpts{PlatformURL: plat.URL(), Camera: true})
		start := time.Now()
		_ = p.cmd.Process.Signal(sig)
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s: exit %v, want 0:\n%s", sig, err, p.output())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: still running after 10s:\n%s", sig, p.output())
		}
		t.Logf("%s: exited 0 in %s", sig, time.Since(start).Round(time.Millisecond))
	}
}

// A config with mistakes: `check` names file, line and field and exits 1;
// `run` refuses to start with the same lines.
func TestBinaryCheckReportsProblems(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := lanewatchBinary(t)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("site: {id: s1}\ncameras:\n  - id: cam\n    url: http://10.0.0.1/x\n    zones:\n      - {id: z, rule: intrusion, polygon: [[0, 0], [1, 1]]}\n"), 0o600)
	for _, args := range [][]string{{"check", "-c", bad}, {"run", "-c", bad}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 1 {
			t.Fatalf("%v: err %v, want exit 1:\n%s", args, err, out)
		}
		for _, want := range []string{bad + ":4: cameras[0].url:", bad + ":6: cameras[0].zones[0].polygon:"} {
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("%v: output lacks %q:\n%s", args, want, out)
			}
		}
	}
	good := filepath.Join(testenv.RepoRoot(t), "configs", "lanewatch.yaml")
	if out, err := exec.Command(bin, "check", "-c", good).CombinedOutput(); err != nil {
		t.Fatalf("demo config: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("opencv:   4.6.0")) || !bytes.Contains(out, []byte("libavcodec")) {
		t.Fatalf("version: %v\n%s", err, out)
	}
}

// Contract 4 with the real process: the platform down, 1,000 tickets queued,
// the gateway killed with SIGKILL while it sends, restarted, the platform
// back: every ticket delivered, none lost, repeats with the same key.
func TestBinaryOutboxSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	const n = 1000
	bin := lanewatchBinary(t)
	plat := newPlatform(t)
	plat.status.Store(http.StatusServiceUnavailable)
	s := &site{Dir: t.TempDir(), Mosquitto: testenv.StartMosquitto(t)}
	p := startSiteProc(t, bin, s, siteOpts{PlatformURL: plat.URL(), Gates: n})

	// 1,000 SOS buttons, one per gate: 1,000 incidents, 1,000 tickets.
	sensor := mqttClient(t, s.Mosquitto.URL, "gates")
	for i := 0; i < n; i++ {
		tok := sensor.Publish(fmt.Sprintf("lanewatch/test-site/gates/g%04d/events", i), 1, false, fmt.Sprintf(`{"id":"sos-%d","type":"sos"}`, i))
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
	eventually(t, "1,000 tickets pending in the outbox", 90*time.Second, func() bool {
		return outboxCount(t, s, "") >= n
	})

	// The platform comes back; kill -9 while the gateway is sending.
	plat.status.Store(200)
	eventually(t, "delivery under way", 30*time.Second, func() bool {
		_, byKey, _, _ := plat.snapshot()
		return len(byKey) >= 50
	})
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
	_, before, _, _ := plat.snapshot()
	t.Logf("delivered before kill -9: %d of %d", len(before), n)
	if len(before) >= n {
		t.Fatalf("all %d delivered before the kill; the test did not interrupt sending", n)
	}

	p2 := startProc(t, bin, "run", "-c", s.ConfigPath)
	waitReady(t, s, p2)
	eventually(t, "every ticket delivered after restart", 90*time.Second, func() bool {
		_, byKey, _, _ := plat.snapshot()
		return len(byKey) >= n
	})
	tickets, byKey, badSig, mismatch := plat.snapshot()
	ids := map[string]bool{}
	for _, tk := range tickets {
		id, _ := tk.Incident["id"].(string)
		if tk.Key != fmt.Sprintf("%s:%v", id, tk.Incident["version"]) {
			t.Fatalf("webhook-id %q does not match the body's id and version", tk.Key)
		}
		ids[id] = true
	}
	repeats := len(tickets) - len(byKey)
	t.Logf("tickets received %d, distinct %d, repeats %d (same key each)", len(tickets), len(byKey), repeats)
	if len(ids) != n {
		t.Fatalf("%d distinct incidents delivered, want %d", len(ids), n)
	}
	if badSig != 0 || mismatch != 0 {
		t.Fatalf("bad signatures %d, idempotency-key mismatches %d", badSig, mismatch)
	}
	eventually(t, "outbox empty", 30*time.Second, func() bool { return outboxCount(t, s, "") == 0 })
}

func outboxCount(t *testing.T, s *site, state string) int {
	t.Helper()
	resp := s.api(t, "GET", "/api/outbox", adminToken, "")
	b := mustBody(t, resp)
	if resp.StatusCode != 200 {
		return -1
	}
	var rows []map[string]any
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatalf("outbox: %v: %s", err, b)
	}
	if state == "" {
		return len(rows)
	}
	c := 0
	for _, r := range rows {
		if r["state"] == state {
			c++
		}
	}
	return c
}

// The outbox at its size cap, with the real process: the gateway says so
// loudly (MQTT gateway alert, /readyz, metric), refuses new tickets, and every
// ticket it accepted is delivered after a kill -9 and restart.
func TestBinaryOutboxCapIsLoudAndLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	bin := lanewatchBinary(t)
	plat := newPlatform(t)
	plat.status.Store(http.StatusServiceUnavailable)
	s := &site{Dir: t.TempDir(), Mosquitto: testenv.StartMosquitto(t)}
	p := startSiteProc(t, bin, s, siteOpts{PlatformURL: plat.URL(), Gates: 300, Extra: "outbox: {max_bytes: 64KiB}\n"})

	watcher := mqttClient(t, s.Mosquitto.URL, "ops-watch")
	gwAlerts := subscribe(t, watcher, "lanewatch/test-site/gateway/gw-test/alerts")
	sensor := mqttClient(t, s.Mosquitto.URL, "gates")
	for i := 0; i < 300; i++ {
		publish(t, sensor, fmt.Sprintf("lanewatch/test-site/gates/g%04d/events", i), fmt.Sprintf(`{"id":"sos-%d","type":"sos"}`, i))
	}
	gwAlerts.wait(t, "outbox_full gateway alert", 60*time.Second, func(m mqtt.Message) bool {
		return bytes.Contains(m.Payload(), []byte(`"alert":"outbox_full"`))
	})
	eventually(t, "/readyz failing while the outbox is full", 10*time.Second, func() bool {
		resp, err := http.Get(s.Console + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	metrics := string(mustBody(t, s.api(t, "GET", "/metrics", "", "")))
	if !strings.Contains(metrics, "lanewatch_outbox_full 1") {
		t.Fatalf("metrics do not say the outbox is full")
	}
	// What the outbox accepted, as it lists it: every one must arrive.
	accepted := outboxKeys(t, s)
	if len(accepted) == 0 || len(accepted) >= 300 {
		t.Fatalf("%d tickets accepted; the cap should refuse some and keep some", len(accepted))
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()

	plat.status.Store(200)
	p2 := startProc(t, bin, "run", "-c", s.ConfigPath)
	waitReady(t, s, p2)
	eventually(t, "every accepted ticket delivered", 60*time.Second, func() bool {
		_, byKey, _, _ := plat.snapshot()
		for k := range accepted {
			if byKey[k] == 0 {
				return false
			}
		}
		return true
	})
	t.Logf("accepted %d of 300 at the cap; all delivered after kill -9 and restart", len(accepted))
}

func outboxKeys(t *testing.T, s *site) map[string]bool {
	t.Helper()
	resp := s.api(t, "GET", "/api/outbox", adminToken, "")
	b := mustBody(t, resp)
	var rows []map[string]any
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatalf("outbox: %v: %s", err, b)
	}
	keys := map[string]bool{}
	for _, r := range rows {
		keys[r["key"].(string)] = true
	}
	return keys
}
