package notify

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/testenv"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The webhook kind POSTs the note as JSON, signed the Standard Webhooks way
// like the platform's tickets; the receiver verifies with the library and
// refuses (401) what does not verify, which dead-letters the message.
func TestWebhookSignedNote(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []map[string]any
	var ids []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wh.Verify(body, r.Header); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var m map[string]any
		if json.Unmarshal(body, &m) != nil {
			http.Error(w, "not json", http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, m)
		ids = append(ids, r.Header.Get("webhook-id"))
		mu.Unlock()
	}))
	defer srv.Close()
	n := newTestNotifier(t, []config.Notify{
		{ID: "ops", Kind: "webhook", URL: srv.URL, Secret: secret},
		{ID: "wrong", Kind: "webhook", URL: srv.URL, Secret: "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
	}, nil)
	if err := n.Notify(sos("inc_w")); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "delivery", 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 && n.Stats().Dead == 1 })
	m := got[0]
	inc, _ := m["incident"].(map[string]any)
	links, _ := m["links"].(map[string]any)
	if ids[0] != "inc_w:1" || m["event"] != "opened" || m["version"] != 1.0 || m["title_local"] != "北门 SOS 求助" ||
		links["snapshot"] != "https://gw-1.compound.lan:8443/api/incidents/inc_w/snapshot.jpg" || inc["id"] != "inc_w" || inc["type"] != "sos" {
		t.Fatalf("webhook body: %v (id %s)", m, ids[0])
	}
	for _, f := range []string{"site", "severity", "state", "title", "source", "started_at", "count", "objects", "acks", "evidence"} {
		if _, ok := inc[f]; !ok {
			t.Errorf("incident lacks %q", f)
		}
	}
	l, _ := n.List(0)
	if len(l) != 1 || l[0].Key != "wrong:inc_w:1" || l[0].Status != 401 {
		t.Fatalf("dead letters: %+v", l)
	}
}
