package console_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/devices"
	"github.com/lanewatch/lanewatch/internal/evlink"
	"github.com/lanewatch/lanewatch/internal/incident"
)

// patrolEnv is a console with every patrol part wired.
func patrolEnv(t testing.TB) (*env, *devices.Store) {
	t.Helper()
	dir := t.TempDir()
	dev, err := devices.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	sig := &evlink.Signer{DataDir: dir}
	if err := sig.Initialize(); err != nil {
		t.Fatal(err)
	}
	pushOpt, _, _ := withPush(t)
	e := newEnv(t, pushOpt, func(s *console.Server) {
		s.Patrol.Links, s.Patrol.Devices = sig, dev
		s.Patrol.Photos = &console.PhotoDir{Dir: dir + "/photos"}
		s.Patrol.MaxPhoto = 1 << 20
	})
	return e, dev
}

func issueDevice(t testing.TB, e *env, name, role string) console.IssuedDevice {
	t.Helper()
	resp, body := e.login(t, "ada").do("POST", "/api/devices", map[string]string{"name": name, "role": role})
	var d console.IssuedDevice
	if resp.StatusCode != 201 || json.Unmarshal(body, &d) != nil {
		t.Fatalf("issue: %d %s", resp.StatusCode, body)
	}
	return d
}

