package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// platform is the community management platform: outside the compound, so an
// httptest server is the right stand-in. It verifies every ticket the way a
// platform would, with the Standard Webhooks library.
type platform struct {
	srv    *httptest.Server
	status atomic.Int32 // answer to give; 0 means 200
	wh     *standardwebhooks.Webhook

	mu       sync.Mutex
	tickets  []ticket
	byKey    map[string]int // webhook-id -> deliveries
	badSig   int
	mismatch int // Idempotency-Key differs from webhook-id
}

type ticket struct {
	Key      string
	Incident map[string]any
}

func newPlatform(t testing.TB) *platform {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(platformKey)
	if err != nil {
		t.Fatal(err)
	}
	p := &platform{wh: wh, byKey: map[string]int{}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *platform) URL() string { return p.srv.URL + "/api/tickets" }

func (p *platform) serve(w http.ResponseWriter, r *http.Request) {
	if s := p.status.Load(); s != 0 && s != 200 {
		w.WriteHeader(int(s))
		return
	}
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.wh.Verify(body, r.Header); err != nil {
		p.badSig++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	key := r.Header.Get("webhook-id")
	if r.Header.Get("Idempotency-Key") != key {
		p.mismatch++
	}
	var inc map[string]any
	_ = json.Unmarshal(body, &inc)
	p.tickets = append(p.tickets, ticket{Key: key, Incident: inc})
	p.byKey[key]++
	w.WriteHeader(http.StatusOK)
}

func (p *platform) snapshot() (tickets []ticket, byKey map[string]int, badSig, mismatch int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	byKey = make(map[string]int, len(p.byKey))
	for k, v := range p.byKey {
		byKey[k] = v
	}
	return append([]ticket(nil), p.tickets...), byKey, p.badSig, p.mismatch
}
