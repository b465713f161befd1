package gateway_test

import (
	"net/url"
	"testing"
	"time"
)

type apiInside struct {
	Plate string `json:"plate"`
	Gate  string `json:"gate"`
}

type apiPassage struct {
	Gate      string     `json:"gate"`
	Direction string     `json:"direction"`
	EntryAt   *time.Time `json:"entry_at"`
	DwellS    *int64     `json:"dwell_s"`
}

func insideAt(t *testing.T, g *clusterGW, plate string) bool {
	var list []apiInside
	getJSON(t, g.site, "/api/vehicles/inside", adminToken, &list)
	for _, v := range list {
		if v.Plate == plate {
			return true
		}
	}
	return false
}

// A car in at a gate one gateway holds and out at a gate another holds is
// one paired passage (issue 16): the second gateway gets the entry from
// the site's inside set, the first no longer counts the car inside, and
// every gateway lists both passages.
func TestBinaryClusterCarPairsAcrossGateways(t *testing.T) {
	if testing.Short() {
		t.Skip("three gateway processes")
	}
	bin := lanewatchBinary(t)
	cs := newClusterSite(t, 3, 0, 6, 4*time.Second, 2*time.Second)
	dump := cs.startAll(t, bin)
	state := func() map[string]string { return cs.liveHolders(t, nil, nil) }
	eventually(t, "gates spread", 60*time.Second, func() bool { return cs.placed(state()) }, dump)
	by := state()
	var inGate, outGate string
	var inGW, outGW *clusterGW
	for _, a := range cs.gates {
		for _, b := range cs.gates {
			if by["gate."+a] != by["gate."+b] && inGate == "" {
				inGate, outGate = a, b
			}
		}
	}
	for _, g := range cs.gws {
		switch g.id {
		case by["gate."+inGate]:
			inGW = g
		case by["gate."+outGate]:
			outGW = g
		}
	}
	const plate = "沪A7E123"
	// Through the listener of the third gateway: a controller may use any.
	var via *clusterGW
	for _, g := range cs.gws {
		if g != inGW && g != outGW {
			via = g
		}
	}
	sensor := clusterMQTTClient(t, via.mqtt, "lpr")
	defer sensor.Disconnect(100)
	publish := func(gate, id, dir string) {
		tok := sensor.Publish("lanewatch/test-site/gates/"+gate+"/events", 1, false,
			`{"id":"`+id+`","type":"plate_read","plate":"`+plate+`","direction":"`+dir+`","confidence":0.95}`)
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("plate read at %s not acknowledged: %v", gate, tok.Error())
		}
	}
	publish(inGate, "in-1", "in")
	eventually(t, "the car inside on every gateway", 20*time.Second, func() bool {
		return insideAt(t, inGW, plate) && insideAt(t, outGW, plate) && insideAt(t, via, plate)
	}, dump)
	time.Sleep(1100 * time.Millisecond) // a dwell of at least a second
	publish(outGate, "out-1", "out")
	var out apiPassage
	eventually(t, "the exit paired at "+outGW.id, 20*time.Second, func() bool {
		var list []apiPassage
		getJSON(t, outGW.site, "/api/vehicles/passages?plate="+url.QueryEscape(plate), adminToken, &list)
		for _, p := range list {
			if p.Direction == "out" {
				out = p
				return true
			}
		}
		return false
	}, dump)
	if out.EntryAt == nil || out.DwellS == nil || *out.DwellS < 1 {
		t.Fatalf("the exit at %s (%s) is not paired with the entry at %s (%s): %+v", outGate, outGW.id, inGate, inGW.id, out)
	}
	eventually(t, "the car no longer inside anywhere", 20*time.Second, func() bool {
		return !insideAt(t, inGW, plate) && !insideAt(t, outGW, plate) && !insideAt(t, via, plate)
	}, dump)
	// Both passages in every gateway's list, the site's.
	for _, g := range cs.gws {
		eventually(t, "both passages listed on "+g.id, 20*time.Second, func() bool {
			var list []apiPassage
			getJSON(t, g.site, "/api/vehicles/passages?plate="+url.QueryEscape(plate), adminToken, &list)
			dirs := map[string]string{}
			for _, p := range list {
				dirs[p.Direction] = p.Gate
			}
			return len(list) == 2 && dirs["in"] == inGate && dirs["out"] == outGate
		}, dump)
	}
	t.Logf("in at %s (%s), out at %s (%s): dwell %d s", inGate, inGW.id, outGate, outGW.id, *out.DwellS)
}
