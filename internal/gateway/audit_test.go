package gateway_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type auditEntry struct {
	User    string            `json:"user"`
	Action  string            `json:"action"`
	Gateway string            `json:"gateway"`
	Details map[string]string `json:"details"`
}

// failLogin makes an audit entry: a failed login is audited under the
// name it tried.
func failLogin(t *testing.T, s *site, name string) {
	t.Helper()
	resp := s.api(t, "POST", "/api/login", "", `{"name":"`+name+`","password":"wrong-password-1"}`)
	mustBody(t, resp)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad login: %d", resp.StatusCode)
	}
}

func auditHas(t *testing.T, s *site, user, gateway string) bool {
	t.Helper()
	var es []auditEntry
	resp := s.api(t, "GET", "/api/audit?limit=50", adminToken, "")
	b := mustBody(t, resp)
	if resp.StatusCode == http.StatusServiceUnavailable {
		return false // a cluster electing stream leaders
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &es) != nil {
		t.Fatalf("GET /api/audit: %d %s", resp.StatusCode, b)
	}
	for _, e := range es {
		if e.User == user && e.Action == "login_failed" && e.Gateway == gateway {
			return true
		}
	}
	return false
}

// GET /api/audit on a single box: its own file, admins only.
func TestAuditAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("gateway process")
	}
	s := startSite(t, siteOpts{})
	failLogin(t, s, "mallory")
	if !auditHas(t, s, "mallory", "") {
		t.Fatal("the failed login is not in GET /api/audit")
	}
	for path, want := range map[string]int{"/api/audit": 403, "/api/audit?limit=0": 400} {
		tok := viewerToken
		if want == 400 {
			tok = adminToken
		}
		resp := s.api(t, "GET", path, tok, "")
		mustBody(t, resp)
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// In a cluster the audit log is site-wide: an entry made on one gateway is
// read on another, and stays there after the gateway that made it is
// killed -9 with its data_dir deleted.
func TestBinaryClusterAuditSurvivesLostBox(t *testing.T) {
	if testing.Short() {
		t.Skip("three gateway processes")
	}
	bin := lanewatchBinary(t)
	cs := newClusterSite(t, 3, 0, 1, 4*time.Second, 4*time.Second)
	cs.launch(t, bin)
	victim, reader := cs.gws[1], cs.gws[0]
	failLogin(t, victim.site, "mallory")
	eventually(t, "gw-1's entry in gw-0's audit log", 15*time.Second, func() bool {
		return auditHas(t, reader.site, "mallory", victim.id)
	}, func() { t.Logf("gw-0:\n%s", tail(reader.p.output(), 30)) })
	_ = victim.p.cmd.Process.Kill()
	_ = victim.p.cmd.Wait()
	victim.p = nil
	if err := os.RemoveAll(filepath.Join(victim.dir, "data")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the entry still read after its gateway and disk are gone", 30*time.Second, func() bool {
		return auditHas(t, cs.gws[2].site, "mallory", victim.id)
	})
}
