package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// siteViewGW writes g's config with the accounts this test needs: a viewer
// token on the console, and MQTT accounts for the gates and a patrol app
// (an MQTT ack is applied only from an authenticated account).
func siteViewGW(t *testing.T, g *clusterGW, gates []string) {
	t.Helper()
	g.write(t)
	b, err := os.ReadFile(g.cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	tok := fmt.Sprintf("tokens: [{name: ops, role: admin, token: %q}]", adminToken)
	users := fmt.Sprintf(`, users: [{name: gates, password: pw-gates, role: gate, gates: [%s]}, {name: patrol-07, password: pw-patrol, role: patrol}]}`,
		strings.Join(gates, ", "))
	mqttLine := fmt.Sprintf("mqtt: {broker: embedded, listen: %q}", strings.TrimPrefix(g.mqtt, "tcp://"))
	if !strings.Contains(s, tok) || !strings.Contains(s, mqttLine) {
		t.Fatalf("config of %s not as expected:\n%s", g.id, s)
	}
	s = strings.Replace(s, tok, fmt.Sprintf("tokens: [{name: ops, role: admin, token: %q}, {name: wall, role: viewer, token: %q}]", adminToken, viewerToken), 1)
	s = strings.Replace(s, mqttLine, strings.TrimSuffix(mqttLine, "}")+users, 1)
	if err := os.WriteFile(g.cfg, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// apiIncident is an entry of GET /api/incidents.
type apiIncident struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	State   string `json:"state"`
	Gateway string `json:"gateway"`
	Source  struct {
		Gate string `json:"gate"`
	} `json:"source"`
	Acks []struct {
		By   string `json:"by"`
		Note string `json:"note"`
	} `json:"acks"`
}

func (g *clusterGW) incidents(t *testing.T) map[string]apiIncident {
	t.Helper()
	resp := g.site.api(t, "GET", "/api/incidents?limit=1000", adminToken, "")
	defer resp.Body.Close()
	var list []apiIncident
	out := map[string]apiIncident{}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&list) != nil {
		return out
	}
	for _, inc := range list {
		out[inc.ID] = inc
	}
	return out
}

// raiseSOS presses a gate's SOS button through gw's MQTT listener and
// returns the incident's id, once gw lists it.
func raiseSOS(t *testing.T, via *clusterGW, gate, owner string, seen *clusterGW) string {
	t.Helper()
	payload := fmt.Sprintf(`{"id":"sos-%s-%d","type":"sos"}`, gate, time.Now().UnixNano())
	c, err := userMQTT(t, via.mqtt, "gates", "pw-gates", "sensor-"+gate, true)
	if err != nil {
		t.Fatal(err)
	}
	if tok := c.Publish("lanewatch/test-site/gates/"+gate+"/events", 1, false, payload); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("SOS of %s: %v", gate, tok.Error())
	}
	var id string
	eventually(t, "the SOS of "+gate+" listed by "+seen.id, 20*time.Second, func() bool {
		for _, inc := range seen.incidents(t) {
			if inc.Type == "sos" && inc.Source.Gate == gate && inc.State == "open" {
				if inc.Gateway != owner {
					t.Fatalf("SOS of %s listed as %s's, want %s's", gate, inc.Gateway, owner)
				}
				id = inc.ID
				return true
			}
		}
		return false
	})
	return id
}

