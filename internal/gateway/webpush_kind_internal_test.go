package gateway

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/notify"
	"github.com/lanewatch/lanewatch/internal/outbox"
	"github.com/lanewatch/lanewatch/internal/webpush"
)

// A webpush channel's message reaches every subscribed browser once: a
// busy push service is retried alone, a gone subscription is dropped. (The
// encryption and VAPID are checked by internal/webpush's stand-in.)
func TestWebPushKind(t *testing.T) {
	var mu sync.Mutex
	hits := map[string]int{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		n := hits[r.URL.Path]
		mu.Unlock()
		if !strings.HasPrefix(r.Header.Get("Authorization"), "vapid t=") || r.Header.Get("Urgency") != "high" || r.Header.Get("Topic") == "" {
			http.Error(w, "bad headers", 400)
			return
		}
		switch {
		case r.URL.Path == "/gone":
			w.WriteHeader(http.StatusGone)
		case r.URL.Path == "/busy" && n == 1:
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.WriteHeader(http.StatusCreated)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	keys, err := webpush.LoadKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	store, err := webpush.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, p := range []string{"/ok", "/busy", "/gone"} {
		k, _ := ecdh.P256().GenerateKey(rand.Reader)
		auth := make([]byte, 16)
		rand.Read(auth)
		if err := store.Add(webpush.Subscription{Endpoint: srv.URL + p, User: "olga", Keys: webpush.SubKeys{
			P256dh: base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()), Auth: base64.RawURLEncoding.EncodeToString(auth)}}); err != nil {
			t.Fatal(err)
		}
	}
	sender := &webpush.Sender{Keys: keys, Store: store, Client: srv.Client()}
	if err := sender.Initialize(); err != nil {
		t.Fatal(err)
	}
	ch, _, err := pushKind(sender, store)(config.Notify{ID: "phones", Kind: "webpush"}, notify.Env{})
	if err != nil {
		t.Fatal(err)
	}
	note, _ := json.Marshal(notify.Note{Incident: incident.Incident{ID: "inc_01m8xp0bjkedh8a3j8va", Severity: incident.Critical},
		TitleLocal: "北门 SOS 求助", Place: "北门", Time: "22:14", Severity: "紧急", Links: notify.Links{Snapshot: "https://gw/e/x.y"}})
	m := outbox.Message{Key: "inc_01m8xp0bjkedh8a3j8va:1", ID: "inc_01m8xp0bjkedh8a3j8va", Version: 1, Body: note}
	r := ch.Send(context.Background(), m)
	if r.Outcome != outbox.Retry || r.RetryAfter != 30*time.Second || r.Status != 429 {
		t.Fatalf("first attempt: %+v", r)
	}
	if r := ch.Send(context.Background(), m); r.Outcome != outbox.Delivered {
		t.Fatalf("second attempt: %+v", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits["/ok"] != 1 || hits["/busy"] != 2 || hits["/gone"] != 1 {
		t.Errorf("pushes per browser %v: want ok once, busy twice, gone once", hits)
	}
	if l, _ := store.List(""); len(l) != 2 {
		t.Errorf("gone subscription kept: %d left", len(l))
	}
	if r := ch.Send(context.Background(), outbox.Message{Key: "x:1", Body: []byte("{")}); r.Outcome != outbox.Dead {
		t.Errorf("garbage: %+v", r)
	}
}