func TestDeviceTokens(t *testing.T) {
	e, _ := patrolEnv(t)
	d := issueDevice(t, e, "phone-7", "operator")
	if !strings.Contains(d.Link, "/patrol/#device="+d.Token) || !strings.HasPrefix(d.QR, "data:image/png;base64,") {
		t.Errorf("link %s", d.Link)
	}
	phone := e.token(t, d.Token)
	resp, body := phone.do("GET", "/api/patrol/config", nil)
	var cfg map[string]any
	json.Unmarshal(body, &cfg)
	if resp.StatusCode != 200 || cfg["user"] != "phone-7" || cfg["role"] != "operator" || cfg["kind"] != "device" || cfg["language"] != "zh" {
		t.Fatalf("config with a device token: %d %s", resp.StatusCode, body)
	}
	// An operator device acts without CSRF (bearer), but is not an admin.
	e.incs.Put(sampleIncident("inc-d", incident.High), nil, nil)
	if resp, body := phone.do("POST", "/api/patrol/incidents/inc-d/ack", map[string]string{"note": "到"}); resp.StatusCode != 200 {
		t.Errorf("ack with device: %d %s", resp.StatusCode, body)
	}
	if resp, _ := phone.do("GET", "/api/devices", nil); resp.StatusCode != 403 {
		t.Errorf("device lists devices: %d", resp.StatusCode)
	}
	// Refused issues.
	ada := e.login(t, "ada")
	for _, b := range []any{map[string]string{"name": "x", "role": "admin"}, map[string]string{"name": ""}, `{"name":"x","extra":1}`, map[string]string{"name": "phone-7"},
		map[string]string{"name": "olga"}, map[string]string{"name": "dispatch"}} {
		if resp, body := ada.do("POST", "/api/devices", b); resp.StatusCode != 400 {
			t.Errorf("issue %v: %d %s", b, resp.StatusCode, body)
		}
	}
	if resp, _ := e.login(t, "olga").do("POST", "/api/devices", map[string]string{"name": "y"}); resp.StatusCode != 403 {
		t.Errorf("operator issued a device: %d", resp.StatusCode)
	}
	// The list never shows tokens; revoking stops the token at once.
	_, body = ada.do("GET", "/api/devices", nil)
	if strings.Contains(string(body), d.Token) || !strings.Contains(string(body), `"phone-7"`) {
		t.Errorf("device list %s", body)
	}
	if resp, _ := ada.do("DELETE", "/api/devices/"+d.ID, nil); resp.StatusCode != 204 {
		t.Errorf("revoke: %d", resp.StatusCode)
	}
	if resp, _ := phone.do("GET", "/api/patrol/config", nil); resp.StatusCode != 401 {
		t.Errorf("revoked token: %d", resp.StatusCode)
	}
	if resp, _ := ada.do("DELETE", "/api/devices/"+d.ID, nil); resp.StatusCode != 404 {
		t.Errorf("revoke twice: %d", resp.StatusCode)
	}
	resp, body = e.token(t, viewerToken).do("GET", "/api/patrol/qr.png", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || !bytes.HasPrefix(body, []byte("\x89PNG")) {
		t.Errorf("QR: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestPatrolListAndActions(t *testing.T) {
	e, _ := patrolEnv(t)
	now := time.Now()
	mk := func(id string, sev incident.Severity, age time.Duration, st incident.State) {
		inc := sampleIncident(id, sev)
		inc.StartedAt, inc.State = now.Add(-age), st
		var clip []byte
		if id == "crit-old" {
			clip = []byte("clip")
			inc.Evidence.Clip = "/api/incidents/" + id + "/clip.mp4"
		}
		e.incs.Put(inc, []byte("\xff\xd8snap-"+id+"\xff\xd9"), clip)
	}
	mk("low-new", incident.Low, time.Minute, incident.Open)
	mk("crit-old", incident.Critical, time.Hour, incident.Acknowledged)
	mk("crit-new", incident.Critical, 2*time.Minute, incident.Open)
	mk("high", incident.High, 3*time.Hour, incident.Escalated)
	mk("done", incident.Critical, time.Second, incident.Resolved)
	vic := e.token(t, viewerToken)
	resp, body := vic.do("GET", "/api/patrol/incidents", nil)
	var list []console.PatrolIncident
	if resp.StatusCode != 200 || json.Unmarshal(body, &list) != nil {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var ids []string
	for _, i := range list {
		ids = append(ids, i.ID)
	}
	if got := strings.Join(ids, ","); got != "crit-new,crit-old,high,low-new" {
		t.Errorf("order %s", got)
	}
	// Evidence links open without credentials and carry the clip only where there is one.
	if list[1].ClipURL == "" || list[0].ClipURL != "" || !strings.HasPrefix(list[0].SnapshotURL, "/e/") {
		t.Errorf("links %+v", list[:2])
	}
	if resp, body := e.anon(t).do("GET", list[1].ClipURL, nil); resp.StatusCode != 200 || string(body) != "clip" {
		t.Errorf("clip link: %d %s", resp.StatusCode, body)
	}
	// A viewer cannot act.
	if resp, _ := vic.do("POST", "/api/patrol/incidents/crit-new/ack", map[string]string{}); resp.StatusCode != 403 {
		t.Errorf("viewer acted: %d", resp.StatusCode)
	}
	ops := e.token(t, operatorToken)
	send := func(action, key, note string) (*http.Response, []byte) {
		return ops.doHeaders("POST", "/api/patrol/incidents/crit-new/"+action, map[string]string{"note": note}, map[string]string{"Idempotency-Key": key})
	}
	// The same action retried after a lost answer happens once.
	for i := 0; i < 3; i++ {
		if resp, body := send("ack", "k-1", "出发"); resp.StatusCode != 200 {
			t.Fatalf("ack try %d: %d %s", i, resp.StatusCode, body)
		}
	}
	send("note", "k-2", "门锁坏了")
	if resp, _ := send("note", "k-3", ""); resp.StatusCode != 200 {
		t.Errorf("empty note: %d", resp.StatusCode)
	}
	if resp, body := send("resolve", "k-4", "已处理"); resp.StatusCode != 200 {
		t.Errorf("resolve: %d %s", resp.StatusCode, body)
	}
	if resp, _ := send("resolve", "k-5", ""); resp.StatusCode != 409 {
		t.Errorf("resolve twice: %d", resp.StatusCode)
	}
	if resp, _ := send("explode", "k-6", ""); resp.StatusCode != 404 {
		t.Errorf("unknown action: %d", resp.StatusCode)
	}
	got, _ := e.incs.Get("crit-new")
	var notes []string
	for _, a := range got.Acks {
		notes = append(notes, a.By+":"+a.Note)
	}
	if s := strings.Join(notes, "|"); s != "dispatch:出发|dispatch:门锁坏了|dispatch:|dispatch:已处理" || got.State != incident.Resolved {
		t.Errorf("acks %s, state %s", s, got.State)
	}
}

func testImage(t testing.TB, format string) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	img.Set(1, 1, color.White)
	var b bytes.Buffer
	if format == "png" {
		png.Encode(&b, img)
	} else {
		jpeg.Encode(&b, img, nil)
	}
	return b.Bytes()
}

func TestPatrolPhoto(t *testing.T) {
	e, _ := patrolEnv(t)
	e.incs.Put(sampleIncident("inc-p", incident.High), nil, nil)
	ops := e.token(t, operatorToken)
	jpg, pngb := testImage(t, "jpeg"), testImage(t, "png")
	cases := []struct {
		name string
		body []byte
		want int
	}{
		{"jpeg", jpg, 201},
		{"png", pngb, 201},
		{"truncated jpeg", jpg[:len(jpg)/2], 415},
		{"gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), 415},
		{"html", []byte("<html><script>alert(1)</script>"), 415},
		{"too big", append(append([]byte{}, jpg...), make([]byte, 1<<20)...), 413},
	}
	var url string
	for _, c := range cases {
		resp, body := ops.doHeaders("POST", "/api/patrol/incidents/inc-p/photo", string(c.body), map[string]string{"Content-Type": "image/jpeg"})
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d %s", c.name, resp.StatusCode, body)
			continue
		}
		if c.want == 201 && url == "" {
			var r struct{ URL string }
			json.Unmarshal(body, &r)
			url = r.URL
		}
	}
	resp, body := e.token(t, viewerToken).do("GET", url, nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, jpg) || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("photo back: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, bad := range []string{"/api/patrol/incidents/inc-p/photos/..%2f..%2fdevices.db", "/api/patrol/incidents/..%2f/photos/x.jpg", "/api/patrol/incidents/inc-p/photos/nope.jpg"} {
		if resp, _ := e.token(t, viewerToken).do("GET", bad, nil); resp.StatusCode != 404 {
			t.Errorf("%s: %d", bad, resp.StatusCode)
		}
	}
	if resp, _ := ops.doHeaders("POST", "/api/patrol/incidents/nope/photo", string(jpg), nil); resp.StatusCode != 404 {
		t.Errorf("photo for an unknown incident: %d", resp.StatusCode)
	}
	inc, _ := e.incs.Get("inc-p")
	if len(inc.Acks) != 2 || !strings.HasPrefix(inc.Acks[0].Note, "photo: ") {
		t.Errorf("acks %+v", inc.Acks)
	}
	_, m := e.anon(t).do("GET", "/metrics", nil)
	if !strings.Contains(string(m), `lanewatch_console_patrol_photos_total{result="refused"} 4`) {
		t.Error("refused photos not counted")
	}
}

func TestPatrolPageServed(t *testing.T) {
	e := newEnv(t)
	c := e.anon(t)
	for path, want := range map[string]string{
		"/patrol/": `<link rel="manifest" href="manifest.json">`, "/patrol/manifest.json": `"start_url": "/patrol/"`,
		"/patrol/sw.js": "addEventListener(\"fetch\"", "/patrol/patrol.js": "Idempotency-Key",
	} {
		resp, body := c.do("GET", path, nil)
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
	c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if resp, _ := c.do("GET", "/patrol", nil); resp.StatusCode != 301 || resp.Header.Get("Location") != "/patrol/" {
		t.Errorf("/patrol: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}
