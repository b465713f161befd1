package gateway_test

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/lanewatch/lanewatch/internal/cluster"
)

// ticketPlatform is the community platform (outside the compound, so an
// httptest stand-in) for the cluster's tickets. It checks what the real
// one checks, as internal/outbox's tests do: the Standard Webhooks
// signature, webhook-id equal to Idempotency-Key and to the body's
// <id>:<version>. Each gateway's config names it under its own path
// (/gw-0, ...), so it knows who sent what, and it flags a request that
// arrives while another gateway's is still being answered.
type ticketPlatform struct {
	*httptest.Server
	secret string
	up     atomic.Bool
	// refused: gateways answered 503 even while up (a test keeps a
	// gateway's tickets pending, so that it would retry if it still sent).
	refused sync.Map

	mu       sync.Mutex
	inflight map[string]int
	reqs     []ticketReq
	problems []string
}

type ticketReq struct {
	gw, key string
	status  int
	body    string
	id      string
	version int
	at      time.Time // when it arrived
}

func newTicketPlatform(t *testing.T) *ticketPlatform {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	p := &ticketPlatform{secret: "whsec_" + base64.StdEncoding.EncodeToString(key), inflight: map[string]int{}}
	wh, err := standardwebhooks.NewWebhook(p.secret)
	if err != nil {
		t.Fatal(err)
	}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		gw := strings.TrimPrefix(r.URL.Path, "/")
		body, _ := io.ReadAll(r.Body)
		var tk struct {
			ID      string `json:"id"`
			Version int    `json:"version"`
		}
		key := r.Header.Get("webhook-id")
		var problem string
		switch {
		case wh.Verify(body, r.Header) != nil:
			problem = "signature does not verify"
		case r.Header.Get("Idempotency-Key") != key:
			problem = "Idempotency-Key differs from webhook-id"
		case json.Unmarshal(body, &tk) != nil || fmt.Sprintf("%s:%d", tk.ID, tk.Version) != key:
			problem = "webhook-id is not the body's <id>:<version>"
		}
		p.mu.Lock()
		for other, n := range p.inflight {
			if other != gw && n > 0 {
				p.problems = append(p.problems, fmt.Sprintf("%s sent %s while a request of %s was in progress", gw, key, other))
			}
		}
		p.inflight[gw]++
		if problem != "" {
			p.problems = append(p.problems, gw+": "+key+": "+problem)
		}
		p.mu.Unlock()
		// Long enough for two senders at once to overlap here.
		time.Sleep(30 * time.Millisecond)
		status := http.StatusServiceUnavailable
		switch {
		case problem != "":
			status = http.StatusBadRequest
		case p.up.Load() && !refusedGW(&p.refused, gw):
			status = http.StatusOK
		}
		p.mu.Lock()
		p.inflight[gw]--
		p.reqs = append(p.reqs, ticketReq{gw: gw, key: key, status: status, body: string(body), id: tk.ID, version: tk.Version, at: at})
		p.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(p.Close)
	return p
}

func refusedGW(m *sync.Map, gw string) bool {
	_, ok := m.Load(gw)
	return ok
}

func (p *ticketPlatform) requests() []ticketReq {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.reqs)
}

// check fails the test on a bad request, two gateways sending at once, or
// one key sent with two bodies.
func (p *ticketPlatform) check(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	problems := slices.Clone(p.problems)
	p.mu.Unlock()
	for _, pr := range problems {
		t.Error(pr)
	}
	bodies := map[string]string{}
	for _, r := range p.requests() {
		if b, ok := bodies[r.key]; ok && b != r.body {
			t.Errorf("%s sent again with another body", r.key)
		}
		bodies[r.key] = r.body
	}
}

// senderRole is the cluster item of the outbox's sender (outbox_cluster.go).
var senderRole = cluster.Item{Kind: cluster.KindRole, ID: "outbox"}

// place is where the site's cameras, gates and the sender role go with
// all its gateways live.
func (cs *clusterSite) place() map[cluster.Item]string {
	var items, ids = []cluster.Item{senderRole}, []string{}
	for _, id := range cs.cams {
		items = append(items, cluster.Item{Kind: cluster.KindCamera, ID: id})
	}
	for _, id := range cs.gates {
		items = append(items, cluster.Item{Kind: cluster.KindGate, ID: id})
	}
	for _, g := range cs.gws {
		ids = append(ids, g.id)
	}
	return cluster.Place(items, nil, ids)
}

