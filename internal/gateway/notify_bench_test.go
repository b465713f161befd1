package gateway_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
)

// BenchmarkSOSToRobot: an `sos` published to Mosquitto until a WeCom group
// robot (a stand-in on loopback) receives its message, with 1,000 gate
// events per second of background load (issue 13: p99 under 300 ms). The
// channel's budget is raised (max_per_minute) so that the figure is the
// path's latency, not the robot's 20-a-minute limit.
func BenchmarkSOSToRobot(b *testing.B) {
	benchSOS(b, "robot")
}

// The SOS gates of benchSOS are g0003, g0004, …
var sosGateRE = regexp.MustCompile(`\bg\d{4}\b`)

// robotChannel starts the robot stand-in and returns the notify[] YAML for
// it; record is called with the gate of each SOS message it receives.
func robotChannel(b *testing.B, record func(gate string)) string {
	robot := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			Markdown struct {
				Content string `json:"content"`
			} `json:"markdown"`
		}
		_ = json.NewDecoder(r.Body).Decode(&m)
		for _, gate := range sosGateRE.FindAllString(m.Markdown.Content, -1) {
			record(gate)
		}
		fmt.Fprint(w, `{"errcode":0,"errmsg":"ok"}`)
	}))
	b.Cleanup(robot.Close)
	return fmt.Sprintf("notify:\n  - {id: patrol, kind: wecom, url: %q, types: [sos], max_per_minute: 100000}\n",
		robot.URL+"/cgi-bin/webhook/send?key=k")
}

// BenchmarkSOSToWebPush: the same `sos` until a push service (a TLS
// stand-in on loopback) receives the encrypted push for a phone subscribed
// on the patrol page (issue 13: p99 under 300 ms).
func BenchmarkSOSToWebPush(b *testing.B) {
	benchSOS(b, "webpush")
}

// pushChannel starts the push service stand-in and returns the notify[]
// YAML and the client that trusts it; onPush is called for each push.
func pushChannel(b *testing.B, onPush func()) (yaml string, srv *httptest.Server) {
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Encoding") != "aes128gcm" || r.ContentLength <= 0 {
			http.Error(w, "not an encrypted push", http.StatusBadRequest)
			return
		}
		onPush()
		w.WriteHeader(http.StatusCreated)
	}))
	b.Cleanup(srv.Close)
	return "notify:\n  - {id: phones, kind: webpush, types: [sos]}\n", srv
}

// subscribePhone registers a browser's push subscription through the
// console, as the patrol page does.
func subscribePhone(b *testing.B, s *site, endpoint string) {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	body, _ := json.Marshal(map[string]any{"endpoint": endpoint, "keys": map[string]string{
		"p256dh": base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()),
		"auth":   base64.RawURLEncoding.EncodeToString(auth)}})
	resp := s.api(b, "POST", "/api/push/subscriptions", adminToken, string(body))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b.Fatalf("push subscription: %d", resp.StatusCode)
	}
}
