package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSessionsSurviveGatewayRestart (issue 14 item 6): a wall opened with its
// token and an operator's session both outlive a restart of the whole
// gateway on the same data_dir, the operator's CSRF token included.
func TestSessionsSurviveGatewayRestart(t *testing.T) {
	s := startSite(t, siteOpts{})
	newClient := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	do := func(c *http.Client, method, path, csrf, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, s.Console+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	wall, admin := newClient(), newClient()
	if code, _ := do(wall, "GET", "/?token="+viewerToken, "", ""); code != http.StatusSeeOther {
		t.Fatalf("kiosk exchange: %d", code)
	}
	code, body := do(admin, "POST", "/api/login", "", `{"name":"admin","password":"`+adminPass+`"}`)
	if code != 200 {
		t.Fatalf("login: %d %s", code, body)
	}
	var me struct {
		CSRF string `json:"csrf_token"`
	}
	_ = json.Unmarshal([]byte(body), &me)

	s.Stop(t)
	st, err := os.Stat(filepath.Join(s.Dir, "data", "sessions.db"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("sessions.db: %v %v", err, st)
	}
	if err := s.run(t); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if code, body := do(wall, "GET", "/api/me", "", ""); code != 200 || !strings.Contains(body, `"kiosk":true`) {
		t.Errorf("wall after the restart: %d %s", code, body)
	}
	if code, body := do(admin, "POST", "/api/gates/north/open", me.CSRF, `{"reason":"after restart"}`); code != http.StatusAccepted {
		t.Errorf("operator action with the pre-restart CSRF token: %d %s", code, body)
	}
	if code, _ := do(admin, "POST", "/api/logout", me.CSRF, ""); code != 200 {
		t.Errorf("logout: %d", code)
	}
	s.Stop(t)
	if err := s.run(t); err != nil {
		t.Fatalf("second restart: %v", err)
	}
	if code, _ := do(admin, "GET", "/api/me", "", ""); code != http.StatusUnauthorized {
		t.Errorf("logged-out session after a restart: %d, want 401", code)
	}
}
