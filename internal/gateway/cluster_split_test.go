package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/cluster"
)

// routeNet puts a TCP proxy in front of each gateway's cluster (route)
// port so that a test can cut one gateway off from the others and restore
// it. Every route into a gateway passes its proxy: the peers are
// configured with the proxies, and each gateway advertises its proxy
// (cluster.advertise) so that routes learnt by gossip go there too. A
// proxy learns its gateway's server id from the INFO the server sends
// first, and a route's dialler names its server id in its CONNECT, so the
// proxies know which two gateways each route joins.
type routeNet struct {
	mu    sync.Mutex
	cut   map[string]bool   // gateways cut off
	ids   map[string]string // server id -> gateway id
	conns []*routeConn
}

type routeConn struct {
	fromID, to string // the dialler's server id, the gateway dialled
	a, b       net.Conn
}

// front starts the proxy for gateway gw whose route port is backend and
// returns its address.
func (rn *routeNet) front(t *testing.T, gw, backend string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			a, err := ln.Accept()
			if err != nil {
				return
			}
			go rn.forward(gw, backend, a)
		}
	}()
	return ln.Addr().String()
}

func (rn *routeNet) forward(to, backend string, a net.Conn) {
	rn.mu.Lock()
	cut := rn.cut[to]
	rn.mu.Unlock()
	if cut {
		a.Close()
		return
	}
	b, err := net.DialTimeout("tcp", backend, 5*time.Second)
	if err != nil {
		a.Close()
		return
	}
	c := &routeConn{to: to, a: a, b: b}
	go func() {
		// The server's INFO first: its id.
		r := bufio.NewReaderSize(b, 64<<10)
		line, err := r.ReadBytes('\n')
		var info struct {
			ID string `json:"server_id"`
		}
		if rest, ok := bytes.CutPrefix(line, []byte("INFO ")); ok && json.Unmarshal(rest, &info) == nil && info.ID != "" {
			rn.mu.Lock()
			if rn.ids == nil {
				rn.ids = map[string]string{}
			}
			rn.ids[info.ID] = to
			rn.mu.Unlock()
		}
		if _, werr := a.Write(line); err == nil && werr == nil {
			_, _ = io.Copy(a, r)
		}
		a.Close()
	}()
	// The dialler's CONNECT first: its id.
	r := bufio.NewReaderSize(a, 64<<10)
	line, err := r.ReadBytes('\n')
	var connect struct {
		Name string `json:"name"`
	}
	if rest, ok := bytes.CutPrefix(line, []byte("CONNECT ")); ok {
		_ = json.Unmarshal(rest, &connect)
	}
	c.fromID = connect.Name
	rn.mu.Lock()
	if err != nil || rn.cut[to] || rn.cut[rn.ids[c.fromID]] {
		rn.mu.Unlock()
		a.Close()
		b.Close()
		return
	}
	rn.conns = append(rn.conns, c)
	rn.mu.Unlock()
	if _, err := b.Write(line); err == nil {
		_, _ = io.Copy(b, r)
	}
	b.Close()
}

// split cuts gw off: its routes are closed and new ones refused.
func (rn *routeNet) split(gw string) {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if rn.cut == nil {
		rn.cut = map[string]bool{}
	}
	rn.cut[gw] = true
	kept := rn.conns[:0]
	for _, c := range rn.conns {
		if c.to == gw || rn.ids[c.fromID] == gw {
			c.a.Close()
			c.b.Close()
			continue
		}
		kept = append(kept, c)
	}
	rn.conns = kept
}

// heal lets gw's routes through again.
func (rn *routeNet) heal(gw string) {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	delete(rn.cut, gw)
}

// unknown counts forwarded routes whose dialler could not be named: a cut
// would miss them.
func (rn *routeNet) unknown() int {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	n := 0
	for _, c := range rn.conns {
		if rn.ids[c.fromID] == "" {
			n++
		}
	}
	return n
}

// behindProxies routes every gateway of cs through rn: peers are the
// others' proxies, and each advertises its own.
func (cs *clusterSite) behindProxies(t *testing.T, rn *routeNet) (advertise map[string]string) {
	advertise = map[string]string{}
	for _, g := range cs.gws {
		advertise[g.id] = rn.front(t, g.id, g.route)
	}
	for _, g := range cs.gws {
		g.peers = nil
		for _, o := range cs.gws {
			if o != g {
				g.peers = append(g.peers, advertise[o.id])
			}
		}
	}
	return advertise
}

