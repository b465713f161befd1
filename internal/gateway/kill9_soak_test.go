//go:build soak

package gateway_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/lanewatch/lanewatch/internal/testenv"
)

// TestSoakEmbeddedKill9LosesNothing (issue 11): plate reads at 1,000 a
// second through the embedded broker (NATS, in the gateway's process) into
// the vehicle log; kill -9 the gateway — and so its broker — mid-stream,
// start it again: every event a sender got a PUBACK for is in the vehicle
// log. LANEWATCH_KILL9_RUNS runs (default 10):
//
//	go test -tags soak -run TestSoakEmbeddedKill9 -v -timeout 30m ./internal/gateway/
func TestSoakEmbeddedKill9LosesNothing(t *testing.T) {
	runs := 10
	if n, err := strconv.Atoi(os.Getenv("LANEWATCH_KILL9_RUNS")); err == nil && n > 0 {
		runs = n
	}
	bin := lanewatchBinary(t)
	// Every run is made even after a loss, so the summary says how often.
	total, lostRuns, lostEvents := 0, 0, 0
	for run := 1; run <= runs; run++ {
		acked, lost := kill9Run(t, bin, run)
		t.Logf("run %d: %d events acknowledged before the kill, %d of them missing from the vehicle log", run, acked, lost)
		total += acked
		if lost > 0 {
			lostRuns++
			lostEvents += lost
		}
	}
	t.Logf("%d runs, %d acknowledged events, %d lost in %d runs", runs, total, lostEvents, lostRuns)
	if lostEvents > 0 {
		t.Fatalf("%d acknowledged events lost in %d of %d runs", lostEvents, lostRuns, runs)
	}
}

func kill9Run(t *testing.T, bin string, run int) (acked, lost int) {
	s := &site{Dir: t.TempDir(), Mosquitto: testenv.StartMosquitto(t)}
	p := startSiteProc(t, bin, s, siteOpts{Embedded: true})
	opts := mqtt.NewClientOptions().AddBroker(s.MQTT).SetClientID(fmt.Sprintf("lpr-%d", run)).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	var mu sync.Mutex
	ok := map[string]bool{} // plates whose PUBACK arrived
	stop := publishEvery(c, time.Millisecond, func(i int) (string, string) {
		return "lanewatch/test-site/gates/north/events",
			fmt.Sprintf(`{"id":"r%d-%d","type":"plate_read","plate":%q,"direction":"in","confidence":0.9}`, run, i, k9plate(run, i))
	}, func(i int, tok mqtt.Token) {
		if tok.WaitTimeout(20*time.Second) && tok.Error() == nil {
			mu.Lock()
			ok[k9plate(run, i)] = true
			mu.Unlock()
		}
	})
	time.Sleep(1500*time.Millisecond + time.Duration(run%5)*200*time.Millisecond)
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
	c.Disconnect(0)
	stop()
	mu.Lock()
	acked = len(ok)
	mu.Unlock()
	if acked < 500 {
		t.Fatalf("run %d: only %d events acknowledged before the kill", run, acked)
	}

	p2 := startProc(t, bin, "run", "-c", s.ConfigPath)
	waitReady(t, s, p2)
	// Wait up to a minute for the restarted gateway to take the broker's
	// backlog, then count what is still missing.
	var missing []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		inLog := passagesPlates(t, s)
		missing = missing[:0]
		for pl := range ok {
			if !inLog[pl] {
				missing = append(missing, pl)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Logf("run %d: missing %d of %d: %v\nfirst run's log:\n%s\nsecond run's log:\n%s", run, len(missing), acked, missing, p.output(), p2.output())
	}
	_ = p2.cmd.Process.Signal(syscall.SIGTERM)
	_ = p2.cmd.Wait()
	return acked, len(missing)
}

func k9plate(run, i int) string { return fmt.Sprintf("京K%02d%04d", run, i) }

func passagesPlates(t *testing.T, s *site) map[string]bool {
	resp := s.api(t, "GET", "/api/vehicles/passages?limit=100000", adminToken, "")
	b := mustBody(t, resp)
	var list []struct {
		Plate string `json:"plate"`
	}
	out := map[string]bool{}
	if resp.StatusCode != 200 || json.Unmarshal(b, &list) != nil {
		return out
	}
	for _, p := range list {
		out[p.Plate] = true
	}
	return out
}
