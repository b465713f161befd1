//go:build soak

package gateway_test

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestSoakClusterGateEvents (issue 16 figure): gate events through the
// cluster into the holders' vehicle logs. Three gateway processes,
// LANEWATCH_GATE_GATES gates (8); one controller per gate, connected to the
// gateways' MQTT listeners in turn (mostly not the gate's holder), sends
// LANEWATCH_GATE_EVENTS (20,000) QoS 1 plate reads in all, new plates
// each in and then out, in windows of 256 unacknowledged. Events/s is from the first
// publish until the gates' holders together have handled every event
// (lanewatch_sensor_events_total: decoded, deduplicated, committed to the
// vehicle log) and acknowledged it in JetStream, which they do once its
// passage is in the site's stream and inside set
// (lanewatch_cluster_gate_events_total{result="acked"}). LANEWATCH_GATE_RUNS (3) runs
// on the same cluster; fails unless every event is handled exactly once.
//
//	go test -tags soak -run TestSoakClusterGateEvents -v -timeout 30m ./internal/gateway/
func TestSoakClusterGateEvents(t *testing.T) {
	gates, total, runs := envInt("LANEWATCH_GATE_GATES", 8), envInt("LANEWATCH_GATE_EVENTS", 20000), envInt("LANEWATCH_GATE_RUNS", 3)
	entriesOnly := os.Getenv("LANEWATCH_GATE_ENTRIES_ONLY") == "1"
	bin := lanewatchBinary(t)
	cs := newClusterSite(t, 3, 0, gates, 6*time.Second, 10*time.Second)
	cs.startAll(t, bin)
	eventually(t, "gates spread over the three gateways", 90*time.Second, func() bool {
		return cs.placed(cs.liveHolders(t, nil, nil))
	}, func() { cs.logTails(t) })
	handled := func() float64 {
		n := 0.0
		for _, g := range cs.gws {
			m := scrape(t, g.site)
			for _, gate := range cs.gates {
				n += m[fmt.Sprintf(`lanewatch_sensor_events_total{gate=%q,type="plate_read"}`, gate)]
			}
		}
		return n
	}
	// acked: events acknowledged in JetStream, each once its passage is in
	// the holder's vehicle log and in the site's stream and inside set.
	acked := func() float64 {
		n := 0.0
		for _, g := range cs.gws {
			n += scrape(t, g.site)[`lanewatch_cluster_gate_events_total{result="acked"}`]
		}
		return n
	}
	per := total / gates
	var rates []float64
	for run := range runs {
		base, baseAcked := handled(), acked()
		start := time.Now()
		var wg sync.WaitGroup
		for i, gate := range cs.gates {
			wg.Go(func() {
				via := cs.gws[i%len(cs.gws)]
				c := clusterMQTTClient(t, via.mqtt, fmt.Sprintf("bench-%s-%d", gate, run))
				defer c.Disconnect(100)
				topic := "lanewatch/test-site/gates/" + gate + "/events"
				for from := 0; from < per; from += 256 {
					var toks []interface{ WaitTimeout(time.Duration) bool }
					for k := from; k < min(from+256, per); k++ {
						// Cars come and go: each plate in, then out (the
						// inside set stays as a compound's, bounded by its
						// parking); with LANEWATCH_GATE_ENTRIES_ONLY only
						// entries, so that every car stays inside.
						n, dir := k/2, []string{"in", "out"}[k%2]
						if entriesOnly {
							n, dir = k, "in"
						}
						plate := fmt.Sprintf("%s%c%05d", "京苏沪浙粤"[3*(run%5):3*(run%5)+3], 'A'+rune(i%26), n) // new each run
						toks = append(toks, c.Publish(topic, 1, false,
							fmt.Sprintf(`{"id":"r%d-%s-%d","type":"plate_read","plate":%q,"direction":%q,"confidence":0.9}`, run, gate, k, plate, dir)))
					}
					for _, tok := range toks {
						if !tok.WaitTimeout(30 * time.Second) {
							t.Errorf("%s: a PUBACK did not come within 30 s", gate)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		pubacked := time.Since(start)
		want := base + float64(per*gates)
		eventually(t, "every event handled and acknowledged", 120*time.Second, func() bool {
			return handled() >= want && acked() >= baseAcked+float64(per*gates)
		}, func() { t.Logf("handled %v, acknowledged %v of %v", handled()-base, acked()-baseAcked, per*gates) })
		el := time.Since(start)
		time.Sleep(time.Second)
		if got := handled(); got != want {
			t.Fatalf("run %d: handled %v events, want %v (each once)", run, got-base, per*gates)
		}
		rate := float64(per*gates) / el.Seconds()
		rates = append(rates, rate)
		t.Logf("run %d: %d events, %d gates, three gateways: %.0f events/s (%v; all PUBACKed after %v)",
			run, per*gates, gates, rate, el.Round(time.Millisecond), pubacked.Round(time.Millisecond))
	}
	slices.Sort(rates)
	t.Logf("gate events through the cluster into the holders' vehicle logs: %.0f–%.0f events/s over %d runs", rates[0], rates[len(rates)-1], runs)
}
