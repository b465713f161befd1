package console_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// TestKioskToken: /?token=<wall token> becomes a read-only session cookie
// and a redirect to / without the token; a wrong token is 401; the token is
// in no log line and not in the audit log.
func TestKioskToken(t *testing.T) {
	logs := &testenv.SyncBuffer{}
	e := newEnv(t, func(s *console.Server) {
		s.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	c := e.anon(t)
	c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, tok := range []string{viewerToken, operatorToken} {
		resp, _ := c.do("GET", "/?token="+tok, nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Fatalf("kiosk exchange: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, body := c.do("GET", "/api/me", nil)
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"role":"viewer"`) || !strings.Contains(string(body), `"kiosk":true`) {
			t.Errorf("me after the exchange: %d %s (a wall session is a viewer, whatever the token's role)", resp.StatusCode, body)
		}
		// Read-only: the CSRF token is there, the role is not enough.
		var me struct {
			CSRF string `json:"csrf_token"`
		}
		c.csrf = jsonField(t, body, &me, func() string { return me.CSRF })
		if resp, _ := c.do("POST", "/api/gates/north/open", map[string]string{"reason": "kiosk"}); resp.StatusCode != 403 {
			t.Errorf("gate open from a kiosk session: %d", resp.StatusCode)
		}
		c.csrf = ""
	}
	if resp, body := e.anon(t).do("GET", "/?token=wrong-token-0123456789", nil); resp.StatusCode != 401 {
		t.Errorf("wrong token: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.anon(t).do("GET", "/", nil); resp.StatusCode != 200 {
		t.Errorf("page without a token: %d", resp.StatusCode)
	}
	audit, _ := os.ReadFile(e.auditPath)
	for _, where := range []string{logs.String(), string(audit)} {
		if strings.Contains(where, viewerToken) || strings.Contains(where, operatorToken) || strings.Contains(where, "wrong-token") {
			t.Errorf("a token was written down:\n%s", where)
		}
	}
	if !strings.Contains(string(audit), `"kiosk_login"`) {
		t.Errorf("kiosk login not audited:\n%s", audit)
	}
}

// jsonField decodes body into v and returns get().
func jsonField(t *testing.T, body []byte, v any, get func() string) string {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatal(err)
	}
	return get()
}
