package gateway_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// gateEventsAt is what a gateway accepted of a gate's plate reads
// (sensors' counter: duplicates are not in it).
func gateEventsAt(t *testing.T, g *clusterGW, gate string) float64 {
	return scrape(t, g.site)[fmt.Sprintf(`lanewatch_sensor_events_total{gate=%q,type="plate_read"}`, gate)]
}

// liveHolders is who holds what now, from the live gateways' logs and
// those of the killed ones up to their kill.
func (cs *clusterSite) liveHolders(t *testing.T, gone []change, killed map[string]time.Time) map[string]string {
	all := append([]change(nil), gone...)
	for _, g := range cs.gws {
		if g.p != nil {
			all = append(all, changes(g.id, g.p.output())...)
		}
	}
	return holders(t, all, killed)
}

// logTails logs the end of each live gateway's output (on a failure).
func (cs *clusterSite) logTails(t *testing.T) {
	for _, g := range cs.gws {
		if g.p != nil {
			t.Logf("%s:\n%s", g.id, tail(g.p.output(), 40))
		}
	}
}

// gateDevice publishes QoS 1 plate reads of one gate through one gateway's
// listener, like a gate controller: an event not acknowledged is sent again
// with the same id (after a reconnect) until it is.
type gateDevice struct {
	mu    sync.Mutex
	acked []string    // ids PUBACKed, in order
	at    []time.Time // when
	stop  chan struct{}
	done  chan struct{}
}

func startGateDevice(t *testing.T, via *clusterGW, gate string) *gateDevice {
	d := &gateDevice{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(d.done)
		c := clusterMQTTClient(t, via.mqtt, "controller-"+gate)
		defer func() { c.Disconnect(100) }()
		for i := 0; ; i++ {
			id := fmt.Sprintf("%s-ev-%d", gate, i)
			payload := fmt.Sprintf(`{"id":%q,"type":"plate_read","plate":"京A%05d","direction":"in","confidence":0.9}`, id, i)
			for {
				select {
				case <-d.stop:
					return
				default:
				}
				tok := c.Publish("lanewatch/test-site/gates/"+gate+"/events", 1, false, payload)
				if tok.WaitTimeout(15*time.Second) && tok.Error() == nil {
					break
				}
				c.Disconnect(0)
				c = clusterMQTTClient(t, via.mqtt, "controller-"+gate)
			}
			d.mu.Lock()
			d.acked = append(d.acked, id)
			d.at = append(d.at, time.Now())
			d.mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return d
}

func (d *gateDevice) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.acked)
}

func (d *gateDevice) halt() []string {
	close(d.stop)
	<-d.done
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.acked
}

// Issue 16: a gate's events sent while its holder is dead and its lease
// has not yet moved are not lost. The holder is frozen (SIGSTOP: it holds
// the gate, handles nothing), then killed -9 with its data_dir deleted,
// while a controller keeps publishing QoS 1 events for the gate through
// another gateway. The new holder handles every acknowledged event exactly
// once, and its vehicle log has each car.
func TestBinaryClusterGateEventsAfterHolderKill(t *testing.T) {
	if testing.Short() {
		t.Skip("three gateway processes")
	}
	// A lease well beyond JetStream's re-election of the frozen node's
	// leaders, so that events are acknowledged while it still holds the
	// gate (CI, loaded, once took over 10 s for the first PUBACK).
	const lease, holdDown = 20 * time.Second, 24 * time.Second
	bin := lanewatchBinary(t)
	cs := newClusterSite(t, 3, 0, 3, lease, holdDown)
	cs.startAll(t, bin)
	killed := map[string]time.Time{}
	var gone []change
	dump := func() { cs.logTails(t) }
	eventually(t, "gates spread over the three gateways", 60*time.Second, func() bool {
		return cs.placed(cs.liveHolders(t, gone, killed))
	}, dump)

	gate := cs.gates[0]
	var victim, via *clusterGW
	for _, g := range cs.gws {
		if g.id == cs.liveHolders(t, gone, killed)["gate."+gate] {
			victim = g
		} else if via == nil {
			via = g
		}
	}
	if err := victim.p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// Frozen, it holds nothing once its lease runs out: for the log
	// replay it is dead from now on.
	killed[victim.id] = time.Now()
	dev := startGateDevice(t, via, gate)
	// Events for a holder that handles nothing (the first PUBACKs wait
	// while JetStream elects leaders for what the frozen node led).
	eventually(t, "events acknowledged while the holder is frozen", 60*time.Second, func() bool { return dev.count() >= 10 }, dump)
	_ = victim.p.cmd.Process.Signal(syscall.SIGKILL)
	_ = victim.p.cmd.Wait()
	gone = append(gone, changes(victim.id, victim.p.output())...)
	victim.p = nil
	if err := os.RemoveAll(filepath.Join(victim.dir, "data")); err != nil {
		t.Fatal(err)
	}
	var heir *clusterGW
	eventually(t, gate+" taken over", 45*time.Second, func() bool {
		id := cs.liveHolders(t, gone, killed)["gate."+gate]
		for _, g := range cs.gws {
			if g.p != nil && g.id == id {
				heir = g
			}
		}
		return heir != nil
	}, dump)
	after := dev.count()
	eventually(t, "events acknowledged after the takeover", 60*time.Second, func() bool { return dev.count() >= after+10 }, dump)
	acked := dev.halt()
	var tookAt time.Time
	for _, c := range changes(heir.id, heir.p.output()) {
		if c.item == "gate."+gate && c.held {
			tookAt = c.at
		}
	}
	inWindow := 0
	for _, at := range dev.at {
		if at.Before(tookAt) {
			inWindow++
		}
	}
	t.Logf("%d events acknowledged, %d of them while %s was frozen holding %s; %s took it over",
		len(acked), inWindow, victim.id, gate, heir.id)
	if inWindow == 0 {
		t.Fatalf("no event acknowledged between the freeze and the takeover: the window was not tested")
	}
	if len(acked) < 20 {
		t.Fatalf("only %d events acknowledged", len(acked))
	}
	want := float64(len(acked))
	eventually(t, "every acknowledged event handled by the new holder", 30*time.Second, func() bool {
		return gateEventsAt(t, heir, gate) >= want
	}, func() { t.Logf("handled %v of %v", gateEventsAt(t, heir, gate), want); dump() })
	time.Sleep(2 * time.Second) // a redelivery would be in by now
	if got := gateEventsAt(t, heir, gate); got != want {
		t.Errorf("new holder handled %v events, want each of the %v acknowledged once", got, want)
	}
	for _, g := range cs.gws {
		if g.p != nil && g != heir {
			if n := gateEventsAt(t, g, gate); n != 0 {
				t.Errorf("%s, not holding %s, handled %v of its events", g.id, gate, n)
			}
		}
	}
	var inside []struct {
		Plate string `json:"plate"`
		Gate  string `json:"gate"`
	}
	getJSON(t, heir.site, "/api/vehicles/inside", adminToken, &inside)
	n := 0
	for _, v := range inside {
		if v.Gate == gate {
			n++
		}
	}
	if n != len(acked) {
		t.Errorf("vehicle log of %s: %d cars inside through %s, want %d", heir.id, n, gate, len(acked))
	}
}
