//go:build soak

package gateway_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// TestSoakClusterSOSLatency: issue 16's figure "SOS → alert p99 < 100 ms in
// the cluster at 1,000 events/s". Three gateway processes; 1,000 plate
// reads a second go in through gw-0's listener, each SOS through gw-1's,
// and the patrol app listens on gw-2's: every path crosses the cluster
// at least once (a third of the gates are held by each gateway).
//
//	go test -tags soak -run TestSoakClusterSOSLatency -v -timeout 20m ./internal/gateway
func TestSoakClusterSOSLatency(t *testing.T) {
	n := envInt("LANEWATCH_CLUSTER_SOS", 200)
	const load = 20
	bin := lanewatchBinary(t)
	// One gate per SOS: a second SOS at a gate whose incident is open is a
	// repeat of it, with no new alert.
	cs := newClusterSite(t, 3, 0, load+n, 6*time.Second, 2*time.Second)
	cs.launch(t, bin)
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
		mu      sync.Mutex
		sent    = map[string]time.Time{}
		lat     = map[string][]time.Duration{} // by the gate's holder
		arrived = make(chan struct{}, 16)
	)
	patrol := clusterMQTTClient(t, cs.gws[2].mqtt, "patrol")
	defer patrol.Disconnect(100)
	if tok := patrol.Subscribe("lanewatch/test-site/alerts", 1, func(_ mqtt.Client, m mqtt.Message) {
		var inc struct {
			Type   string `json:"type"`
			Source struct {
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
		}
		mu.Unlock()
		if ok {
			arrived <- struct{}{}
		}
	}); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe alerts: %v", tok.Error())
	}

	loader := clusterMQTTClient(t, cs.gws[0].mqtt, "load")
	defer loader.Disconnect(100)
	var loadErrs sync.Map
	stop := publishEvery(loader, time.Millisecond, func(i int) (string, string) {
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
	start := time.Now()
	for i := range n {
		gate := fmt.Sprintf("gate-%d", load+i)
		mu.Lock()
		sent[gate] = time.Now()
		mu.Unlock()
		if tok := sensor.Publish("lanewatch/test-site/gates/"+gate+"/events", 1, false, fmt.Sprintf(`{"id":"sos-%d","type":"sos"}`, i)); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("sos %d not acknowledged: %v", i, tok.Error())
		}
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatalf("no alert for the sos at %s (held by %s)", gate, by["gate."+gate])
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	stop()
	failed := 0
	loadErrs.Range(func(any, any) bool { failed++; return true })
	if failed > 0 {
		t.Errorf("%d background events not acknowledged", failed)
	}
	mu.Lock()
	defer mu.Unlock()
	var all []time.Duration
	for h, l := range lat {
		all = append(all, l...)
		t.Logf("gates held by %s: %s", h, pct(l))
	}
	t.Logf("SOS → alert in the cluster, %d SOS over %v with 1,000 plate reads/s: %s", len(all), elapsed.Round(time.Second), pct(all))
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
