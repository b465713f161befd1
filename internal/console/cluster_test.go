package console_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lanewatch/lanewatch/internal/console"
)

// GET /api/cluster: admins only; 404 on a gateway that is not clustered; a
// cluster that cannot answer is 503 without its cause.
func TestClusterStatusAPI(t *testing.T) {
	e := newEnv(t)
	if resp, body := e.login(t, "ada").do("GET", "/api/cluster", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("not clustered: %d %s", resp.StatusCode, body)
	}
	var fail atomic.Pointer[error]
	clustered := newEnv(t, func(s *console.Server) {
		s.Cluster = func(context.Context) (any, error) {
			if err := fail.Load(); err != nil {
				return nil, *err
			}
			return map[string]any{"gateway": "gw-1"}, nil
		}
	})
	for _, tc := range []struct {
		c    *client
		want int
	}{
		{clustered.anon(t), http.StatusUnauthorized},
		{clustered.token(t, viewerToken), http.StatusForbidden},
		{clustered.token(t, operatorToken), http.StatusForbidden},
		{clustered.login(t, "ada"), http.StatusOK},
	} {
		resp, body := tc.c.do("GET", "/api/cluster", nil)
		if resp.StatusCode != tc.want {
			t.Errorf("%d %s, want %d", resp.StatusCode, body, tc.want)
		}
		if tc.want == http.StatusOK && !strings.Contains(string(body), `"gateway":"gw-1"`) {
			t.Errorf("body %s", body)
		}
	}
	err := errors.Join(console.ErrUnavailable, errors.New("nats: secret detail"))
	fail.Store(&err)
	resp, body := clustered.login(t, "ada").do("GET", "/api/cluster", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(string(body), "secret detail") {
		t.Fatalf("unavailable: %d %s", resp.StatusCode, body)
	}
}
