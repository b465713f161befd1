package console_test

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/console/consoletest"
	"github.com/lanewatch/lanewatch/internal/incident"
)

// flakyProxy sits between the phone and the gateway like a compound's
// Wi-Fi: up, down (connections refused and cut), or lossy (requests reach
// the gateway, answers are lost).
type flakyProxy struct {
	ln     net.Listener
	target string
	mode   atomic.Int32
	mu     sync.Mutex
	conns  map[net.Conn]bool
	sent   bytes.Buffer // everything the phone sent, to count requests
}

const (
	proxyUp = iota
	proxyDown
	proxyLossy
)

func newFlakyProxy(t testing.TB) *flakyProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyProxy{ln: ln, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.set(proxyDown) })
	go p.serve()
	return p
}

func (p *flakyProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *flakyProxy) set(mode int32) {
	p.mode.Store(mode)
	if mode == proxyUp {
		return
	}
	// Cut the connections the browser keeps alive, as a Wi-Fi drop does.
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
	p.mu.Unlock()
}

func (p *flakyProxy) track(cs ...net.Conn) {
	p.mu.Lock()
	for _, c := range cs {
		p.conns[c] = true
	}
	p.mu.Unlock()
}

type lockedWriter struct{ p *flakyProxy }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.sent.Write(b)
}

