//go:build soak

package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// TestSoakClusterSOSLatency: issue 16's figure "SOS → alert p99 < 100 ms in
// the cluster at 1,000 events/s". Three gateway processes; 1,000 plate
// reads a second go in through gw-0's listener, each SOS through gw-1's,
// and the patrol app listens on gw-2's: every path crosses the cluster
// at least once (a third of the gates are held by each gateway). The site
// is issue 16's: 20 gates carry the plate reads, 10 more take the SOS in
// turn, each resolved (through the console) once its alert is in, so the
// next SOS there opens a new incident. LANEWATCH_CLUSTER_RATE (1000) sets
// the plate reads a second; the rate reached is logged.
//
//	go test -tags soak -run TestSoakClusterSOSLatency -v -timeout 20m ./internal/gateway
func TestSoakClusterSOSLatency(t *testing.T) {
	n := envInt("LANEWATCH_CLUSTER_SOS", 200)
	rate := envInt("LANEWATCH_CLUSTER_RATE", 1000)
	const load, sosGates = 20, 10
	bin := lanewatchBinary(t)
	cs := newClusterSite(t, 3, 0, load+sosGates, 6*time.Second, 2*time.Second)
	cs.launch(t, bin)
	if dir := os.Getenv("LANEWATCH_CLUSTER_LOGS"); dir != "" {
		t.Cleanup(func() {
			for _, g := range cs.gws {
				_ = os.WriteFile(filepath.Join(dir, g.id+".log"), []byte(g.p.output()), 0o600)
			}
		})
	}
	state := func() map[string]string {
		var all []change
		for _, g := range cs.gws {
			all = append(all, changes(g.id, g.p.output())...)
		}
		return holders(t, all, nil)
	}
	eventually(t, "gates spread over the three gateways", 90*time.Second, func() bool { return cs.placed(state()) })
	by := state()

	var (
		mu                       sync.Mutex
		sent                     = map[string]time.Time{}
		lat                      = map[string][]time.Duration{} // by the gate's holder
		toOpen, fromOpen, puback []time.Duration
		arrived                  = make(chan string, 16) // the incident of an SOS
	)
	patrol := clusterMQTTClient(t, cs.gws[2].mqtt, "patrol")
	defer patrol.Disconnect(100)
	if tok := patrol.Subscribe("lanewatch/test-site/alerts", 1, func(_ mqtt.Client, m mqtt.Message) {
		var inc struct {
			ID        string    `json:"id"`
			Type      string    `json:"type"`
			StartedAt time.Time `json:"started_at"`
			Source    struct {
				Gate string `json:"gate"`
			} `json:"source"`
		}
		if json.Unmarshal(m.Payload(), &inc) != nil || inc.Type != "sos" {
			return
		}
		mu.Lock()
		at, ok := sent[inc.Source.Gate]
		if ok {
			delete(sent, inc.Source.Gate)
			h := by["gate."+inc.Source.Gate]
			lat[h] = append(lat[h], time.Since(at))
			// Where the time goes: before the incident was opened (the
			// sensor's PUBLISH stored, pulled, queued behind a batch) and
			// after (the alert published and delivered).
			toOpen = append(toOpen, inc.StartedAt.Sub(at))
			fromOpen = append(fromOpen, time.Since(inc.StartedAt))
		}
		mu.Unlock()
		if ok {
			arrived <- inc.ID
		}
	}); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe alerts: %v", tok.Error())
	}

	loader := clusterMQTTClient(t, cs.gws[0].mqtt, "load")
	defer loader.Disconnect(100)
	var loadErrs sync.Map
	var loadSent atomic.Int64
	stop := publishEvery(loader, time.Second/time.Duration(rate), func(i int) (string, string) {
		loadSent.Add(1)
		return fmt.Sprintf("lanewatch/test-site/gates/gate-%d/events", i%load),
			fmt.Sprintf(`{"id":"l%d","type":"plate_read","plate":"沪A%05d","direction":"in","confidence":0.9}`, i, i%100000)
	}, func(i int, tok mqtt.Token) {
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			loadErrs.Store(i, true)
		}
	})
	time.Sleep(3 * time.Second)

	sensor := clusterMQTTClient(t, cs.gws[1].mqtt, "sos")
	defer sensor.Disconnect(100)
	start, sentBefore, cpuBefore := time.Now(), loadSent.Load(), cs.cpu(t)
	for i := range n {
		gate := fmt.Sprintf("gate-%d", load+i%sosGates)
		mu.Lock()
		at := time.Now()
		sent[gate] = at
		mu.Unlock()
		if tok := sensor.Publish("lanewatch/test-site/gates/"+gate+"/events", 1, false, fmt.Sprintf(`{"id":"sos-%d","type":"sos"}`, i)); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("sos %d not acknowledged: %v", i, tok.Error())
		}
		mu.Lock()
		puback = append(puback, time.Since(at))
		mu.Unlock()
		var id string
		select {
		case id = <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatalf("no alert for the sos at %s (held by %s)", gate, by["gate."+gate])
		}
		// The alert may come before the incident is in gw-2's copy of the
		// site's bucket: 404 until then.
		var last string
		eventually(t, "resolve "+id, 15*time.Second, func() bool {
			resp := cs.gws[2].site.api(t, "POST", "/api/incidents/"+id+"/resolve", adminToken, `{"note":"all clear"}`)
			last = fmt.Sprintf("%d %s", resp.StatusCode, mustBody(t, resp))
			return resp.StatusCode == 200
		}, func() { t.Logf("last answer: %s", last) })
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	sentDuring := loadSent.Load() - sentBefore
	reached := float64(sentDuring) / elapsed.Seconds()
	cpu := cs.cpu(t) - cpuBefore
	stop()
	failed := 0
	loadErrs.Range(func(any, any) bool { failed++; return true })
	if failed > 0 {
		t.Errorf("%d background events not acknowledged", failed)
	}
	mu.Lock()
	defer mu.Unlock()
	early := 0.0
	for _, g := range cs.gws {
		early += scrape(t, g.site)[`lanewatch_cluster_gate_events_total{result="early"}`]
	}
	t.Logf("SOS handled as routed, ahead of their stored copy: %.0f of %d", early, n)
	var all []time.Duration
	for h, l := range lat {
		all = append(all, l...)
		t.Logf("gates held by %s: %s", h, pct(l))
	}
	t.Logf("the SOS's PUBACK: %s; SOS → incident opened: %s; opened → alert received: %s", pct(puback), pct(toOpen), pct(fromOpen))
	t.Logf("SOS → alert in the cluster, %d SOS over %v with %.0f plate reads/s (of %d asked): %s", len(all), elapsed.Round(time.Second), reached, rate, pct(all))
	t.Logf("the three gateways' CPU meanwhile: %.1f s over %v (%.2f of the machine's cores), %.2f ms per plate read",
		cpu.Seconds(), elapsed.Round(time.Second), cpu.Seconds()/elapsed.Seconds(), float64(cpu.Microseconds())/1000/float64(max(sentDuring, 1)))
}

// pct formats p50/p99/max of a set of latencies.
func pct(l []time.Duration) string {
	if len(l) == 0 {
		return "no samples"
	}
	l = slices.Clone(l)
	slices.Sort(l)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return fmt.Sprintf("n=%d p50 %.1f ms, p99 %.1f ms, max %.1f ms", len(l), ms(l[len(l)/2]), ms(l[len(l)*99/100]), ms(l[len(l)-1]))
}

// cpu is the user and system CPU time the site's gateway processes have
// used so far (/proc/<pid>/stat, in clock ticks of 10 ms).
func (cs *clusterSite) cpu(t *testing.T) time.Duration {
	var ticks int64
	for _, g := range cs.gws {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", g.p.cmd.Process.Pid))
		if err != nil {
			t.Fatalf("cpu of %s: %v", g.id, err)
		}
		// After the command name in parentheses: state is field 3, utime 14, stime 15.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		for _, i := range []int{14 - 3, 15 - 3} {
			n, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				t.Fatalf("cpu of %s: %v", g.id, err)
			}
			ticks += n
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}
