package outbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/prometheus/client_golang/prometheus/testutil"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// received is one request as the fake platform saw it.
type received struct {
	Key, IdemKey, TS, Sig string
	Header                http.Header
	Body                  []byte
	At                    time.Time
	Status                int
}

// platform is an httptest community platform whose answer a test can change.
type platform struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []received
	answer func(r received, n int) (status int, hdr map[string]string, body string)
}

func newPlatform(t *testing.T) *platform {
	p := &platform{answer: func(received, int) (int, map[string]string, string) { return 200, nil, "" }}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec := received{Key: r.Header.Get("webhook-id"), IdemKey: r.Header.Get("Idempotency-Key"),
			TS: r.Header.Get("webhook-timestamp"), Sig: r.Header.Get("webhook-signature"),
			Header: r.Header.Clone(), Body: body, At: time.Now()}
		p.mu.Lock()
		n := 0
		for _, q := range p.reqs {
			if q.Key == rec.Key {
				n++
			}
		}
		answer := p.answer
		p.mu.Unlock()
		status, hdr, out := answer(rec, n)
		rec.Status = status
		p.mu.Lock()
		p.reqs = append(p.reqs, rec)
		p.mu.Unlock()
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, out)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *platform) setAnswer(f func(r received, n int) (int, map[string]string, string)) {
	p.mu.Lock()
	p.answer = f
	p.mu.Unlock()
}

func (p *platform) requests() []received {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]received(nil), p.reqs...)
}

// accepted returns the keys the platform accepted, in order.
func (p *platform) accepted() []string {
	var keys []string
	for _, r := range p.requests() {
		if r.Status/100 == 2 || r.Status == 409 {
			keys = append(keys, r.Key)
		}
	}
	return keys
}

func testConfig(path, url string) Config {
	return Config{Path: path, Platform: config.Platform{URL: url, Timeout: 2 * time.Second},
		BaseBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, ShutdownTimeout: 2 * time.Second,
		Logger: slog.New(slog.DiscardHandler)}
}

func start(t *testing.T, cfg Config) *Outbox {
	t.Helper()
	o, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	o.Start(t.Context())
	t.Cleanup(func() { o.Close() })
	return o
}

func inc(id string, version int) incident.Incident {
	now := time.Date(2026, 11, 26, 23, 0, 0, 0, time.FixedZone("CST", 8*3600))
	return incident.Incident{ID: id, Site: "zhonghua-lane", Type: incident.Intrusion, Severity: incident.Medium,
		State: incident.Open, Title: "Intrusion on the lawn", Source: incident.Source{Camera: "lawn", Zone: "lawn"},
		StartedAt: now, UpdatedAt: now, Count: version, Objects: []incident.Object{{Label: "person", Track: 3, Box: [4]float64{.1, .2, .3, .4}, Confidence: .9}},
		Acks: []incident.Ack{}, Evidence: incident.Evidence{Snapshot: "/api/incidents/" + id + "/snapshot.jpg"}, Version: version}
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTicketSignedAndShaped(t *testing.T) {
	p := newPlatform(t)
	key := make([]byte, 24)
	rand.Read(key)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	cfg := testConfig(filepath.Join(t.TempDir(), "outbox.db"), p.URL)
	cfg.Platform.Secret = secret
	o := start(t, cfg)
	snap := []byte("\xff\xd8\xff\xe0 fake jpeg")
	if err := o.Enqueue(inc("inc_a", 1), snap); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery", 5*time.Second, func() bool { return len(p.accepted()) == 1 })
	r := p.requests()[0]
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(r.Body, r.Header); err != nil {
		t.Fatalf("standard-webhooks verification: %v", err)
	}
	if r.Key != "inc_a:1" || r.IdemKey != "inc_a:1" || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers: %v", r.Header)
	}
	if ts, _ := strconv.ParseInt(r.TS, 10, 64); time.Since(time.Unix(ts, 0)).Abs() > 5*time.Second {
		t.Fatalf("webhook-timestamp %s is not now", r.TS)
	}
	var got map[string]any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatal(err)
	}
	ev := got["evidence"].(map[string]any)
	b, _ := base64.StdEncoding.DecodeString(ev["snapshot_jpeg_base64"].(string))
	if got["version"] != 1.0 || got["id"] != "inc_a" || string(b) != string(snap) || ev["snapshot"] != "/api/incidents/inc_a/snapshot.jpg" {
		t.Fatalf("body: %s", r.Body)
	}
	for _, f := range []string{"site", "type", "severity", "state", "title", "source", "started_at", "updated_at", "resolved_at", "count", "objects", "acks"} {
		if _, ok := got[f]; !ok {
			t.Errorf("body lacks %q", f)
		}
	}
	// A tampered body must not verify: the signature covers it.
	if wh.Verify(append(r.Body, ' '), r.Header) == nil {
		t.Fatal("tampered body verified")
	}
	for _, pl := range []config.Platform{
		{URL: "http://127.0.0.1:9/", Secret: "whsec_%%%"},
		{URL: "ftp://platform/"},
		{URL: "platform.example/tickets"},
		{URL: ""},
	} {
		if _, err := Open(Config{Path: filepath.Join(t.TempDir(), "x.db"), Platform: pl}); err == nil {
			t.Errorf("%+v accepted", pl)
		}
	}
}

