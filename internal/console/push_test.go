package console_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/webpush"
)

func withPush(t testing.TB) (envOpt, *webpush.Store, *webpush.Keys) {
	dir := t.TempDir()
	k, err := webpush.LoadKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := webpush.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return func(s *console.Server) { s.Patrol.PushKeys, s.Patrol.PushStore = k, st }, st, k
}

func browserSubscription(t testing.TB, endpoint string) map[string]any {
	k, _ := ecdh.P256().GenerateKey(rand.Reader)
	a := make([]byte, 16)
	rand.Read(a)
	return map[string]any{"endpoint": endpoint, "expirationTime": nil, "keys": map[string]string{
		"p256dh": base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()), "auth": base64.RawURLEncoding.EncodeToString(a)}}
}

func TestPushSubscriptionAPI(t *testing.T) {
	opt, st, keys := withPush(t)
	e := newEnv(t, opt)
	vic := e.login(t, "vic")
	resp, body := vic.do("GET", "/api/push/key", nil)
	var k map[string]string
	if resp.StatusCode != 200 || json.Unmarshal(body, &k) != nil || k["public_key"] != keys.Public || len(k) != 1 {
		t.Fatalf("key: %d %s", resp.StatusCode, body)
	}
	sub := browserSubscription(t, "https://fcm.googleapis.com/fcm/send/vic-phone")
	if resp, body := vic.do("POST", "/api/push/subscriptions", sub); resp.StatusCode != 201 {
		t.Fatalf("subscribe: %d %s", resp.StatusCode, body)
	}
	dev := e.token(t, operatorToken)
	if resp, body := dev.do("POST", "/api/push/subscriptions", browserSubscription(t, "https://updates.push.services.mozilla.com/wpush/v2/x")); resp.StatusCode != 201 {
		t.Fatalf("subscribe with a token: %d %s", resp.StatusCode, body)
	}
	if l, _ := st.List("vic"); len(l) != 1 || l[0].Endpoint != sub["endpoint"] {
		t.Errorf("vic's subscriptions %+v", l)
	}
	if l, _ := st.List("dispatch"); len(l) != 1 {
		t.Errorf("token's subscriptions %+v", l)
	}
	for name, c := range map[string]struct {
		cl   *client
		body any
		want int
	}{
		"anonymous":       {e.anon(t), sub, 401},
		"session no CSRF": {&client{t: t, base: e.base, hc: vic.hc}, sub, 403},
		"not JSON":        {vic, "{", 400},
		"unknown field":   {vic, map[string]any{"endpoint": "https://x.example/", "keys": map[string]string{}, "secret": 1}, 400},
		"http endpoint":   {vic, browserSubscription(t, "http://fcm.googleapis.com/x"), 400},
		"bad keys":        {vic, map[string]any{"endpoint": "https://x.example/", "keys": map[string]string{"p256dh": "AAAA", "auth": "AAAA"}}, 400},
	} {
		resp, body := c.cl.do("POST", "/api/push/subscriptions", c.body)
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d %s, want %d", name, resp.StatusCode, body, c.want)
		} else {
			errorBody(t, resp, body)
		}
	}
	// Only the owner removes a subscription.
	if resp, _ := dev.do("DELETE", "/api/push/subscriptions", sub); resp.StatusCode != 404 {
		t.Errorf("removed by another principal: %d", resp.StatusCode)
	}
	if resp, body := vic.do("DELETE", "/api/push/subscriptions", sub); resp.StatusCode != 204 {
		t.Errorf("unsubscribe: %d %s", resp.StatusCode, body)
	}
	if l, _ := st.List("vic"); len(l) != 0 {
		t.Errorf("after unsubscribe %+v", l)
	}
}