// writeAdvertising writes g's config with cluster.advertise set.
func (g *clusterGW) writeAdvertising(t *testing.T, addr string) {
	t.Helper()
	g.write(t)
	b, err := os.ReadFile(g.cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Replace(string(b), "cluster: {name: test-site,", fmt.Sprintf("cluster: {name: test-site, advertise: %q,", addr), 1)
	if out == string(b) {
		t.Fatal("no cluster line to add advertise to")
	}
	if err := os.WriteFile(g.cfg, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Issue 16 must-show: a network split of one gateway, the sender. Its
// cameras go to the majority; it loses its leases (KV writes need a
// quorum) and stops sending tickets within a lease, while the majority
// takes the sender role and keeps sending, also tickets raised during the
// split. Once the split heals no ticket is lost and every item settles
// with one holder.
func TestBinaryClusterSplitMinorityStopsSending(t *testing.T) {
	if testing.Short() {
		t.Skip("three gateway processes")
	}
	const lease, holdDown = 4 * time.Second, 8 * time.Second
	bin := lanewatchBinary(t)
	plat := newTicketPlatform(t)
	plat.up.Store(true)
	cs := newClusterSite(t, 3, 3, 12, lease, holdDown)
	// The minority is the sender; with three cameras balanced over three
	// gateways it runs one.
	minority := cs.place()[senderRole]
	rn := &routeNet{}
	advertise := cs.behindProxies(t, rn)
	for _, g := range cs.gws {
		g.items += plat.platformLine(g.id)
		g.writer = func(t *testing.T) { g.writeAdvertising(t, advertise[g.id]) }
	}
	cs.launch(t, bin)
	dump := func() {
		for _, g := range cs.gws {
			t.Logf("%s:\n%s", g.id, logTail(g.p.output(), 60))
		}
	}
	none := map[string]time.Time{}
	// state is the holder of every camera and gate (never two: holders
	// fails the test) and of the sender role (roleHolders likewise).
	state := func() (map[string]string, string) {
		logs := cs.logs(nil)
		var all []change
		for gw, l := range logs {
			for _, c := range changes(gw, l) {
				if !strings.HasPrefix(c.item, cluster.KindRole+".") {
					all = append(all, c)
				}
			}
		}
		return holders(t, all, none), roleHolders(t, logs, none)
	}
	settled := func() bool {
		by, sender := state()
		if sender != minority {
			return false
		}
		return cs.placed(by)
	}
	eventually(t, "every item and the sender role at their rendezvous targets", 90*time.Second, settled, dump)
	if n := rn.unknown(); n > 0 {
		t.Fatalf("%d routes through the proxies with an unnamed dialler", n)
	}
	var x *clusterGW
	var majority []*clusterGW
	for _, g := range cs.gws {
		if g.id == minority {
			x = g
		} else {
			majority = append(majority, g)
		}
	}
	by, _ := state()
	var lost, majorityGates []string
	for item, gw := range by {
		if gw == minority {
			lost = append(lost, item)
		} else if gate, ok := strings.CutPrefix(item, "gate."); ok {
			majorityGates = append(majorityGates, gate)
		}
	}
	if len(majorityGates) < 4 {
		t.Fatalf("the majority holds %d gates, want 4", len(majorityGates))
	}
	// Tickets waiting at the split: the platform is down for 3 SOS.
	plat.up.Store(false)
	sos := func(via *clusterGW, gates []string, tag string) {
		for i, gate := range gates {
			publishAcked(t, via, "sensor-"+tag, "lanewatch/test-site/gates/"+gate+"/events", fmt.Sprintf(`{"id":"sos-%s-%d","type":"sos"}`, tag, i))
		}
	}
	sos(majority[0], majorityGates[:2], "before")
	incs := map[string]string{}
	collect := func(n int) func() bool {
		return func() bool {
			for _, g := range majority {
				for gate, id := range g.sosIncidents(t) {
					incs[gate] = id
				}
			}
			return len(incs) == n
		}
	}
	eventually(t, "2 SOS raised", 30*time.Second, collect(2), dump)
	eventually(t, "their tickets tried by the sender", 30*time.Second, func() bool { return plat.all(incs, 0) }, dump)

	// The minority's own requests keep failing: were it still sending, it
	// would retry the tickets it holds.
	plat.refused.Store(minority, true)
	rn.split(minority)
	cutAt := time.Now()
	plat.up.Store(true)
	eventually(t, "the minority's cameras and gates, and the sender role, held by the majority", 30*time.Second, func() bool {
		_, sender := state()
		return sender != "" && sender != minority && cs.takenOver(t, state1(state), lost, minority)
	}, dump)
	t.Logf("split of %s: its %d items and the sender role at the majority %v after the cut", minority, len(lost), time.Since(cutAt).Round(100*time.Millisecond))
	// The majority keeps sending: tickets of SOS raised during the split.
	sos(majority[1], majorityGates[2:4], "during")
	eventually(t, "4 SOS raised", 30*time.Second, collect(4), dump)
	eventually(t, "the 4 tickets delivered during the split", 60*time.Second, func() bool { return plat.all(incs, http.StatusOK) }, dump)
	// The minority stopped sending within a lease of the cut (it can have
	// renewed its lease just before it).
	var last time.Time
	for _, r := range plat.requests() {
		if r.gw == minority {
			last = r.at
		}
		if r.gw == minority && r.at.After(cutAt.Add(lease+time.Second)) {
			t.Errorf("%s, cut off at %s, sent %s at %s", minority, cutAt.Format(time.StampMilli), r.key, r.at.Format(time.StampMilli))
		}
	}
	t.Logf("the minority's last request %v after the cut", last.Sub(cutAt).Round(100*time.Millisecond))
	if !strings.Contains(x.p.output(), "stopped sending: another gateway sends now") {
		var lines []string
		for _, l := range strings.Split(x.p.output(), "\n") {
			if strings.Contains(l, "role.outbox") || strings.Contains(l, "sending") {
				lines = append(lines, l)
			}
		}
		t.Errorf("%s never stopped sending:\n%s", minority, strings.Join(lines, "\n"))
	}

	// Healed: the minority returns, gets its share back after the
	// hold-down, and every item ends with one holder.
	rn.heal(minority)
	plat.refused.Delete(minority)
	healAt := time.Now()
	eventually(t, "settled after the split healed", 90*time.Second, settled, dump)
	t.Logf("settled %v after the heal", time.Since(healAt).Round(100*time.Millisecond))
	if !plat.all(incs, http.StatusOK) {
		t.Error("a ticket was lost")
	}
	plat.check(t)
}

// state1 is the item holders of a state function.
func state1(state func() (map[string]string, string)) map[string]string {
	by, _ := state()
	return by
}