// all says whether every incident of incs had a request answered with
// status (0: any).
func (p *ticketPlatform) all(incs map[string]string, status int) bool {
	seen := map[string]bool{}
	for _, r := range p.requests() {
		if status == 0 || r.status == status {
			seen[r.id] = true
		}
	}
	for _, id := range incs {
		if !seen[id] {
			return false
		}
	}
	return true
}

// startAll starts every gateway of the site and waits until each is
// ready; the returned func logs the tail of each running one's output.
func (cs *clusterSite) startAll(t *testing.T, bin string) (dump func()) {
	t.Helper()
	cs.launch(t, bin)
	return func() {
		for _, g := range cs.gws {
			if g.p != nil {
				t.Logf("%s:\n%s", g.id, logTail(g.p.output(), 60))
			}
		}
	}
}

// platformLine is the platform: part of a gateway's config.
func (p *ticketPlatform) platformLine(gw string) string {
	return fmt.Sprintf("platform: {url: %q, secret: %q, timeout: 2s}\n", p.URL+"/"+gw, p.secret)
}

// roleHolders replays the sender role's changes in every log ("took" and
// "gave up" of role.outbox, a killed gateway's hold ending at its kill),
// failing on two holders at once; it returns the holder at the end.
func roleHolders(t *testing.T, logs map[string]string, killed map[string]time.Time) string {
	t.Helper()
	type ev struct {
		at   time.Time
		gw   string
		held bool
	}
	var evs []ev
	for gw, out := range logs {
		sc := bufio.NewScanner(strings.NewReader(out))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l struct {
				Time      time.Time `json:"time"`
				Msg       string    `json:"msg"`
				Component string    `json:"component"`
				Item      string    `json:"item"`
			}
			if json.Unmarshal(sc.Bytes(), &l) != nil || l.Component != "cluster" || l.Item != "role.outbox" {
				continue
			}
			if at, dead := killed[gw]; dead && l.Time.After(at) {
				continue
			}
			switch l.Msg {
			case "took":
				evs = append(evs, ev{l.Time, gw, true})
			case "gave up":
				evs = append(evs, ev{l.Time, gw, false})
			}
		}
		if at, dead := killed[gw]; dead {
			evs = append(evs, ev{at, gw, false})
		}
	}
	slices.SortStableFunc(evs, func(a, b ev) int { return a.at.Compare(b.at) })
	holder := ""
	for _, e := range evs {
		switch {
		case e.held && holder != "" && holder != e.gw:
			t.Errorf("%s: %s took the sender role while %s held it", e.at.Format(time.StampMilli), e.gw, holder)
		case e.held:
			holder = e.gw
		case holder == e.gw:
			holder = ""
		}
	}
	return holder
}

// logs gathers the running and killed gateways' output.
func (cs *clusterSite) logs(gone map[string]string) map[string]string {
	out := map[string]string{}
	for gw, l := range gone {
		out[gw] = l
	}
	for _, g := range cs.gws {
		if g.p != nil {
			out[g.id] += g.p.output()
		}
	}
	return out
}

// sosIncidents lists the ids of SOS incidents a gateway's API shows, by gate.
func (g *clusterGW) sosIncidents(t *testing.T) map[string]string {
	t.Helper()
	var list []struct {
		ID     string `json:"id"`
		Type   string `json:"type"`
		Source struct {
			Gate string `json:"gate"`
		} `json:"source"`
	}
	getJSON(t, g.site, "/api/incidents", adminToken, &list)
	out := map[string]string{}
	for _, inc := range list {
		if inc.Type == "sos" {
			out[inc.Source.Gate] = inc.ID
		}
	}
	return out
}

