package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/console/consoletest"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"
)

const (
	password      = "correct horse battery"
	viewerToken   = "wall-token-0123456789abcdef"
	operatorToken = "ops-token-0123456789abcdef"
)

var (
	hashOnce sync.Once
	pwHash   string
)

func passwordHash(t testing.TB) string {
	hashOnce.Do(func() {
		// Minimum cost: bcrypt at the default cost makes every login take
		// ~100 ms on the shared test machine.
		h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		pwHash = string(h)
	})
	return pwHash
}

// env is a running console with in-memory components.
type env struct {
	srv       *console.Server
	base      string
	auditPath string
	cams      *consoletest.Cameras
	incs      *consoletest.Incidents
	veh       *consoletest.Vehicles
	outbox    *consoletest.Outbox
	gates     *consoletest.Gates
	readyErr  error
	close     func() // stops the console and closes its stores; idempotent
}

type envOpt func(*console.Server)

func newEnv(t testing.TB, opts ...envOpt) *env {
	t.Helper()
	return newEnvAt(t, t.TempDir(), "127.0.0.1:0", opts...)
}

// newEnvAt is newEnv with its data (audit log, sessions) in dir, listening
// on listen: a second env on the same dir and address is the gateway
// restarted.
func newEnvAt(t testing.TB, dir, listen string, opts ...envOpt) *env {
	t.Helper()
	h := passwordHash(t)
	e := &env{
		auditPath: filepath.Join(dir, "audit.log"),
		cams:      consoletest.NewCameras("gate-north", "lawn"),
		incs:      consoletest.NewIncidents(),
		veh:       consoletest.NewVehicles(),
		outbox: &consoletest.Outbox{Tickets: []console.OutboxTicket{
			{Key: "inc-1:1", IncidentID: "inc-1", Version: 1, State: "dead", Attempts: 1, CreatedAt: time.Now(), Bytes: 900, LastStatus: 422, Response: "bad ticket"},
			{Key: "inc-2:3", IncidentID: "inc-2", Version: 3, State: "pending", Attempts: 4, CreatedAt: time.Now(), Bytes: 1200},
		}},
		gates: &consoletest.Gates{Known: []string{"north"}},
	}
	reg := prometheus.NewRegistry()
	a, err := auth.New(auth.Config{
		Users: []config.User{
			{Name: "vic", Role: "viewer", PasswordHash: h},
			{Name: "olga", Role: "operator", PasswordHash: h},
			{Name: "ada", Role: "admin", PasswordHash: h},
		},
		Tokens: []config.Token{
			{Name: "wall-3", Role: "viewer", Token: viewerToken},
			{Name: "dispatch", Role: "operator", Token: operatorToken},
		},
		AuditPath:   e.auditPath,
		SessionPath: filepath.Join(dir, "sessions.db"),
		Registerer:  reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = &console.Server{
		Listen: listen, Auth: a,
		Cameras: e.cams, Incidents: e.incs, Vehicles: e.veh, Outbox: e.outbox, Gates: e.gates,
		Metrics: reg, Registerer: reg,
		Ready:  func() error { return e.readyErr },
		MJPEG:  config.MJPEG{FPS: 10, Width: 320, Quality: 70},
		Logger: slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(e.srv)
	}
	if err := e.srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.close = func() {
		e.srv.Close()
		a.Close()
	}
	t.Cleanup(e.close)
	e.base = "http://" + e.srv.Addr()
	return e
}

// client is an HTTP client acting as one principal.
type client struct {
	t      testing.TB
	base   string
	hc     *http.Client
	bearer string
	csrf   string
}

func (e *env) anon(t testing.TB) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: e.base, hc: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

func (e *env) token(t testing.TB, tok string) *client {
	c := e.anon(t)
	c.bearer = tok
	return c
}

// login logs in as name and keeps the session cookie and CSRF token.
func (e *env) login(t testing.TB, name string) *client {
	t.Helper()
	c := e.anon(t)
	resp, body := c.do("POST", "/api/login", map[string]string{"name": name, "password": password})
	if resp.StatusCode != 200 {
		t.Fatalf("login %s: %d %s", name, resp.StatusCode, body)
	}
	var me struct {
		Name, Role string
		CSRF       string `json:"csrf_token"`
	}
	if err := json.Unmarshal(body, &me); err != nil || me.CSRF == "" || me.Name != name {
		t.Fatalf("login body %s: %v", body, err)
	}
	c.csrf = me.CSRF
	return c
}

// do sends a request; body v is JSON-encoded unless it is a string.
func (c *client) do(method, path string, v any) (*http.Response, []byte) {
	c.t.Helper()
	return c.doHeaders(method, path, v, nil)
}

func (c *client) doHeaders(method, path string, v any, hdr map[string]string) (*http.Response, []byte) {
	c.t.Helper()
	var rd io.Reader
	switch b := v.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp, body
}

// errorBody checks an error response is {"error": "..."} and returns the message.
func errorBody(t testing.TB, resp *http.Response, body []byte) string {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type %q, want JSON (body %s)", ct, body)
	}
	var e map[string]any
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	msg, ok := e["error"].(string)
	if !ok || msg == "" || len(e) != 1 {
		t.Errorf("error body %s, want exactly {\"error\": \"...\"}", body)
	}
	return msg
}

func sampleIncident(id string, sev incident.Severity) incident.Incident {
	now := time.Now().Truncate(time.Second)
	return incident.Incident{
		ID: id, Site: "zhonghua-lane", Type: incident.Intrusion, Severity: sev, State: incident.Open,
		Title: "Person on the lawn", Description: "A person entered zone lawn.",
		Source:    incident.Source{Camera: "lawn", Zone: "lawn"},
		StartedAt: now, UpdatedAt: now, Count: 1,
		Objects:  []incident.Object{{Label: "person", Track: 12, Box: [4]float64{0.1, 0.2, 0.1, 0.3}, Confidence: 0.87}},
		Acks:     []incident.Ack{},
		Evidence: incident.Evidence{Snapshot: "/api/incidents/" + id + "/snapshot.jpg"},
	}
}

// waitMJPEGViewers waits up to 10 s until the console counts n MJPEG viewers.
func (e *env) waitMJPEGViewers(t testing.TB, n int) {
	t.Helper()
	want := "\nlanewatch_console_mjpeg_viewers " + strconv.Itoa(n) + "\n"
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := e.anon(t).do("GET", "/metrics", nil)
		if strings.Contains(string(body), want) {
			return
		}
		if time.Now().After(deadline) {
			i := strings.Index(string(body), "lanewatch_console_mjpeg_viewers ")
			t.Fatalf("MJPEG viewers: %.40s, want %d", string(body)[max(i, 0):], n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