func (p *flakyProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.mode.Load() == proxyDown {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.track(c, s)
		go func() {
			io.Copy(s, io.TeeReader(c, lockedWriter{p}))
			s.Close()
		}()
		go func() {
			defer c.Close()
			defer s.Close()
			buf := make([]byte, 32<<10)
			for {
				n, err := s.Read(buf)
				if n > 0 {
					if p.mode.Load() != proxyUp {
						return // the answer is lost on the way back
					}
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

func (p *flakyProxy) count(s string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Count(p.sent.Bytes(), []byte(s))
}

func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func scene(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{uint8(40 + y*60/h), uint8(70 + y*80/h), uint8(60 + x*40/w), 255}
			if x > w/2 && x < w/2+30 && y > h/3 && y < h/3+90 { // a figure on the lawn
				c = color.RGBA{220, 60, 50, 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	jpeg.Encode(&b, img, &jpeg.Options{Quality: 80})
	return b.Bytes()
}

func ackNotes(e *env, id string) []string {
	inc, _ := e.incs.Get(id)
	var out []string
	for _, a := range inc.Acks {
		out = append(out, a.By+":"+a.Note)
	}
	return out
}

// The patrol page on a 390x844 phone: signed in by a device link, an
// acknowledgement with a note, then actions taken while the gateway is away
// and answers lost, which reach it once each when it is back.
func TestPatrolPageInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	proxy := newFlakyProxy(t)
	e, _ := patrolEnv(t)
	e.srv.Patrol.PublicURL = proxy.URL()
	proxy.target = e.srv.Addr()

	now := time.Now()
	a := sampleIncident("inc-a", incident.Critical)
	a.Title, a.StartedAt = "北门 有人翻越围栏", now.Add(-3*time.Minute)
	a.Source = incident.Source{Camera: "gate-north", Zone: "北门"}
	a.Evidence.Clip = "/api/incidents/inc-a/clip.mp4"
	e.incs.Put(a, scene(640, 360), []byte("not really an mp4"))
	bInc := sampleIncident("inc-b", incident.Low)
	bInc.Title, bInc.StartedAt = "3号楼 高空抛物", now.Add(-time.Minute)
	bInc.Type = incident.Type("falling_object")
	e.incs.Put(bInc, scene(640, 360), nil)

	d := issueDevice(t, e, "巡逻-1号机", "operator")
	if !strings.HasPrefix(d.Link, proxy.URL()+"/patrol/#device=") {
		t.Fatalf("link %s", d.Link)
	}

	b := consoletest.NewBrowser(t, proxy.URL())
	b.Viewport(390, 844)
	b.Navigate(d.Link)
	b.WaitJS("incident cards", `document.querySelectorAll("#list li.inc").length === 2`)
	if got := consoletest.Eval[string](b, `Array.from(document.querySelectorAll("#list li.inc"), li => li.dataset.id).join()`); got != "inc-a,inc-b" {
		t.Errorf("order %s: critical first", got)
	}
	if got := consoletest.Eval[string](b, `location.hash + "|" + (localStorage.getItem("patrol.device") || "").slice(0, 4)`); got != "|lwd_" {
		t.Errorf("token handling %q: kept on the phone, gone from the address bar", got)
	}
	if got := b.Text(`li[data-id="inc-a"] .ack`); got != "出发" {
		t.Errorf("ack button %q: Chinese by default", got)
	}
	if got := b.Text("#who"); got != "巡逻-1号机" {
		t.Errorf("who %q", got)
	}
	b.WaitJS("snapshot loaded", `document.querySelector('li[data-id="inc-a"] img.snap').naturalWidth === 640`)
	if w := consoletest.Eval[float64](b, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("page %v px wide on a 390 px phone", w)
	}

	// A note being typed survives the list's reloads (every few seconds): no
	// rebuild when nothing changed, and focus, text and caret kept when the
	// cards must be rebuilt.
	consoletest.Eval[any](b, `(() => { const ta = document.querySelector('li[data-id="inc-b"] .note');
		ta.focus(); ta.value = "正在赶"; ta.setSelectionRange(2, 2); window.cardB = ta.closest("li"); })()`)
	consoletest.Eval[any](b, `render()`)
	if !consoletest.Eval[bool](b, `document.querySelector('li[data-id="inc-b"]') === window.cardB`) {
		t.Error("an unchanged list rebuilt the cards")
	}
	consoletest.Eval[any](b, `S.rendered = ""; render()`)
	if got := consoletest.Eval[string](b, `(() => { const a = document.activeElement;
		return [a.closest("li.inc")?.dataset.id, a.value, a.selectionStart].join("|"); })()`); got != "inc-b|正在赶|2" {
		t.Errorf("after a rebuild the focused note is %q, want inc-b|正在赶|2", got)
	}
	consoletest.Eval[any](b, `document.querySelector('li[data-id="inc-b"] .note').value = ""`)

	// On my way, with a note.
	consoletest.Eval[any](b, `document.querySelector('li[data-id="inc-a"] .note').value = "两分钟到"`)
	b.Click(`li[data-id="inc-a"] .ack`)
	waitUntil(t, "the ack", func() bool { return strings.Join(ackNotes(e, "inc-a"), "|") == "巡逻-1号机:两分钟到" })
	b.WaitJS("state shown", `document.querySelector('li[data-id="inc-a"] .state').textContent === "已出发"`)
	b.WaitJS("service worker in control", `navigator.serviceWorker.controller !== null`)
	consoletest.Eval[any](b, `loadList()`) // through the worker, which keeps it
	path := b.Screenshot("patrol-390")
	if st, err := os.Stat(path); err != nil || st.Size() < 10000 {
		t.Errorf("screenshot %s: %v", path, err)
	}

	// The gateway goes away: a note and a resolution are queued, and the
	// page says so; a reload still shows the page and the list.
	proxy.set(proxyDown)
	consoletest.Eval[any](b, `document.querySelector('li[data-id="inc-b"] .note').value = "需要支援"`)
	b.Click(`li[data-id="inc-b"] .addnote`)
	b.Click(`li[data-id="inc-b"] .resolve`)
	// A photo taken offline waits in IndexedDB as a Blob.
	photo := filepath.Join(t.TempDir(), "scene.jpg")
	if err := os.WriteFile(photo, scene(320, 240), 0o644); err != nil {
		t.Fatal(err)
	}
	b.UploadFile(`li[data-id="inc-a"] .photo input`, photo)
	b.WaitJS("offline with three queued", `document.body.dataset.queued === "3" && document.body.dataset.offline === "true"`)
	b.Navigate(proxy.URL() + "/patrol/")
	b.WaitJS("cached list after reload", `document.querySelectorAll("#list li.inc").length === 2 && document.body.dataset.queued === "3"`)
	if got := b.Text("#net"); !strings.Contains(got, "离线") || !strings.Contains(got, "3 项操作待发送") {
		t.Errorf("offline banner %q", got)
	}
	b.Screenshot("patrol-390-offline")
	if n := len(ackNotes(e, "inc-b")); n != 0 {
		t.Fatalf("actions reached a gateway that was away: %d", n)
	}

	// Lossy: the note reaches the gateway but its answer does not; the page
	// sends it again with the same key.
	proxy.set(proxyLossy)
	waitUntil(t, "the note to arrive", func() bool { return len(ackNotes(e, "inc-b")) > 0 })
	const notePost = "POST /api/patrol/incidents/inc-b/note"
	waitUntil(t, "a retry of the note", func() bool { return proxy.count(notePost) >= 2 })
	proxy.set(proxyUp)
	waitUntil(t, "the queue to empty", func() bool { return consoletest.Eval[string](b, `document.body.dataset.queued`) == "0" })
	got, _ := e.incs.Get("inc-b")
	if s := strings.Join(ackNotes(e, "inc-b"), "|"); s != "巡逻-1号机:需要支援|巡逻-1号机:" || got.State != incident.Resolved {
		t.Errorf("inc-b after the replay: %s, %s (each action once, in order)", s, got.State)
	}
	notes := ackNotes(e, "inc-a")
	if len(notes) != 2 || !strings.HasPrefix(notes[1], "巡逻-1号机:photo: ") {
		t.Fatalf("inc-a after the replay: %v (the photo once)", notes)
	}
	pr, pb := e.token(t, viewerToken).do("GET", "/api/patrol/incidents/inc-a/photos/"+strings.TrimPrefix(notes[1], "巡逻-1号机:photo: "), nil)
	if want, _ := os.ReadFile(photo); pr.StatusCode != 200 || !bytes.Equal(pb, want) {
		t.Errorf("stored photo: %d, %d bytes, want the %d sent", pr.StatusCode, len(pb), len(want))
	}
	b.WaitJS("resolved incident gone", `document.querySelectorAll("#list li.inc").length === 1 && document.body.dataset.offline === "false"`)
	t.Logf("note sent %d times, applied once", proxy.count(notePost))

	// English on request.
	b.Click("#lang")
	if got := b.Text(`li[data-id="inc-a"] .ack`); got != "On my way" {
		t.Errorf("English ack button %q", got)
	}
	// Resolve the last one; the list empties.
	b.Click(`li[data-id="inc-a"] .resolve`)
	waitUntil(t, "inc-a resolved", func() bool { i, _ := e.incs.Get("inc-a"); return i.State == incident.Resolved })
	b.WaitJS("empty list", `!document.getElementById("empty").hidden`)
	if html := consoletest.Eval[string](b, `document.documentElement.outerHTML`); strings.Contains(html, d.Token) {
		t.Error("device token in the page's markup")
	}
}