// Issue 16 must-show: 10 SOS while the platform is down, then the gateway
// that raised them, which is also the sender, killed -9 with its data_dir
// deleted; once the platform is back all 10 tickets are delivered by a
// survivor (each key at least once, same body on every repeat), and never
// two gateways sending at once.
func TestBinaryClusterTicketsSurviveSenderLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("three gateway processes")
	}
	const lease, holdDown = 4 * time.Second, 8 * time.Second
	bin := lanewatchBinary(t)
	plat := newTicketPlatform(t)
	cs := newClusterSite(t, 3, 0, 40, lease, holdDown)
	for _, g := range cs.gws {
		g.items += plat.platformLine(g.id)
	}
	// Placement is deterministic: the sender is the role's place, and it
	// holds enough gates to raise the 10 SOS itself.
	place := cs.place()
	sender := place[senderRole]
	var gates []string
	for _, gate := range cs.gates {
		if place[cluster.Item{Kind: cluster.KindGate, ID: gate}] == sender && len(gates) < 10 {
			gates = append(gates, gate)
		}
	}
	if len(gates) < 10 {
		t.Fatalf("the sender %s holds only %d gates", sender, len(gates))
	}
	dump := cs.startAll(t, bin)
	gone, killed := map[string]string{}, map[string]time.Time{}
	eventually(t, "the sender role and every gate at their rendezvous targets", 60*time.Second, func() bool {
		if roleHolders(t, cs.logs(gone), killed) != sender {
			return false
		}
		var all []change
		for gw, l := range cs.logs(gone) {
			for _, c := range changes(gw, l) {
				if strings.HasPrefix(c.item, "gate.") {
					all = append(all, c)
				}
			}
		}
		return cs.placed(holders(t, all, killed))
	}, dump)
	var victim, via *clusterGW
	for _, g := range cs.gws {
		if g.id == sender {
			victim = g
		} else if via == nil {
			via = g
		}
	}

	// The platform is down; 10 SOS through another gateway's MQTT listener,
	// raised by the gates' holder, the sender.
	c := clusterMQTTClient(t, via.mqtt, "sensor-sos")
	for i, gate := range gates {
		publish(t, c, "lanewatch/test-site/gates/"+gate+"/events", fmt.Sprintf(`{"id":"sos-%d","type":"sos"}`, i))
	}
	c.Disconnect(100)
	var incs map[string]string
	eventually(t, "10 SOS raised at the sender", 30*time.Second, func() bool {
		incs = victim.sosIncidents(t)
		return len(incs) == 10
	}, dump)
	// Each ticket accepted and tried (the platform answered 503).
	eventually(t, "every ticket tried while the platform is down", 60*time.Second, func() bool {
		return plat.all(incs, 0)
	}, dump)

	// kill -9 the raiser and sender, and delete its disk: the tickets are
	// only in the replicated stream now.
	_ = victim.p.cmd.Process.Signal(syscall.SIGKILL)
	_ = victim.p.cmd.Wait()
	killAt := time.Now()
	killed[victim.id] = killAt
	gone[victim.id] = victim.p.output()
	victim.p = nil
	if err := os.RemoveAll(filepath.Join(victim.dir, "data")); err != nil {
		t.Fatal(err)
	}
	plat.up.Store(true)
	eventually(t, "all 10 tickets delivered by a survivor", 120*time.Second, func() bool {
		return plat.all(incs, http.StatusOK)
	}, dump)
	t.Logf("all 10 tickets delivered %v after the kill", time.Since(killAt).Round(100*time.Millisecond))
	time.Sleep(2 * time.Second) // a late second sender would show by now
	delivered := map[string][]string{}
	for _, r := range plat.requests() {
		if r.at.After(killAt) && r.gw == victim.id {
			t.Errorf("%s sent %s after it was killed", r.gw, r.key)
		}
		if r.status == http.StatusOK {
			delivered[r.key] = append(delivered[r.key], r.gw)
		}
	}
	for _, id := range incs {
		t.Logf("%s delivered by %v", id+":1", delivered[id+":1"])
	}
	plat.check(t)
	newSender := roleHolders(t, cs.logs(gone), killed)
	if newSender == "" || newSender == victim.id {
		t.Fatalf("sender role held by %q after the kill", newSender)
	}
	// Dead letters are handled on the sender; another gateway says so.
	for _, g := range cs.gws {
		if g.p == nil {
			continue
		}
		want := http.StatusConflict
		if g.id == newSender {
			want = http.StatusNotFound // not dead-lettered
		}
		for _, id := range incs {
			resp := g.site.api(t, "POST", "/api/outbox/"+id+":1/resend", adminToken, "")
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("resend on %s: %d, want %d", g.id, resp.StatusCode, want)
			}
			break
		}
	}
}