// Issue 16 item 4 with three real gateway processes: an incident raised on
// A is listed on B and C; acked through C's API (and through an MQTT
// listener of B) it is acked on A; A killed -9 with its data_dir deleted,
// its incidents stay listed and are carried on by a live gateway; a camera
// run by one gateway is watched through another, never without rights.
func TestBinaryClusterSiteView(t *testing.T) {
	if testing.Short() {
		t.Skip("three gateway processes")
	}
	const lease, holdDown = 4 * time.Second, 6 * time.Second
	bin := lanewatchBinary(t)
	cs := newClusterSite(t, 3, 3, 6, lease, holdDown)
	for _, g := range cs.gws {
		// Each gate watched by a camera: its SOS carries a snapshot, taken
		// by whichever gateway runs the camera.
		for i, gate := range cs.gates {
			g.items = strings.Replace(g.items, "{id: "+gate+"}", fmt.Sprintf("{id: %s, cameras: [%s]}", gate, cs.cams[i%len(cs.cams)]), 1)
		}
	}
	for _, g := range cs.gws {
		g.writer = func(t *testing.T) { siteViewGW(t, g, cs.gates) }
	}
	cs.launch(t, bin)
	w := &siteWatch{t: t, cs: cs, killed: map[string]time.Time{}}
	state, dump := w.holders, w.dump
	eventually(t, "work spread over the three gateways", 60*time.Second, func() bool { return cs.placed(state()) }, dump)
	by := state()
	// Settled: each gateway names every camera's holder, which runs it (an
	// SOS's snapshot is taken by the camera's holder).
	eventually(t, "every gateway names each camera's running holder", 30*time.Second, func() bool {
		by = state()
		for _, g := range cs.gws {
			for id, cam := range g.cameras(t) {
				if cam.Gateway != by["camera."+id] || cam.State != "online" {
					return false
				}
			}
		}
		return true
	}, dump)
	a, b, c := cs.gws[0], cs.gws[1], cs.gws[2]
	var aGates []string
	for _, gate := range cs.gates {
		if by["gate."+gate] == a.id {
			aGates = append(aGates, gate)
		}
	}
	if len(aGates) == 0 {
		t.Skipf("rendezvous gave %s no gate of %v", a.id, cs.gates)
	}

	// Raised on A (through C's MQTT listener), listed on B and C as A's.
	// A takes its snapshot from the gate's camera, wherever it runs: one it
	// can take first.
	for i, gate := range cs.gates {
		if gate == aGates[0] {
			jpegThrough(t, a, "/api/cameras/"+cs.cams[i%len(cs.cams)]+"/snapshot.jpg", dump)
		}
	}
	first := raiseSOS(t, c, aGates[0], a.id, a)
	for _, g := range []*clusterGW{b, c} {
		eventually(t, g.id+" lists "+first, 10*time.Second, func() bool { return g.incidents(t)[first].Gateway == a.id }, dump)
	}

	// Acked through C's API: the owner A applies it; C audits it.
	if resp := c.site.api(t, "POST", "/api/incidents/"+first+"/ack", viewerToken, `{"note":"no"}`); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("ack by a viewer: %d, want 403", resp.StatusCode)
	}
	resp := c.site.api(t, "POST", "/api/incidents/"+first+"/ack", adminToken, `{"note":"on my way"}`)
	if body := mustBody(t, resp); resp.StatusCode != 200 || !strings.Contains(string(body), `"state":"acknowledged"`) {
		t.Fatalf("ack through %s: %d %s", c.id, resp.StatusCode, body)
	}
	inc := a.incidents(t)[first]
	if inc.State != "acknowledged" || len(inc.Acks) != 1 || inc.Acks[0].By != "ops" || inc.Acks[0].Note != "on my way" {
		t.Fatalf("on %s after the ack through %s: %+v", a.id, c.id, inc)
	}
	eventually(t, "the ack seen on B", 10*time.Second, func() bool { return b.incidents(t)[first].State == "acknowledged" }, dump)
	if audit, _ := os.ReadFile(filepath.Join(c.dir, "data", "audit.log")); !bytes.Contains(audit, []byte(first)) {
		t.Fatalf("%s's audit log has no entry for the ack of %s:\n%s", c.id, first, audit)
	}
	// Its snapshot, stored by A, through B.
	jpegThrough(t, b, "/api/incidents/"+first+"/snapshot.jpg", dump)
	if resp := b.site.api(t, "GET", "/api/incidents/"+first+"/snapshot.jpg", "", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("incident snapshot through %s without a token: %d, want 401", b.id, resp.StatusCode)
	}

	// Acked by a patrol app on B's MQTT listener: applied once, by A. B's
	// event stream (the wall's feed) shows the incident as it opens and as
	// it is acked.
	events := sseIncidents(t, b)
	second := raiseSOS(t, a, aGates[len(aGates)-1], a.id, b)
	if second == first {
		second = raiseSOS(t, a, aGates[0], a.id, b) // one gate: the first is still open, raise anew after resolving
	}
	patrol, err := userMQTT(t, b.mqtt, "patrol-07", "pw-patrol", "patrol-app", true)
	if err != nil {
		t.Fatal(err)
	}
	if tok := patrol.Publish("lanewatch/test-site/incidents/"+second+"/ack", 1, false, `{"note":"seen"}`); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("MQTT ack: %v", tok.Error())
	}
	eventually(t, "the MQTT ack applied on A", 10*time.Second, func() bool { return a.incidents(t)[second].State == "acknowledged" }, dump)
	for _, want := range []string{"open", "acknowledged"} {
		events.wait(t, second+" "+want+" in "+b.id+"'s event stream", func(inc apiIncident) bool {
			return inc.ID == second && inc.State == want && inc.Gateway == a.id
		})
	}
	time.Sleep(time.Second) // a second application would be in by now
	if acks := a.incidents(t)[second].Acks; len(acks) != 1 || acks[0].By != "patrol-07" {
		t.Fatalf("MQTT ack applied as %+v, want once by patrol-07", acks)
	}

	// A camera run by one gateway watched through another: a snapshot and
	// a live frame, only with the viewer's rights.
	cam := cs.cams[0]
	holder := state()["camera."+cam]
	via := b
	if holder == b.id {
		via = c
	}
	eventually(t, cam+" online at "+holder, 30*time.Second, func() bool { return via.cameras(t)[cam].State == "online" }, dump)
	for _, tok := range []string{"", "not-a-token-0123456789"} {
		if resp := via.site.api(t, "GET", "/api/cameras/"+cam+"/snapshot.jpg", tok, ""); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("snapshot of %s through %s with token %q: %d, want 401", cam, via.id, tok, resp.StatusCode)
		}
		if resp := via.site.api(t, "GET", "/api/cameras/"+cam+"/mjpeg", tok, ""); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("mjpeg of %s through %s with token %q: %d, want 401", cam, via.id, tok, resp.StatusCode)
		}
	}
	snap := jpegThrough(t, via, "/api/cameras/"+cam+"/snapshot.jpg", dump)
	frame := mjpegFrame(t, via, cam)
	if !isJPEG(frame) {
		t.Fatalf("mjpeg frame of %s through %s is not a JPEG (%d bytes)", cam, via.id, len(frame))
	}
	t.Logf("%s (run by %s) through %s: snapshot %d bytes, mjpeg frame %d bytes", cam, holder, via.id, len(snap), len(frame))

	// A killed -9 with its data_dir deleted: its incidents stay listed on B
	// and are carried on by a live gateway.
	w.kill(a)
	if err := os.RemoveAll(filepath.Join(a.dir, "data")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{first, second} {
		if inc := b.incidents(t)[id]; inc.Gateway != a.id || inc.State != "acknowledged" {
			t.Fatalf("%s on %s after %s died: %+v", id, b.id, a.id, inc)
		}
	}
	// Adopted without anyone acting on them, each by one live gateway
	// (its gate's new holder, unless JetStream stalled after the kill and the
	// gates were free when the dead owner dropped out), as both list.
	adopters := map[string]string{}
	eventually(t, "A's incidents adopted by a live gateway", 45*time.Second, func() bool {
		for _, id := range []string{first, second} {
			onB, onC := b.incidents(t)[id], c.incidents(t)[id]
			if onB.Gateway == a.id || onB.Gateway == "" || onB.Gateway != onC.Gateway ||
				onB.State != "acknowledged" || onC.State != "acknowledged" {
				return false
			}
			adopters[id] = onB.Gateway
		}
		return true
	}, dump)
	for id, gw := range adopters {
		if n := strings.Count(gwByID(cs, gw).p.output(), `"msg":"incident of a dead gateway carried on here","incident":"`+id); n != 1 {
			t.Fatalf("%s adopted %s %d times", gw, id, n)
		}
		other := b
		if gw == b.id {
			other = c
		}
		if strings.Contains(other.p.output(), `"msg":"incident of a dead gateway carried on here","incident":"`+id) {
			t.Fatalf("%s adopted by %s and %s", id, gw, other.id)
		}
	}
	adopter := adopters[first]
	// Resolved through B: applied by the adopter. A 503 after it was
	// applied (the site's copy not yet current: JetStream electing new
	// leaders for what A led) makes the retry a 409; the listing below
	// checks it was resolved once.
	applied := false
	eventually(t, "the resolve through B applied", 45*time.Second, func() bool {
		resp := b.site.api(t, "POST", "/api/incidents/"+first+"/resolve", adminToken, `{"note":"all clear"}`)
		body := mustBody(t, resp)
		switch {
		case resp.StatusCode == 200 && strings.Contains(string(body), `"state":"resolved"`):
			return true
		case resp.StatusCode == http.StatusConflict && applied:
			return true
		case resp.StatusCode == http.StatusServiceUnavailable:
			applied = true // perhaps: a 409 next says it was
		}
		t.Logf("resolve through %s: %d %s", b.id, resp.StatusCode, body)
		return false
	}, dump)
	for _, g := range []*clusterGW{b, c} {
		eventually(t, g.id+" lists "+first+" resolved by "+adopter, 30*time.Second, func() bool {
			inc := g.incidents(t)[first]
			return inc.State == "resolved" && inc.Gateway == adopter && len(inc.Acks) == 2
		}, dump)
	}
	if !strings.Contains(gwByID(cs, adopter).p.output(), "incident of a dead gateway carried on here") {
		t.Fatalf("%s did not adopt %s", adopter, first)
	}
}

