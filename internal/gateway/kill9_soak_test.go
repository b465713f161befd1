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
	for run := 1; run <= runs; run++ {
		acked, lost := kill9Run(t, bin, run)
		t.Logf("run %d: %d events acknowledged before the kill, %d of them missing from the vehicle log", run, acked, lost)
		if lost > 0 {
			t.Fatalf("run %d: %d acknowledged events lost", run, lost)
		}
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
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			plate := fmt.Sprintf("京K%02d%04d", run, i)
			tok := c.Publish("lanewatch/test-site/gates/north/events", 1, false,
				fmt.Sprintf(`{"id":"r%d-%d","type":"plate_read","plate":%q,"direction":"in","confidence":0.9}`, run, i, plate))
			wg.Add(1)
			go func() {
				defer wg.Done()
				if tok.WaitTimeout(20*time.Second) && tok.Error() == nil {
					mu.Lock()
					ok[plate] = true
					mu.Unlock()
				}
			}()
		}
	}()
	time.Sleep(1500*time.Millisecond + time.Duration(run%5)*200*time.Millisecond)
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
	close(stop)
	c.Disconnect(0)
	wg.Wait()
	mu.Lock()
	acked = len(ok)
	mu.Unlock()
	if acked < 500 {
		t.Fatalf("run %d: only %d events acknowledged before the kill", run, acked)
	}

	p2 := startProc(t, bin, "run", "-c", s.ConfigPath)
	waitReady(t, s, p2)
	var inLog map[string]bool
	eventually(t, "every acknowledged plate in the vehicle log", 60*time.Second, func() bool {
		inLog = passagesPlates(t, s)
		for pl := range ok {
			if !inLog[pl] {
				return false
			}
		}
		return true
	}, func() {
		var missing []string
		for pl := range ok {
			if !inLog[pl] {
				missing = append(missing, pl)
			}
		}
		t.Logf("still missing %d of %d: %v\nfirst run's log:\n%s\nsecond run's log:\n%s", len(missing), acked, missing, p.output(), p2.output())
	})
	_ = p2.cmd.Process.Signal(syscall.SIGTERM)
	_ = p2.cmd.Wait()
	return acked, 0
}

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