func TestBodySnapshotCap(t *testing.T) {
	tests := []struct {
		name          string
		size          int
		wantB64, omit bool
	}{
		{"none", 0, false, false},
		{"small", 1000, true, false},
		{"at cap", MaxSnapshot, true, false},
		{"over cap", MaxSnapshot + 1, false, true},
	}
	for _, tt := range tests {
		body, err := Body(inc("inc_a", 3), make([]byte, tt.size))
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Version  int            `json:"version"`
			Evidence map[string]any `json:"evidence"`
		}
		json.Unmarshal(body, &got)
		_, hasB64 := got.Evidence["snapshot_jpeg_base64"]
		if got.Version != 3 || hasB64 != tt.wantB64 || (got.Evidence["snapshot_omitted"] == "too large") != tt.omit {
			t.Errorf("%s: version %d evidence %v", tt.name, got.Version, keys(got.Evidence))
		}
	}
}

func keys(m map[string]any) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	return k
}

func TestStatusClassification(t *testing.T) {
	tests := []struct {
		status int
		want   string // delivered, retried, dead
	}{
		{200, "delivered"}, {201, "delivered"}, {204, "delivered"}, {409, "delivered"},
		{408, "retried"}, {429, "retried"}, {500, "retried"}, {502, "retried"}, {503, "retried"},
		{400, "dead"}, {401, "dead"}, {404, "dead"}, {413, "dead"}, {422, "dead"},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			p := newPlatform(t)
			p.setAnswer(func(_ received, n int) (int, map[string]string, string) {
				if n == 0 {
					return tt.status, nil, "answer"
				}
				return 200, nil, ""
			})
			o := start(t, testConfig(filepath.Join(t.TempDir(), "outbox.db"), p.URL))
			if err := o.Enqueue(inc("inc_s", 1), nil); err != nil {
				t.Fatal(err)
			}
			var got string
			waitFor(t, "an outcome", 5*time.Second, func() bool {
				s := o.Stats()
				switch {
				case s.Dead == 1:
					got = "dead"
				case s.Pending == 0 && len(p.requests()) == 2:
					got = "retried"
				case s.Pending == 0 && len(p.requests()) == 1:
					got = "delivered"
				default:
					return false
				}
				return true
			})
			if got != tt.want {
				t.Fatalf("status %d: %s, want %s", tt.status, got, tt.want)
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	p := newPlatform(t)
	p.setAnswer(func(_ received, n int) (int, map[string]string, string) {
		if n == 0 {
			return 503, map[string]string{"Retry-After": "1"}, "busy"
		}
		return 200, nil, ""
	})
	o := start(t, testConfig(filepath.Join(t.TempDir(), "outbox.db"), p.URL))
	o.Enqueue(inc("inc_r", 1), nil)
	waitFor(t, "delivery", 5*time.Second, func() bool { return o.Stats().Pending == 0 })
	reqs := p.requests()
	if len(reqs) != 2 || reqs[0].Key != reqs[1].Key {
		t.Fatalf("requests: %d", len(reqs))
	}
	// Back-off alone would have retried within 50 ms.
	if gap := reqs[1].At.Sub(reqs[0].At); gap < 900*time.Millisecond {
		t.Fatalf("retried after %v despite Retry-After: 1", gap)
	}
	if v := testutil.ToFloat64(o.m.retried); v != 1 {
		t.Fatalf("retried_total %v", v)
	}
	if v := testutil.ToFloat64(o.m.delivered); v != 1 {
		t.Fatalf("delivered_total %v", v)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 26, 23, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"-5", 0}, {"7", 7 * time.Second}, {"999999", maxRetryAfter}, {"soon", 0},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestBackoffFullJitterCapped(t *testing.T) {
	o := &Outbox{cfg: Config{BaseBackoff: time.Second, MaxBackoff: 5 * time.Minute}}
	for attempts := 1; attempts < 80; attempts++ {
		ceil := min(time.Second<<min(attempts-1, 20), 5*time.Minute)
		for i := 0; i < 50; i++ {
			if d := o.backoff(attempts, 0); d < 0 || d > ceil {
				t.Fatalf("attempt %d: %v outside [0, %v]", attempts, d, ceil)
			}
		}
	}
	if d := o.backoff(1, 10*time.Minute); d != 10*time.Minute {
		t.Fatalf("Retry-After floor: %v", d)
	}
}

func TestDeadLetterBlocksThenResend(t *testing.T) {
	p := newPlatform(t)
	var fixed atomic.Bool
	p.setAnswer(func(r received, _ int) (int, map[string]string, string) {
		if !fixed.Load() && r.Key == "inc_d:1" {
			return 400, nil, `{"error":"unknown field severity"}`
		}
		return 201, nil, ""
	})
	o := start(t, testConfig(filepath.Join(t.TempDir(), "outbox.db"), p.URL))
	for v := 1; v <= 2; v++ {
		o.Enqueue(inc("inc_d", v), nil)
	}
	o.Enqueue(inc("inc_other", 1), nil)
	waitFor(t, "dead letter", 5*time.Second, func() bool { return o.Stats().Dead == 1 })
	waitFor(t, "other incident", 5*time.Second, func() bool { return len(p.accepted()) == 1 })
	time.Sleep(100 * time.Millisecond)
	if acc := p.accepted(); len(acc) != 1 || acc[0] != "inc_other:1" {
		t.Fatalf("accepted %v: v2 must wait behind the dead v1", acc)
	}
	list, _ := o.List(0)
	if len(list) != 2 || list[0].Key != "inc_d:1" || list[0].State != "dead" || list[0].Status != 400 ||
		list[0].Response != `{"error":"unknown field severity"}` || list[1].Key != "inc_d:2" || list[1].State != "blocked" {
		t.Fatalf("list: %+v", list)
	}
	if v := testutil.ToFloat64(o.m.dead); v != 1 {
		t.Fatalf("dead gauge %v", v)
	}
	if err := o.Resend("inc_d:9"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("resend unknown: %v", err)
	}
	fixed.Store(true)
	if err := o.Resend("inc_d:1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "resent delivery", 5*time.Second, func() bool { return o.Stats().Pending == 0 })
	if acc := p.accepted(); acc[1] != "inc_d:1" || acc[2] != "inc_d:2" {
		t.Fatalf("order after resend: %v", acc)
	}
	if s := o.Stats(); s.Dead != 0 || s.Pending != 0 || s.UsedBytes != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// A ticket the platform always refuses can be discarded: the incident's
// later versions then go, the bytes are freed, and the discarded one never
// reaches the platform. It survives a restart as discarded.
func TestDeadLetterDiscard(t *testing.T) {
	p := newPlatform(t)
	p.setAnswer(func(r received, _ int) (int, map[string]string, string) {
		if r.Key == "inc_d:1" {
			return 422, nil, `{"error":"never"}`
		}
		return 201, nil, ""
	})
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := start(t, testConfig(path, p.URL))
	for v := 1; v <= 3; v++ {
		o.Enqueue(inc("inc_d", v), nil)
	}
	waitFor(t, "dead letter", 5*time.Second, func() bool { return o.Stats().Dead == 1 })
	if err := o.Discard("inc_d:2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("discarding a pending ticket: %v, want ErrNotFound", err)
	}
	if err := o.Discard("inc_d:1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "later versions delivered", 5*time.Second, func() bool { return o.Stats().Pending == 0 })
	if acc := p.accepted(); len(acc) != 2 || acc[0] != "inc_d:2" || acc[1] != "inc_d:3" {
		t.Fatalf("accepted %v, want v2 then v3", acc)
	}
	if s := o.Stats(); s.Dead != 0 || s.UsedBytes != 0 {
		t.Fatalf("stats after discard %+v", s)
	}
	if err := o.Discard("inc_d:1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("discard twice: %v", err)
	}
	o.Close()
	o2 := start(t, testConfig(path, p.URL))
	if list, _ := o2.List(0); len(list) != 0 {
		t.Fatalf("after restart: %+v", list)
	}
}

func TestOrderPerIncidentUnderRandomFailures(t *testing.T) {
	p := newPlatform(t)
	var n atomic.Int64
	p.setAnswer(func(received, int) (int, map[string]string, string) {
		switch n.Add(1) % 5 {
		case 0:
			return 503, nil, ""
		case 2:
			return 500, nil, ""
		case 3:
			time.Sleep(3 * time.Millisecond)
			return 429, nil, ""
		}
		return 200, nil, ""
	})
	o := start(t, testConfig(filepath.Join(t.TempDir(), "outbox.db"), p.URL))
	const incs, versions = 20, 10
	for v := 1; v <= versions; v++ {
		for i := 0; i < incs; i++ {
			if err := o.Enqueue(inc(fmt.Sprintf("inc_%02d", i), v), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, "all delivered", 30*time.Second, func() bool { return o.Stats().Pending == 0 })
	checkOrder(t, p.accepted(), incs*versions)
	if testutil.ToFloat64(o.m.retried) == 0 {
		t.Fatal("no retries: the test did not exercise failures")
	}
}

// checkOrder asserts that each incident's versions were first accepted in
// order, and that want distinct tickets arrived.
func checkOrder(t *testing.T, accepted []string, want int) {
	t.Helper()
	last := map[string]int{}
	seen := map[string]bool{}
	for _, k := range accepted {
		if seen[k] {
			continue
		}
		seen[k] = true
		k2, err := parseKeyString(k)
		if err != nil {
			t.Fatal(err)
		}
		id, v, _ := splitKey(k2)
		if v <= last[id] {
			t.Fatalf("%s accepted after version %d", k, last[id])
		}
		last[id] = v
	}
	if len(seen) != want {
		t.Fatalf("%d distinct tickets accepted, want %d", len(seen), want)
	}
}

func TestRestartDeliversPending(t *testing.T) {
	p := newPlatform(t)
	path := filepath.Join(t.TempDir(), "outbox.db")
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // connection refused
	o, err := Open(testConfig(path, down.URL))
	if err != nil {
		t.Fatal(err)
	}
	o.Start(t.Context())
	for i := 0; i < 50; i++ {
		if err := o.Enqueue(inc(fmt.Sprintf("inc_%02d", i%7), i/7+1), nil); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if list, _ := o.List(0); len(list) != 50 || list[0].Attempts == 0 || list[0].LastError == "" {
		t.Fatalf("list while down: %d entries, first %+v", len(list), list[0])
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := o.Enqueue(inc("inc_late", 1), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("enqueue after close: %v", err)
	}
	o2 := start(t, testConfig(path, p.URL))
	if s := o2.Stats(); s.Pending != 50 {
		t.Fatalf("after reopen: %+v", s)
	}
	waitFor(t, "drain", 10*time.Second, func() bool { return o2.Stats().Pending == 0 })
	checkOrder(t, p.accepted(), 50)
}

func TestFullIsLoudAndKeepsAccepted(t *testing.T) {
	p := newPlatform(t)
	var up atomic.Bool
	p.setAnswer(func(received, int) (int, map[string]string, string) {
		if up.Load() {
			return 200, nil, ""
		}
		return 503, nil, ""
	})
	cfg := testConfig(filepath.Join(t.TempDir(), "outbox.db"), p.URL)
	cfg.MaxBytes = 20_000
	var fulls atomic.Int32
	cfg.OnFull = func() { fulls.Add(1) }
	o := start(t, cfg)
	accepted := 0
	var fullErr error
	for i := 0; i < 200; i++ {
		err := o.Enqueue(inc(fmt.Sprintf("inc_%03d", i), 1), nil)
		if err != nil {
			fullErr = err
			continue
		}
		accepted++
	}
	if !errors.Is(fullErr, ErrFull) || accepted == 0 || accepted == 200 {
		t.Fatalf("accepted %d, last error %v", accepted, fullErr)
	}
	waitFor(t, "OnFull", time.Second, func() bool { return fulls.Load() == 1 })
	if v := testutil.ToFloat64(o.m.full); v != 1 {
		t.Fatalf("lanewatch_outbox_full = %v", v)
	}
	if v := testutil.ToFloat64(o.m.rejected); v != float64(200-accepted) {
		t.Fatalf("rejected %v", v)
	}
	if s := o.Stats(); s.Pending != accepted || s.UsedBytes > cfg.MaxBytes || !s.Full {
		t.Fatalf("stats %+v", s)
	}
	up.Store(true)
	waitFor(t, "drain", 10*time.Second, func() bool { return o.Stats().Pending == 0 })
	if got := len(p.accepted()); got != accepted {
		t.Fatalf("delivered %d of %d accepted", got, accepted)
	}
	if err := o.Enqueue(inc("inc_after", 1), nil); err != nil {
		t.Fatal(err)
	}
	if v := testutil.ToFloat64(o.m.full); v != 0 {
		t.Fatalf("full gauge stays %v after space was freed", v)
	}
}

func TestReplayedVersionReplaces(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	o, err := Open(testConfig(filepath.Join(t.TempDir(), "outbox.db"), down.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	for i := 0; i < 3; i++ {
		if err := o.Enqueue(inc("inc_a", 1), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Enqueue(incident.Incident{ID: "inc_a"}, nil); err == nil {
		t.Fatal("version 0 accepted")
	}
	s := o.Stats()
	list, _ := o.List(0)
	if s.Pending != 1 || len(list) != 1 || s.UsedBytes != list[0].Bytes {
		t.Fatalf("stats %+v list %+v", s, list)
	}
}

func TestRunTwiceRefused(t *testing.T) {
	o := start(t, testConfig(filepath.Join(t.TempDir(), "outbox.db"), "http://127.0.0.1:9"))
	waitFor(t, "Start done", time.Second, func() bool { o.mu.Lock(); defer o.mu.Unlock(); return o.started })
	if err := o.Start(t.Context()); err == nil {
		t.Fatal("second Start accepted")
	}
}

func TestFollowEngineChanges(t *testing.T) {
	p := newPlatform(t)
	o := start(t, testConfig(filepath.Join(t.TempDir(), "outbox.db"), p.URL))
	snap := []byte("jpeg bytes")
	changes := make(chan incidents.Change, 4)
	a := inc("inc_f", 1)
	changes <- incidents.Change{Kind: incidents.Opened, Incident: a}
	a.Version, a.Count = 2, 2
	changes <- incidents.Change{Kind: incidents.Folded, Incident: a}
	a.Version, a.State = 3, incident.Acknowledged
	changes <- incidents.Change{Kind: incidents.Acked, Incident: a}
	close(changes)
	follow(t, o.Follower(incidents.Chan(changes), func(id string) ([]byte, error) { return snap, nil }))
	waitFor(t, "delivery", 5*time.Second, func() bool { return o.Stats().Pending == 0 })
	want := map[string]bool{"inc_f:1": true, "inc_f:2": false, "inc_f:3": true}
	reqs := p.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	for _, r := range reqs {
		has := bytes.Contains(r.Body, []byte(base64.StdEncoding.EncodeToString(snap)))
		if has != want[r.Key] {
			t.Errorf("%s: snapshot inline %v, want %v", r.Key, has, want[r.Key])
		}
	}
}

// The platform URL may carry a token; errors shown at /api/outbox and logged
// must not.
func TestTransportErrorsHideURLSecrets(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	u := strings.Replace(down.URL, "http://", "http://svc:s3cret@", 1) + "/t?token=t0ken"
	o := start(t, testConfig(filepath.Join(t.TempDir(), "outbox.db"), u))
	o.Enqueue(inc("inc_u", 1), nil)
	var e Entry
	waitFor(t, "a failed attempt", 5*time.Second, func() bool {
		l, _ := o.List(0)
		e = l[0]
		return e.LastError != ""
	})
	if strings.Contains(e.LastError, "s3cret") || strings.Contains(e.LastError, "t0ken") || !strings.Contains(e.LastError, "refused") {
		t.Fatalf("last error %q", e.LastError)
	}
}

// follow runs f until its (closed) source is drained.
func follow(t *testing.T, f *incidents.Follower) {
	t.Helper()
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