// siteWatch follows who holds what from the gateways' logs, those of
// killed ones included.
type siteWatch struct {
	t      *testing.T
	cs     *clusterSite
	killed map[string]time.Time
	gone   []change // logged by processes since killed
}

func (w *siteWatch) holders() map[string]string {
	all := append([]change(nil), w.gone...)
	for _, g := range w.cs.gws {
		if g.p != nil {
			all = append(all, changes(g.id, g.p.output())...)
		}
	}
	return holders(w.t, all, w.killed)
}

// dump logs the end of each live gateway's log, without the routes'
// reconnect attempts to a killed one.
func (w *siteWatch) dump() {
	for _, g := range w.cs.gws {
		if g.p == nil {
			continue
		}
		w.t.Logf("%s:\n%s", g.id, logTail(g.p.output(), 60))
	}
}

// kill kills g -9 and keeps what it logged.
func (w *siteWatch) kill(g *clusterGW) {
	_ = g.p.cmd.Process.Signal(syscall.SIGKILL)
	_ = g.p.cmd.Wait()
	w.killed[g.id] = time.Now()
	w.gone = append(w.gone, changes(g.id, g.p.output())...)
	g.p = nil
}

// sseStream is the incidents of a gateway's GET /api/events.
type sseStream chan apiIncident

