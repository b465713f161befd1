//go:build soak

package gateway_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// siteTraffic is what the takeover soak sends while it kills gateways: a
// car a plate read at 50/s, each in at a new plate, through any live
// gateway's listener (the next one when a PUBACK does not come), and one
// SOS per kill at a gate the victim holds. It remembers what was
// acknowledged, for lost() to look for after the last kill.
type siteTraffic struct {
	cs   *clusterSite
	plat *ticketPlatform

	mu     sync.Mutex
	plates map[string]bool   // acknowledged plate reads
	sos    map[string]string // gate -> the gateway that held it when its SOS was acknowledged
	stop   chan struct{}
	done   chan struct{}
}

func startTraffic(t *testing.T, cs *clusterSite, plat *ticketPlatform) *siteTraffic {
	tr := &siteTraffic{cs: cs, plat: plat, plates: map[string]bool{}, sos: map[string]string{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go tr.run(t)
	return tr
}

func (tr *siteTraffic) run(t *testing.T) {
	defer close(tr.done)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var c mqtt.Client
	via := 0
	for i := 0; ; i++ {
		select {
		case <-tr.stop:
			if c != nil {
				c.Disconnect(100)
			}
			return
		case <-tick.C:
		}
		plate := fmt.Sprintf("沪L%05d", i)
		payload := fmt.Sprintf(`{"id":"soak-%d","type":"plate_read","plate":%q,"direction":"in","confidence":0.9}`, i, plate)
		for attempt := 0; ; attempt++ {
			if c == nil {
				g := tr.cs.gws[via%len(tr.cs.gws)]
				if g.p == nil { // killed: the next one
					via++
					continue
				}
				c = mqtt.NewClient(mqtt.NewClientOptions().AddBroker(g.mqtt).SetClientID("soak-lpr").SetCleanSession(true).
					SetConnectTimeout(5 * time.Second))
				if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
					c.Disconnect(0)
					c, via = nil, via+1
					time.Sleep(200 * time.Millisecond)
					continue
				}
			}
			tok := c.Publish(fmt.Sprintf("lanewatch/test-site/gates/%s/events", tr.cs.gates[i%len(tr.cs.gates)]), 1, false, payload)
			if tok.WaitTimeout(15*time.Second) && tok.Error() == nil {
				tr.mu.Lock()
				tr.plates[plate] = true
				tr.mu.Unlock()
				break
			}
			// Not acknowledged: the same event (same id) again, elsewhere.
			c.Disconnect(0)
			c, via = nil, via+1
			select {
			case <-tr.stop:
				return
			default:
			}
		}
	}
}

// sosAt presses the SOS of a gate the victim holds, through another
// gateway, before the kill; it is acknowledged or the soak fails.
func (tr *siteTraffic) sosAt(t *testing.T, by map[string]string, victim *clusterGW) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var via *clusterGW
	for _, g := range tr.cs.gws {
		if g != victim && g.p != nil {
			via = g
		}
	}
	for _, gate := range tr.cs.gates {
		if _, used := tr.sos[gate]; used || by["gate."+gate] != victim.id {
			continue
		}
		c := clusterMQTTClient(t, via.mqtt, "soak-sos")
		defer c.Disconnect(100)
		tok := c.Publish("lanewatch/test-site/gates/"+gate+"/events", 1, false, fmt.Sprintf(`{"id":"soak-sos-%s","type":"sos"}`, gate))
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("SOS at %s not acknowledged: %v", gate, tok.Error())
		}
		tr.sos[gate] = victim.id
		return
	}
}

// lost stops the traffic and waits, at most two minutes, until every
// acknowledged plate read is a passage in the site's list, every SOS an
// incident in it and its ticket delivered; it reports what is missing.
func (tr *siteTraffic) lost(t *testing.T) (plates, incidents, tickets int, sent int, sosN int) {
	close(tr.stop)
	<-tr.done
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var g *clusterGW
	for _, x := range tr.cs.gws {
		if x.p != nil {
			g = x
		}
	}
	check := func() (int, int, int) {
		var list []struct {
			Plate string `json:"plate"`
		}
		getJSON(t, g.site, "/api/vehicles/passages?limit=100000", adminToken, &list)
		have := map[string]bool{}
		for _, p := range list {
			have[p.Plate] = true
		}
		lp := 0
		for p := range tr.plates {
			if !have[p] {
				lp++
			}
		}
		incs := g.sosIncidents(t)
		li, ids := 0, map[string]string{}
		for gate := range tr.sos {
			if id, ok := incs[gate]; ok {
				ids[gate] = id
			} else {
				li++
			}
		}
		delivered := map[string]bool{}
		for _, r := range tr.plat.requests() {
			if r.status == 200 {
				delivered[r.id] = true
			}
		}
		lt := 0
		for _, id := range ids {
			if !delivered[id] {
				lt++
			}
		}
		return lp, li, lt + li // a ticket of an incident not found is not found either
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		plates, incidents, tickets = check()
		if plates+incidents+tickets == 0 || time.Now().After(deadline) {
			return plates, incidents, tickets, len(tr.plates), len(tr.sos)
		}
		time.Sleep(2 * time.Second)
	}
}
