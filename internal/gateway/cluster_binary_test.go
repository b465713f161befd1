package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/lanewatch/lanewatch/internal/camsim"
	"github.com/lanewatch/lanewatch/internal/cluster"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// clusterGW is one of the gateway processes of one site on loopback.
type clusterGW struct {
	id, dir, cfg    string
	route, items    string
	mqtt            string // tcp://host:port of its embedded broker
	peers           []string
	lease, holdDown time.Duration
	site            *site
	p               *proc
	// writer writes the config where a test needs more than write gives.
	writer func(t *testing.T)
}

// write writes the gateway's config with fresh console and MQTT ports.
func (g *clusterGW) write(t *testing.T) {
	t.Helper()
	g.site = &site{Dir: g.dir, Console: "http://" + testenv.FreeAddr(t)}
	mqttAddr := testenv.FreeAddr(t)
	g.mqtt = "tcp://" + mqttAddr
	cfg := fmt.Sprintf(`site: {id: test-site}
gateway_id: %s
data_dir: %q
log: {level: info, format: json}
mqtt: {broker: embedded, listen: %q}
console: {listen: %q, tokens: [{name: ops, role: admin, token: %q}]}
cluster: {name: test-site, listen: %q, peers: [%s], secret: route-secret-0123456789, lease: %s, hold_down: %s}
%s`, g.id, filepath.Join(g.dir, "data"), mqttAddr, strings.TrimPrefix(g.site.Console, "http://"), adminToken,
		g.route, strings.Join(g.peers, ", "), g.lease, g.holdDown, g.items)
	g.cfg = filepath.Join(g.dir, "lanewatch.yaml")
	if err := os.WriteFile(g.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// start runs the gateway on its written config.
func (g *clusterGW) start(t *testing.T, bin string) {
	g.p = startProc(t, bin, "run", "-c", g.cfg)
}

// configure writes g's config: its test's own writer, else write.
func (g *clusterGW) configure(t *testing.T) {
	t.Helper()
	if g.writer != nil {
		g.writer(t)
		return
	}
	g.write(t)
}

// launch writes and starts every gateway, then waits until all are ready.
func (cs *clusterSite) launch(t *testing.T, bin string) {
	t.Helper()
	for _, g := range cs.gws {
		g.configure(t)
		g.start(t, bin)
	}
	cs.waitReady(t, bin, cs.gws...)
}

// waitReady waits up to two minutes for gws, which start together: none
// is ready before JetStream has the quorum its replicated buckets need. A
// gateway that found a port taken is restarted on fresh ports (a fresh
// route port too: it dials its peers, which learn it from there).
func (cs *clusterSite) waitReady(t *testing.T, bin string, gws ...*clusterGW) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	restarts := map[*clusterGW]int{}
	pending := append([]*clusterGW(nil), gws...)
	for len(pending) > 0 {
		var still []*clusterGW
		for _, g := range pending {
			if readyNow(g.site) {
				continue
			}
			still = append(still, g)
			out := g.p.output()
			if !portTaken(out) {
				continue
			}
			if restarts[g]++; restarts[g] > 2 {
				cs.notReady(t, still)
			}
			_ = g.p.cmd.Process.Kill()
			_ = g.p.cmd.Wait()
			if strings.Contains(out, "router port") {
				g.route = testenv.FreeAddr(t)
			}
			t.Logf("%s: restart %d: a port was taken; on fresh ports now", g.id, restarts[g])
			g.configure(t)
			g.start(t, bin)
		}
		pending = still
		if len(pending) > 0 && time.Now().After(deadline) {
			cs.notReady(t, pending)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// notReady fails the test with what every gateway last said, without the
// peers' routine route retries.
func (cs *clusterSite) notReady(t *testing.T, pending []*clusterGW) {
	t.Helper()
	var b strings.Builder
	for _, g := range pending {
		fmt.Fprintf(&b, "%s is not ready.\n", g.id)
	}
	for _, g := range cs.gws {
		fmt.Fprintf(&b, "%s (route %s):\n%s\n", g.id, g.route, logTail(g.p.output(), 25))
	}
	t.Fatal(b.String())
}

// clusterSite is cams camsim cameras and gates gates shared by n gateways,
// which cluster with the given lease and hold-down.
type clusterSite struct {
	gws   []*clusterGW
	cams  []string
	gates []string
}

func newClusterSite(t *testing.T, n, cams, gates int, lease, holdDown time.Duration) *clusterSite {
	t.Helper()
	clip := filepath.Join(testenv.RepoRoot(t), "media", "campus-walk-10s.mp4")
	cs := &clusterSite{}
	streams := map[string]string{}
	for i := range cams {
		id := fmt.Sprintf("cam-%d", i)
		cs.cams = append(cs.cams, id)
		streams[id] = clip
	}
	var items strings.Builder
	if cams > 0 {
		sim := &camsim.Server{Listen: "127.0.0.1:0", Streams: streams, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), UDPRTPPort: -1}
		if err := sim.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sim.Close() })
		items.WriteString("cameras:\n")
		for _, id := range cs.cams {
			fmt.Fprintf(&items, "  - {id: %s, url: \"rtsp://%s/%s\", detect: {fps: 2, width: 320}}\n", id, sim.Addr(), id)
		}
	}
	items.WriteString("gates:\n")
	for i := range gates {
		id := fmt.Sprintf("gate-%d", i)
		cs.gates = append(cs.gates, id)
		fmt.Fprintf(&items, "  - {id: %s}\n", id)
	}
	routes := make([]string, n)
	for i := range routes {
		routes[i] = testenv.FreeAddr(t)
	}
	for i := range n {
		g := &clusterGW{id: fmt.Sprintf("gw-%d", i), dir: t.TempDir(), route: routes[i], items: items.String(),
			lease: lease, holdDown: holdDown}
		for j, r := range routes {
			if j != i {
				g.peers = append(g.peers, r)
			}
		}
		cs.gws = append(cs.gws, g)
	}
	return cs
}

// change is the start or end of a gateway's hold on an item, from its log:
// a camera from the cluster's "took" (just before it starts) to the
// gateway's "camera stopped" (once it has stopped), a gate from "took" to
// "gave up".
type change struct {
	at   time.Time
	gw   string
	item string
	held bool
}

func changes(gw, out string) []change {
	var cs []change
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Time      time.Time `json:"time"`
			Msg       string    `json:"msg"`
			Component string    `json:"component"`
			Item      string    `json:"item"`
			Camera    string    `json:"camera"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		switch {
		case l.Component == "cluster" && l.Msg == "took":
			cs = append(cs, change{l.Time, gw, l.Item, true})
		case l.Component == "cluster" && l.Msg == "gave up" && !strings.HasPrefix(l.Item, "camera."):
			cs = append(cs, change{l.Time, gw, l.Item, false})
		case l.Msg == "camera stopped: held by another gateway now":
			cs = append(cs, change{l.Time, gw, "camera." + l.Camera, false})
		}
	}
	return cs
}

var reportedTwice sync.Map

// holders replays every gateway's changes in time order (one clock: one
// machine), failing if an item ever had two holders, and returns who holds
// what at the end. A killed gateway's holds end at its kill.
func holders(t *testing.T, all []change, killed map[string]time.Time) map[string]string {
	t.Helper()
	all = append([]change(nil), all...)
	for gw, at := range killed {
		owned := map[string]bool{}
		for _, c := range all {
			if c.gw == gw && c.at.Before(at) {
				owned[c.item] = c.held
			}
		}
		for item, h := range owned {
			if h {
				all = append(all, change{at, gw, item, false})
			}
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if !all[i].at.Equal(all[j].at) {
			return all[i].at.Before(all[j].at)
		}
		return !all[i].held && all[j].held // a release at the same instant first
	})
	by := map[string]string{}
	for _, c := range all {
		switch {
		case c.held && by[c.item] != "" && by[c.item] != c.gw:
			msg := fmt.Sprintf("%s: %s took %s while %s held it", c.at.Format(time.StampMilli), c.gw, c.item, by[c.item])
			if _, seen := reportedTwice.LoadOrStore(t.Name()+msg, true); !seen {
				t.Error(msg) // once: the logs are replayed at every poll
			}
		case c.held:
			by[c.item] = c.gw
		case by[c.item] == c.gw:
			delete(by, c.item)
		}
	}
	return by
}

// apiCamera is an entry of GET /api/cameras.
type apiCamera struct {
	ID          string  `json:"id"`
	State       string  `json:"state"`
	FPSAnalyzed float64 `json:"fps_analyzed"`
	Gateway     string  `json:"gateway"`
}

func (g *clusterGW) cameras(t *testing.T) map[string]apiCamera {
	t.Helper()
	req, _ := http.NewRequest("GET", g.site.Console+"/api/cameras", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var list []apiCamera
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&list) != nil {
		return nil
	}
	out := map[string]apiCamera{}
	for _, c := range list {
		out[c.ID] = c
	}
	return out
}

// Issue 16 item 2 with three real gateway processes: the work is spread,
// kill -9 of one has its cameras analysed elsewhere within 15 s, and when it
// returns it gets its share back without an item ever held by two.
func TestBinaryClusterSpreadTakeoverReturn(t *testing.T) {
	if testing.Short() {
		t.Skip("three gateway processes")
	}
	const lease, holdDown = 4 * time.Second, 8 * time.Second
	bin := lanewatchBinary(t)
	cs := newClusterSite(t, 3, 4, 6, lease, holdDown)
	// Started together: the first to reach JetStream takes everything and
	// hands the others their share once it has seen them for the hold-down.
	cs.launch(t, bin)
	killed := map[string]time.Time{}
	var gone []change // changes logged by processes since killed
	state := func() map[string]string {
		all := append([]change(nil), gone...)
		for _, g := range cs.gws {
			if g.p != nil {
				all = append(all, changes(g.id, g.p.output())...)
			}
		}
		return holders(t, all, killed)
	}
	count := func(by map[string]string) map[string]int {
		n := map[string]int{}
		for _, gw := range by {
			n[gw]++
		}
		return n
	}
	dump := func() {
		for _, g := range cs.gws {
			if g.p != nil {
				t.Logf("%s:\n%s", g.id, tail(g.p.output(), 40))
			}
		}
	}
	spread := func() bool { return cs.placed(state()) }
	eventually(t, "work spread over the three gateways", 60*time.Second, spread, dump)
	by := state()
	t.Logf("spread: %v", count(by))
	// Each camera runs where it is held, and any gateway names its holder.
	eventually(t, "every camera online at its holder, named by every gateway", 30*time.Second, func() bool {
		by := state()
		for _, g := range cs.gws {
			cams := g.cameras(t)
			for _, id := range cs.cams {
				c := cams[id]
				if c.Gateway != by["camera."+id] || (c.Gateway == g.id && c.State != "online") {
					return false
				}
			}
		}
		return true
	}, dump)

	// A gate's SOS, through a gateway that does not hold it, is raised once, by its holder.
	for _, gate := range cs.gates[:2] {
		holder := state()["gate."+gate]
		via := cs.gws[0]
		if holder == via.id {
			via = cs.gws[2]
		}
		cs.sosOnce(t, via, gate, holder)
	}

	victim := cs.gws[1]
	var lost []string
	for item, gw := range state() {
		if gw == victim.id {
			lost = append(lost, item)
		}
	}
	_ = victim.p.cmd.Process.Signal(syscall.SIGKILL)
	_ = victim.p.cmd.Wait()
	killAt := time.Now()
	killed[victim.id] = killAt
	gone = append(gone, changes(victim.id, victim.p.output())...)
	victim.p = nil
	eventually(t, "the killed gateway's cameras analysed elsewhere", 15*time.Second, func() bool {
		return cs.takenOver(t, state(), lost, victim.id)
	}, dump)
	t.Logf("kill -9 %s: its %d items held elsewhere and its cameras online there %v after the kill",
		victim.id, len(lost), time.Since(killAt).Round(100*time.Millisecond))
	// A gate it held: its SOS now raised once, by the new holder.
	for _, item := range lost {
		if gate, ok := strings.CutPrefix(item, "gate."); ok {
			cs.sosOnce(t, cs.gws[0], gate, state()[item])
			break
		}
	}

	// It returns on the same data_dir and gets its share back after the
	// hold-down, one item at a time stopped before it is freed.
	victim.start(t, bin)
	cs.waitReady(t, bin, victim)
	eventually(t, "the returning gateway rebalanced", 45*time.Second, spread, dump)
	t.Logf("after return: %v", count(state()))
	checkClusterStatus(t, bin, cs, state())
}

// checkClusterStatus runs `lanewatch cluster status` against each gateway:
// three members, a leader for every replicated stream, and the holders the
// logs say.
func checkClusterStatus(t *testing.T, bin string, cs *clusterSite, by map[string]string) {
	t.Helper()
	for _, g := range cs.gws {
		var st cluster.Status
		eventually(t, g.id+": cluster status with a leader for every stream", 20*time.Second, func() bool {
			out, err := exec.Command(bin, "cluster", "status", "-c", g.cfg, "--json").Output()
			if err != nil || json.Unmarshal(out, &st) != nil || len(st.Members) != 3 || len(st.Streams) == 0 {
				return false
			}
			for _, s := range st.Streams {
				if s.Leader == "" || len(s.Replicas) != 2 {
					return false
				}
			}
			return true
		})
		if st.Gateway != g.id {
			t.Errorf("status from %s names %s", g.id, st.Gateway)
		}
		for _, a := range st.Assignments {
			if want := by[a.Kind+"."+a.ID]; a.Gateway != want {
				t.Errorf("%s: %s %s held by %q, the logs say %q", g.id, a.Kind, a.ID, a.Gateway, want)
			}
		}
	}
	out, err := exec.Command(bin, "cluster", "status", "-c", cs.gws[0].cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "cluster as seen by gw-0: 3 members") || !strings.Contains(string(out), "KV_lanewatch_assign") {
		t.Fatalf("cluster status: %v\n%s", err, out)
	}
	t.Logf("lanewatch cluster status:\n%s", out)
}

// placed: every item held, on its place among all the gateways (the test
// site's cameras cost the same).
func (cs *clusterSite) placed(by map[string]string) bool {
	var live []string
	for _, g := range cs.gws {
		live = append(live, g.id)
	}
	var items []cluster.Item
	for _, id := range cs.cams {
		items = append(items, cluster.Item{Kind: cluster.KindCamera, ID: id})
	}
	for _, id := range cs.gates {
		items = append(items, cluster.Item{Kind: cluster.KindGate, ID: id})
	}
	place := cluster.Place(items, nil, live)
	for _, it := range items {
		if by[it.Kind+"."+it.ID] != place[it] {
			return false
		}
	}
	return true // every camera and gate held where it belongs (a role item may be held too)
}

// takenOver: every item of lost is held by another gateway than victim,
// and each camera among them is online at its new holder.
func (cs *clusterSite) takenOver(t *testing.T, by map[string]string, lost []string, victim string) bool {
	for _, item := range lost {
		gw := by[item]
		if gw == "" || gw == victim {
			return false
		}
		if id, isCam := strings.CutPrefix(item, "camera."); isCam {
			for _, g := range cs.gws {
				if g.id == gw && g.p != nil && g.cameras(t)[id].State != "online" {
					return false
				}
			}
		}
	}
	return true
}

// gateIncidents counts the SOS incidents of a gate each live gateway raised.
func (cs *clusterSite) gateIncidents(t *testing.T, gate string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, g := range cs.gws {
		if g.p == nil {
			continue
		}
		var list []struct {
			Type    string `json:"type"`
			Gateway string `json:"gateway"` // the owner: every gateway lists the whole site
			Source  struct {
				Gate string `json:"gate"`
			} `json:"source"`
		}
		getJSON(t, g.site, "/api/incidents", adminToken, &list)
		for _, inc := range list {
			if inc.Type == "sos" && inc.Source.Gate == gate && inc.Gateway == g.id {
				n[g.id]++
			}
		}
	}
	return n
}

// publishAcked publishes at QoS 1 through a gateway's listener until it is
// acknowledged, at most 45 s. Just after a kill or a split a PUBACK can
// wait while JetStream re-elects the leaders of the MQTT streams: like a
// gate controller, send it again (same id: a repeat is dropped as a
// duplicate).
func publishAcked(t *testing.T, via *clusterGW, clientID, topic, payload string) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		c := clusterMQTTClient(t, via.mqtt, clientID)
		tok := c.Publish(topic, 1, false, payload)
		ok := tok.WaitTimeout(15*time.Second) && tok.Error() == nil
		c.Disconnect(100)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not acknowledged within 45 s: %v", topic, tok.Error())
		}
	}
}

// clusterMQTTClient connects, retrying for 30 s: just after a gateway died,
// a CONNECT waits while JetStream elects new leaders for the MQTT streams
// the dead one led (operations.md).
func clusterMQTTClient(t *testing.T, url, id string) mqtt.Client {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true))
		tok := c.Connect()
		if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
			return c
		}
		c.Disconnect(0)
		if time.Now().After(deadline) {
			t.Fatalf("mqtt connect %s to %s: %v", id, url, tok.Error())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// sosOnce presses a gate's SOS button through one gateway's MQTT listener:
// exactly one gateway, the gate's holder, raises it.
func (cs *clusterSite) sosOnce(t *testing.T, via *clusterGW, gate, holder string) {
	t.Helper()
	publishAcked(t, via, "sensor-"+gate, "lanewatch/test-site/gates/"+gate+"/events",
		fmt.Sprintf(`{"id":"sos-%s-%d","type":"sos"}`, gate, time.Now().UnixNano()))
	eventually(t, "the SOS of "+gate+" raised at "+holder, 15*time.Second, func() bool {
		return cs.gateIncidents(t, gate)[holder] == 1
	})
	time.Sleep(2 * time.Second) // a second raise elsewhere would be in by now
	if n := cs.gateIncidents(t, gate); len(n) != 1 || n[holder] != 1 {
		t.Fatalf("SOS of %s raised %v, want once at %s", gate, n, holder)
	}
}

// logTail is the last n lines of a gateway's log without the brokers'
// routine route retries, which fill a cut-off or killed peer's tail.
func logTail(out string, n int) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, "Error trying to connect to route") {
			keep = append(keep, l)
		}
	}
	return tail(strings.Join(keep, "\n"), n)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