func sseIncidents(t *testing.T, gw *clusterGW) sseStream {
	t.Helper()
	req, _ := http.NewRequest("GET", gw.site.Console+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+viewerToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("events of %s: %v %v", gw.id, resp, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	ch := make(sseStream, 256)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		kind := ""
		for sc.Scan() {
			line := sc.Text()
			if k, ok := strings.CutPrefix(line, "event: "); ok {
				kind = k
			}
			if d, ok := strings.CutPrefix(line, "data: "); ok && kind == "incident" {
				var inc apiIncident
				if json.Unmarshal([]byte(d), &inc) == nil {
					select {
					case ch <- inc:
					default:
					}
				}
			}
		}
	}()
	return ch
}

func (s sseStream) wait(t *testing.T, what string, match func(apiIncident) bool) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case inc := <-s:
			if match(inc) {
				return
			}
		case <-deadline:
			t.Fatalf("%s: not within 15 s", what)
		}
	}
}

func gwByID(cs *clusterSite, id string) *clusterGW {
	for _, g := range cs.gws {
		if g.id == id {
			return g
		}
	}
	return nil
}

// jpegThrough GETs a JPEG from gw with the viewer's token, retrying for 20 s.
func jpegThrough(t *testing.T, gw *clusterGW, path string, dump func()) []byte {
	t.Helper()
	var b []byte
	eventually(t, path+" through "+gw.id, 20*time.Second, func() bool {
		resp := gw.site.api(t, "GET", path, viewerToken, "")
		b = mustBody(t, resp)
		return resp.StatusCode == 200 && isJPEG(b)
	}, dump)
	return b
}

func isJPEG(b []byte) bool { return len(b) > 100 && b[0] == 0xFF && b[1] == 0xD8 }

// mjpegFrame reads the first frame of a camera's MJPEG stream through gw.
func mjpegFrame(t *testing.T, gw *clusterGW, cam string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", gw.site.Console+"/api/cameras/"+cam+"/mjpeg", nil)
	req.Header.Set("Authorization", "Bearer "+viewerToken)
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("mjpeg through %s: %d", gw.id, resp.StatusCode)
	}
	r := bufio.NewReader(resp.Body)
	n := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("mjpeg through %s: %v", gw.id, err)
		}
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(strings.ToLower(line), "content-length:"); ok {
			fmt.Sscan(strings.TrimSpace(v), &n)
		}
		if line == "" && n > 0 {
			break
		}
	}
	frame := make([]byte, n)
	if _, err := io.ReadFull(r, frame); err != nil {
		t.Fatal(err)
	}
	return frame
}
