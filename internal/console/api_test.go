package console_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/incident"
)

// apiRoutes is every authenticated route of contract section 6.
var apiRoutes = []struct{ method, path string }{
	{"GET", "/api/me"},
	{"POST", "/api/logout"},
	{"GET", "/api/cameras"},
	{"GET", "/api/cameras/lawn/snapshot.jpg"},
	{"GET", "/api/cameras/lawn/mjpeg"},
	{"GET", "/api/incidents"},
	{"GET", "/api/incidents/inc-1"},
	{"GET", "/api/incidents/inc-1/snapshot.jpg"},
	{"GET", "/api/incidents/inc-1/clip.mp4"},
	{"POST", "/api/incidents/inc-1/ack"},
	{"POST", "/api/incidents/inc-1/resolve"},
	{"GET", "/api/events"},
	{"GET", "/api/vehicles/passages"},
	{"GET", "/api/vehicles/inside"},
	{"GET", "/api/vehicles/visitors"},
	{"POST", "/api/vehicles/visitors"},
	{"DELETE", "/api/vehicles/visitors/A12345"},
	{"POST", "/api/gates/north/open"},
	{"GET", "/api/outbox"},
	{"POST", "/api/outbox/inc-1:1/resend"},
	{"POST", "/api/outbox/inc-1:1/discard"},
}

func TestUnauthenticatedIs401(t *testing.T) {
	e := newEnv(t)
	e.incs.Put(sampleIncident("inc-1", incident.High), []byte("jpg"), []byte("mp4"))
	anon := e.anon(t)
	badToken := e.token(t, "not-a-token-at-all-0000")
	for _, rt := range apiRoutes {
		for name, c := range map[string]*client{"anonymous": anon, "bad token": badToken} {
			resp, body := c.do(rt.method, rt.path, nil)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s %s: %d, want 401", name, rt.method, rt.path, resp.StatusCode)
				continue
			}
			errorBody(t, resp, body)
		}
	}
	// Nothing changed behind the refused requests.
	if inc, _ := e.incs.Get("inc-1"); inc.State != incident.Open {
		t.Errorf("incident state %s after refused requests", inc.State)
	}
	if len(e.gates.Sent()) != 0 {
		t.Error("gate command sent without credentials")
	}
}

func TestPublicEndpoints(t *testing.T) {
	e := newEnv(t)
	c := e.anon(t)
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/", "/app.js"} {
		if resp, body := c.do("GET", p, nil); resp.StatusCode != 200 {
			t.Errorf("GET %s: %d %s", p, resp.StatusCode, body)
		}
	}
	e.readyErr = errors.New("mqtt not connected")
	resp, body := c.do("GET", "/readyz", nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz when not ready: %d", resp.StatusCode)
	}
	errorBody(t, resp, body)
	// The page is self-contained: the CSP forbids anything from elsewhere.
	resp, _ = c.do("GET", "/", nil)
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	resp, body = c.do("GET", "/api/nope", nil)
	if resp.StatusCode != 404 {
		t.Errorf("unknown API path: %d", resp.StatusCode)
	}
	errorBody(t, resp, body)
}

func TestRoles(t *testing.T) {
	e := newEnv(t)
	e.incs.Put(sampleIncident("inc-1", incident.High), nil, nil)
	vic, olga, ada := e.login(t, "vic"), e.login(t, "olga"), e.login(t, "ada")
	wall := e.token(t, viewerToken)
	visitor := map[string]any{"plate": "沪A12345", "valid_from": time.Now().Format(time.RFC3339),
		"valid_until": time.Now().Add(4 * time.Hour).Format(time.RFC3339), "unit": "3-201"}
	cases := []struct {
		name   string
		c      *client
		method string
		path   string
		body   any
		want   int
	}{
		{"viewer ack", vic, "POST", "/api/incidents/inc-1/ack", map[string]string{"note": "x"}, 403},
		{"viewer resolve", vic, "POST", "/api/incidents/inc-1/resolve", nil, 403},
		{"viewer token ack", wall, "POST", "/api/incidents/inc-1/ack", nil, 403},
		{"viewer gate", vic, "POST", "/api/gates/north/open", map[string]string{"reason": "x"}, 403},
		{"viewer visitor add", vic, "POST", "/api/vehicles/visitors", visitor, 403},
		{"viewer outbox", vic, "GET", "/api/outbox", nil, 403},
		{"operator outbox", olga, "GET", "/api/outbox", nil, 403},
		{"operator resend", olga, "POST", "/api/outbox/inc-1:1/resend", nil, 403},
		{"operator discard", olga, "POST", "/api/outbox/inc-1:1/discard", nil, 403},
		{"viewer reads incidents", vic, "GET", "/api/incidents", nil, 200},
		{"operator visitor add", olga, "POST", "/api/vehicles/visitors", visitor, 201},
		{"operator ack", olga, "POST", "/api/incidents/inc-1/ack", map[string]string{"note": "on my way"}, 200},
		{"admin outbox", ada, "GET", "/api/outbox", nil, 200},
		{"admin resolves", ada, "POST", "/api/incidents/inc-1/resolve", map[string]string{}, 200},
		{"resolve twice conflicts", ada, "POST", "/api/incidents/inc-1/resolve", nil, 409},
		{"ack unknown", olga, "POST", "/api/incidents/nope/ack", nil, 404},
	}
	for _, tc := range cases {
		resp, body := tc.c.do(tc.method, tc.path, tc.body)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, body, tc.want)
		}
		if resp.StatusCode >= 400 {
			errorBody(t, resp, body)
		}
	}
	inc, _ := e.incs.Get("inc-1")
	if inc.State != incident.Resolved || len(inc.Acks) != 2 || inc.Acks[0].By != "olga" ||
		inc.Acks[0].Note != "on my way" || inc.Acks[1].By != "ada" {
		t.Errorf("incident after ack and resolve: %+v", inc)
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	e.incs.Put(sampleIncident("inc-1", incident.High), nil, nil)
	olga := e.login(t, "olga")
	good := olga.csrf
	other := e.login(t, "ada").csrf
	// Same length, last character changed.
	last := byte('A')
	if good[len(good)-1] == last {
		last = 'B'
	}
	wrong := good[:len(good)-1] + string(last)
	for _, tc := range []struct {
		name, csrf string
		want       int
	}{
		{"missing", "", 403},
		{"wrong", wrong, 403},
		{"another session's", other, 403},
		{"right", good, 200},
	} {
		olga.csrf = tc.csrf
		resp, body := olga.do("POST", "/api/incidents/inc-1/ack", map[string]string{"note": "n"})
		if resp.StatusCode != tc.want {
			t.Errorf("csrf %s: %d %s, want %d", tc.name, resp.StatusCode, body, tc.want)
		}
		if tc.want == 403 && !strings.Contains(errorBody(t, resp, body), "CSRF") {
			t.Errorf("csrf %s: error %s does not say CSRF", tc.name, body)
		}
	}
	// Safe methods need no token.
	olga.csrf = ""
	if resp, _ := olga.do("GET", "/api/incidents/inc-1", nil); resp.StatusCode != 200 {
		t.Errorf("GET with cookie, no CSRF: %d", resp.StatusCode)
	}
	// Logout needs the token too, and ends the session.
	if resp, _ := olga.do("POST", "/api/logout", nil); resp.StatusCode != 403 {
		t.Errorf("logout without CSRF: %d", resp.StatusCode)
	}
	olga.csrf = good
	if resp, _ := olga.do("POST", "/api/logout", nil); resp.StatusCode != 200 {
		t.Errorf("logout: %d", resp.StatusCode)
	}
	if resp, _ := olga.do("GET", "/api/me", nil); resp.StatusCode != 401 {
		t.Errorf("after logout: %d, want 401", resp.StatusCode)
	}
}

func TestBearerNeedsNoCSRF(t *testing.T) {
	e := newEnv(t)
	e.incs.Put(sampleIncident("inc-1", incident.Critical), nil, nil)
	ops := e.token(t, operatorToken)
	resp, body := ops.do("POST", "/api/incidents/inc-1/ack", map[string]string{"note": "seen"})
	if resp.StatusCode != 200 {
		t.Fatalf("bearer ack: %d %s", resp.StatusCode, body)
	}
	var inc incident.Incident
	if err := json.Unmarshal(body, &inc); err != nil || inc.State != incident.Acknowledged || inc.Acks[0].By != "dispatch" {
		t.Errorf("ack response %s (%v): want acknowledged by the token's name", body, err)
	}
	resp, body = ops.do("GET", "/api/me", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"role":"operator"`) || strings.Contains(string(body), "csrf") {
		t.Errorf("me for a token: %s", body)
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t)
	c := e.anon(t)
	for i := 0; i < 5; i++ {
		resp, body := c.do("POST", "/api/login", map[string]string{"name": "olga", "password": "guess" + strconv.Itoa(i)})
		if resp.StatusCode != 401 {
			t.Fatalf("attempt %d: %d", i, resp.StatusCode)
		}
		if msg := errorBody(t, resp, body); strings.Contains(msg, "olga") {
			t.Errorf("error names the user: %s", msg)
		}
	}
	resp, body := c.do("POST", "/api/login", map[string]string{"name": "olga", "password": password})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("6th attempt: %d %s, want 429", resp.StatusCode, body)
	}
	errorBody(t, resp, body)
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 60 {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	for _, tc := range []struct {
		name, body, ct string
		want           int
	}{
		{"not json", "name=olga", "application/json", 400},
		{"no password", `{"name":"olga"}`, "application/json", 400},
		{"form post", "name=olga&password=x", "application/x-www-form-urlencoded", 415},
	} {
		resp, body := c.doHeaders("POST", "/api/login", tc.body, map[string]string{"Content-Type": tc.ct})
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d", tc.name, resp.StatusCode)
		}
		errorBody(t, resp, body)
	}
}

func TestSessionCookie(t *testing.T) {
	e := newEnv(t)
	c := e.anon(t)
	resp, body := c.do("POST", "/api/login", map[string]string{"name": "vic", "password": password})
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode, string(body))
	}
	var ck *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == auth.CookieName {
			ck = k
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || len(ck.Value) < 43 || ck.Secure {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Strict, 32 random bytes, not Secure over plain HTTP", ck)
	}
	var me map[string]any
	_ = json.Unmarshal(body, &me)
	if keys(me) != "csrf_token,name,role" || me["role"] != "viewer" {
		t.Errorf("login body %s", body)
	}
	if strings.Contains(string(body), "$2a$") {
		t.Error("password hash in the response")
	}
}

func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

// TestJSONShapes checks the field names of every JSON GET route against the contract.
func TestJSONShapes(t *testing.T) {
	e := newEnv(t)
	inc := sampleIncident("inc-1", incident.High)
	e.incs.Put(inc, []byte("\xff\xd8jpeg"), []byte("mp4data"))
	in := time.Now().Add(-time.Hour).Truncate(time.Second)
	dwell := int64(3600)
	e.veh.AddPassage(console.Passage{ID: "p1", Site: "zhonghua-lane", Gate: "north", Direction: "in", Plate: "青A12345", Class: "resident", At: in})
	e.veh.AddPassage(console.Passage{ID: "p2", Site: "zhonghua-lane", Gate: "north", Direction: "out", Plate: "青A12345", Class: "resident",
		At: in.Add(time.Hour), EntryAt: &in, DwellS: &dwell, Snapshot: "/api/vehicles/passages/p2/snapshot.jpg"})
	e.veh.AddPassage(console.Passage{ID: "p3", Site: "zhonghua-lane", Gate: "north", Direction: "in", Plate: "沪B99999", Class: "visitor", At: in.Add(2 * time.Hour)})
	_ = e.veh.AddVisitor(nil, console.Visitor{Plate: "沪B99999", ValidFrom: in, ValidUntil: in.Add(5 * time.Hour), Unit: "3-201"})
	ada := e.login(t, "ada")
	incKeys := "acks,count,description,evidence,id,objects,resolved_at,severity,site,source,started_at,state,title,type,updated_at"
	cases := []struct {
		path string
		want string // sorted keys of the (first) object
		n    int    // array length; -1: an object
	}{
		{"/api/cameras", "fps_analyzed,fps_decoded,fps_in,id,last_frame_at,name,reconnects,since,state", 2},
		{"/api/incidents", incKeys, 1},
		{"/api/incidents/inc-1", incKeys, -1},
		{"/api/vehicles/passages", "at,class,direction,dwell_s,entry_at,gate,id,plate,site", 3},
		{"/api/vehicles/passages?plate=qing+a-12345&format=json", "", 0}, // 青 is not q: no match
		{"/api/vehicles/passages?plate=%E9%9D%92A%C2%B712345", "at,class,direction,dwell_s,entry_at,gate,id,plate,site,snapshot", 2},
		{"/api/vehicles/inside", "class,dwell_s,entry_at,gate,plate", 1},
		{"/api/vehicles/visitors", "note,plate,unit,valid_from,valid_until", 1},
		{"/api/outbox", "attempts,bytes,created_at,incident_id,key,last_status,response,state,version", 2},
		{"/api/me", "name,role,csrf_token", -1},
	}
	for _, tc := range cases {
		resp, body := ada.do("GET", tc.path, nil)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: %d %s", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"))
			continue
		}
		var first map[string]any
		if tc.n < 0 {
			if err := json.Unmarshal(body, &first); err != nil {
				t.Errorf("%s: %v", tc.path, err)
				continue
			}
		} else {
			var arr []map[string]any
			if err := json.Unmarshal(body, &arr); err != nil {
				t.Errorf("%s: %s is not an array: %v", tc.path, body, err)
				continue
			}
			if len(arr) != tc.n {
				t.Errorf("%s: %d items, want %d", tc.path, len(arr), tc.n)
				continue
			}
			if tc.n == 0 {
				continue
			}
			first = arr[0]
		}
		want := strings.Split(tc.want, ",")
		sort.Strings(want)
		if got := keys(first); got != strings.Join(want, ",") {
			t.Errorf("%s keys:\n got %s\nwant %s", tc.path, got, strings.Join(want, ","))
		}
	}
	// Passages newest first; the out passage carries entry and dwell.
	_, body := ada.do("GET", "/api/vehicles/passages?gate=north&since="+in.Format(time.RFC3339), nil)
	var ps []console.Passage
	_ = json.Unmarshal(body, &ps)
	if len(ps) != 3 || ps[0].ID != "p3" || ps[1].DwellS == nil || *ps[1].DwellS != 3600 || !ps[1].EntryAt.Equal(in) {
		t.Errorf("passages %s", body)
	}
	if !e.veh.LastQuery.Since.Equal(in) || e.veh.LastQuery.Gate != "north" || e.veh.LastQuery.Limit != 1000 {
		t.Errorf("query passed on: %+v", e.veh.LastQuery)
	}
	// Evidence.
	resp, body := ada.do("GET", "/api/incidents/inc-1/snapshot.jpg", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" || string(body) != "\xff\xd8jpeg" {
		t.Errorf("incident snapshot: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, body = ada.doHeaders("GET", "/api/incidents/inc-1/clip.mp4", nil, map[string]string{"Range": "bytes=3-"})
	if resp.StatusCode != 206 || resp.Header.Get("Content-Type") != "video/mp4" || string(body) != "data" {
		t.Errorf("clip range: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	e.incs.Put(sampleIncident("inc-2", incident.Low), nil, nil)
	for _, p := range []string{"/api/incidents/inc-2/snapshot.jpg", "/api/incidents/inc-2/clip.mp4", "/api/incidents/none"} {
		resp, body := ada.do("GET", p, nil)
		if resp.StatusCode != 404 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
		errorBody(t, resp, body)
	}
}

func TestIncidentFilters(t *testing.T) {
	e := newEnv(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i, st := range []incident.State{incident.Open, incident.Acknowledged, incident.Open, incident.Resolved} {
		inc := sampleIncident("inc-"+strconv.Itoa(i), incident.Medium)
		inc.State, inc.StartedAt, inc.UpdatedAt = st, base.Add(time.Duration(i)*time.Minute), base.Add(time.Duration(i)*time.Minute)
		if i == 2 {
			inc.Type = incident.GateForced
		}
		e.incs.Put(inc, nil, nil)
	}
	vic := e.login(t, "vic")
	cases := []struct {
		q    string
		want string
	}{
		{"", "inc-3,inc-2,inc-1,inc-0"},
		{"?state=open", "inc-2,inc-0"},
		{"?type=gate_forced", "inc-2"},
		{"?limit=2", "inc-3,inc-2"},
		{"?since=" + base.Add(90*time.Second).Format(time.RFC3339), "inc-3,inc-2"},
	}
	for _, tc := range cases {
		resp, body := vic.do("GET", "/api/incidents"+tc.q, nil)
		var list []incident.Incident
		if err := json.Unmarshal(body, &list); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", tc.q, resp.StatusCode, body)
		}
		var ids []string
		for _, inc := range list {
			ids = append(ids, inc.ID)
		}
		if got := strings.Join(ids, ","); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.q, got, tc.want)
		}
	}
}

func TestBadQueryIs400(t *testing.T) {
	e := newEnv(t)
	olga := e.login(t, "olga")
	cases := []struct{ method, path string }{
		{"GET", "/api/incidents?state=closed"},
		{"GET", "/api/incidents?type=ufo"},
		{"GET", "/api/incidents?since=yesterday"},
		{"GET", "/api/incidents?limit=0"},
		{"GET", "/api/incidents?limit=1001"},
		{"GET", "/api/incidents?limit=ten"},
		{"GET", "/api/incidents?stat=open"},
		{"GET", "/api/incidents?state=open&state=resolved"},
		{"GET", "/api/vehicles/passages?plate=A"},
		{"GET", "/api/vehicles/passages?plate=<script>"},
		{"GET", "/api/vehicles/passages?gate=North%20Gate"},
		{"GET", "/api/vehicles/passages?since=2026-13-01"},
		{"GET", "/api/vehicles/passages?since=2026-11-26T10:00:00Z&until=2026-11-25T10:00:00Z"},
		{"GET", "/api/vehicles/passages?format=xml"},
		{"GET", "/api/cameras/lawn/snapshot.jpg?annotate=yes"},
		{"DELETE", "/api/vehicles/visitors/%21%21"},
	}
	for _, tc := range cases {
		resp, body := olga.do(tc.method, tc.path, nil)
		if resp.StatusCode != 400 {
			t.Errorf("%s %s: %d %s, want 400", tc.method, tc.path, resp.StatusCode, body)
			continue
		}
		errorBody(t, resp, body)
	}
}

func TestBadBodiesAre400(t *testing.T) {
	e := newEnv(t)
	e.incs.Put(sampleIncident("inc-1", incident.High), nil, nil)
	olga := e.login(t, "olga")
	now := time.Now()
	vis := func(plate string, from, until time.Time) string {
		b, _ := json.Marshal(map[string]any{"plate": plate, "valid_from": from, "valid_until": until})
		return string(b)
	}
	cases := []struct{ name, path, body string }{
		{"ack not json", "/api/incidents/inc-1/ack", "note"},
		{"ack unknown field", "/api/incidents/inc-1/ack", `{"notes":"x"}`},
		{"ack note not string", "/api/incidents/inc-1/ack", `{"note":5}`},
		{"ack huge note", "/api/incidents/inc-1/ack", `{"note":"` + strings.Repeat("x", 3000) + `"}`},
		{"gate no body", "/api/gates/north/open", ""},
		{"gate empty reason", "/api/gates/north/open", `{"reason":"  "}`},
		{"visitor bad plate", "/api/vehicles/visitors", vis("!", now, now.Add(time.Hour))},
		{"visitor window reversed", "/api/vehicles/visitors", vis("沪A12345", now, now.Add(-time.Hour))},
		{"visitor window too long", "/api/vehicles/visitors", vis("沪A12345", now, now.Add(40*24*time.Hour))},
		{"visitor no window", "/api/vehicles/visitors", `{"plate":"沪A12345"}`},
	}
	for _, tc := range cases {
		resp, body := olga.do("POST", tc.path, tc.body)
		if resp.StatusCode != 400 {
			t.Errorf("%s: %d %s, want 400", tc.name, resp.StatusCode, body)
			continue
		}
		errorBody(t, resp, body)
	}
	if inc, _ := e.incs.Get("inc-1"); inc.State != incident.Open {
		t.Error("a refused ack changed the incident")
	}
	resp, body := olga.do("POST", "/api/incidents/inc-1/ack", `{"note":"`+strings.Repeat("x", 70000)+`"}`)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("70 KB body: %d", resp.StatusCode)
	}
	errorBody(t, resp, body)
}

func TestGateOpenVisitorsOutboxAudited(t *testing.T) {
	e := newEnv(t)
	olga, ada := e.login(t, "olga"), e.login(t, "ada")
	resp, body := olga.do("POST", "/api/gates/north/open", map[string]string{"reason": "delivery van, plate unreadable"})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("gate open: %d %s", resp.StatusCode, body)
	}
	sent := e.gates.Sent()
	if len(sent) != 1 || sent[0].Gate != "north" || sent[0].By != "olga" || sent[0].Reason != "delivery van, plate unreadable" {
		t.Errorf("gate commands %+v", sent)
	}
	if resp, body := olga.do("POST", "/api/gates/south/open", map[string]string{"reason": "x"}); resp.StatusCode != 404 {
		t.Errorf("unknown gate: %d %s", resp.StatusCode, body)
	}
	from := time.Now().Truncate(time.Second)
	resp, body = olga.do("POST", "/api/vehicles/visitors", map[string]any{"plate": "沪a 123·45", "valid_from": from,
		"valid_until": from.Add(3 * time.Hour), "unit": "3-201", "note": "plumber"})
	if resp.StatusCode != 201 || !strings.Contains(string(body), `"plate":"沪A12345"`) {
		t.Fatalf("add visitor: %d %s", resp.StatusCode, body)
	}
	if resp, _ := olga.do("DELETE", "/api/vehicles/visitors/沪A12345", nil); resp.StatusCode != 204 {
		t.Errorf("delete visitor: %d", resp.StatusCode)
	}
	if resp, _ := olga.do("DELETE", "/api/vehicles/visitors/沪A12345", nil); resp.StatusCode != 404 {
		t.Errorf("delete visitor twice: %d", resp.StatusCode)
	}
	if resp, body := ada.do("POST", "/api/outbox/inc-1:1/resend", nil); resp.StatusCode != 202 {
		t.Errorf("resend: %d %s", resp.StatusCode, body)
	}
	if resp, _ := ada.do("POST", "/api/outbox/inc-2:3/resend", nil); resp.StatusCode != 409 {
		t.Errorf("resend of a pending ticket: %d", resp.StatusCode)
	}
	if resp, _ := ada.do("POST", "/api/outbox/nope:1/resend", nil); resp.StatusCode != 404 {
		t.Errorf("resend unknown: %d", resp.StatusCode)
	}
	e.outbox.Add(console.OutboxTicket{Key: "inc-3:1", IncidentID: "inc-3", Version: 1, State: "dead", LastStatus: 422})
	if resp, body := ada.do("POST", "/api/outbox/inc-3:1/discard", nil); resp.StatusCode != 200 || !strings.Contains(string(body), `"discarded"`) {
		t.Errorf("discard: %d %s", resp.StatusCode, body)
	}
	if resp, _ := ada.do("POST", "/api/outbox/inc-3:1/discard", nil); resp.StatusCode != 404 {
		t.Errorf("discard twice: %d", resp.StatusCode)
	}
	if resp, _ := ada.do("POST", "/api/outbox/inc-2:3/discard", nil); resp.StatusCode != 409 {
		t.Errorf("discard of a pending ticket: %d", resp.StatusCode)
	}
	entries, err := auth.ReadAudit(e.auditPath)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, en := range entries {
		got = append(got, en.User+":"+en.Action+":"+en.Target)
	}
	want := "olga:login:,ada:login:,olga:gate_open:north,olga:gate_open_failed:south,olga:visitor_add:沪A12345," +
		"olga:visitor_remove:沪A12345,ada:resend:inc-1:1,ada:discard:inc-3:1"
	if strings.Join(got, ",") != want {
		t.Errorf("audit:\n got %s\nwant %s", strings.Join(got, ","), want)
	}
	if entries[2].Details["reason"] != "delivery van, plate unreadable" || entries[2].Role != "operator" {
		t.Errorf("gate audit entry %+v", entries[2])
	}
	raw, _ := os.ReadFile(e.auditPath)
	if strings.Contains(string(raw), password) || strings.Contains(string(raw), "$2a$") {
		t.Error("audit log holds a password or hash")
	}
}

func TestPassagesCSV(t *testing.T) {
	e := newEnv(t)
	at := time.Date(2026, 11, 26, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))
	dwell := int64(120)
	e.veh.AddPassage(console.Passage{ID: "p1", Site: "s", Gate: "north", Direction: "in", Plate: "青A12345", Class: "resident", At: at})
	e.veh.AddPassage(console.Passage{ID: "p2", Site: "s", Gate: "north", Direction: "out", Plate: "青A12345", Class: "resident",
		At: at.Add(2 * time.Minute), EntryAt: &at, DwellS: &dwell})
	resp, body := e.token(t, viewerToken).do("GET", "/api/vehicles/passages?format=csv&plate=青A12345", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("csv: %d %v", resp.StatusCode, resp.Header)
	}
	sc := bufio.NewScanner(strings.NewReader(strings.TrimPrefix(string(body), "\ufeff")))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	want := []string{
		"id,site,gate,direction,plate,class,at,entry_at,dwell_s,snapshot",
		"p2,s,north,out,青A12345,resident,2026-11-26T08:02:00+08:00,2026-11-26T08:00:00+08:00,120,",
		"p1,s,north,in,青A12345,resident,2026-11-26T08:00:00+08:00,,,",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("csv:\n%s", strings.Join(lines, "\n"))
	}
}

func TestMetricsEndpoint(t *testing.T) {
	e := newEnv(t)
	vic := e.login(t, "vic")
	vic.do("GET", "/api/cameras", nil)
	vic.do("GET", "/api/incidents?state=bogus", nil)
	_, body := e.anon(t).do("GET", "/metrics", nil)
	for _, want := range []string{
		`lanewatch_console_http_requests_total{code="200",route="GET /api/cameras"} 1`,
		`lanewatch_console_http_requests_total{code="400",route="GET /api/incidents"} 1`,
		`lanewatch_console_http_request_duration_seconds_bucket`,
		`lanewatch_console_sse_clients 0`,
		`lanewatch_console_mjpeg_viewers 0`,
		`lanewatch_auth_logins_total{result="ok"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
