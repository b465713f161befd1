package consoletest

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is where the browser tests look for Chromium; the
// LANEWATCH_CHROMIUM environment variable overrides it.
const ChromiumPath = "/usr/bin/chromium"

// Browser drives the monitor wall in a headless Chromium with a fresh
// profile. Every step waits at most Timeout. The same steps serve the
// console's own test and end-to-end tests against a whole gateway.
type Browser struct {
	T       testing.TB
	BaseURL string // http://host:port of the console
	Timeout time.Duration
	ctx     context.Context
}

// NewBrowser starts Chromium, or skips the test when it is not installed
// (fails instead when CI=true). The browser stops at the end of the test.
func NewBrowser(t testing.TB, baseURL string) *Browser {
	t.Helper()
	path := os.Getenv("LANEWATCH_CHROMIUM")
	if path == "" {
		path = ChromiumPath
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium not found at %s (CI=true)", path)
		}
		t.Skipf("chromium not found at %s", path)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "en-US"),
		// The incident beep is played without a click in the test.
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1920, 1080),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		acancel()
	})
	// The first Run starts the browser and must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &Browser{T: t, BaseURL: baseURL, Timeout: 20 * time.Second, ctx: ctx}
}

func (b *Browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.T.Fatalf("browser: %s: %v", what, err)
	}
}

// Eval evaluates a JavaScript expression and decodes its value into a T.
func Eval[T any](b *Browser, expr string) T {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.T.Fatalf("browser: eval %s: %v", expr, err)
	}
	return v
}

// WaitJS waits until the expression is truthy.
func (b *Browser) WaitJS(what, expr string) {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[any](expr,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(b.Timeout))); err != nil {
		b.T.Fatalf("browser: waiting for %s: %v", what, err)
	}
}

func jsString(s string) string {
	j, _ := json.Marshal(s)
	return string(j)
}

// Open loads the wall page.
func (b *Browser) Open() {
	b.T.Helper()
	b.do("open "+b.BaseURL, chromedp.Navigate(b.BaseURL+"/"))
}

// OpenPath loads path (with its query) on the console, e.g. /?token=… for a kiosk wall.
func (b *Browser) OpenPath(path string) {
	b.T.Helper()
	b.do("open a page", chromedp.Navigate(b.BaseURL+path)) // the path may carry a token: not in messages
}

// Login fills in the login form and waits for the wall.
func (b *Browser) Login(name, password string) {
	b.T.Helper()
	b.do("login as "+name,
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SetValue(chromedp.CSS("#login-name"), name),
		chromedp.SetValue(chromedp.CSS("#login-password"), password),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#app")),
	)
}

// SetLayout clicks the 1, 4, 9 or 16 layout button.
func (b *Browser) SetLayout(n int) {
	b.T.Helper()
	b.do(fmt.Sprintf("layout %d", n), chromedp.Click(chromedp.CSS(fmt.Sprintf(`#layouts [data-layout="%d"]`, n))))
}

// frameSig draws the camera's tile image into a canvas and returns a
// signature of its pixels ("" until a frame has loaded).
func frameSig(camera string) string {
	return pixelSig(`document.querySelector('.tile[data-camera=' + JSON.stringify(` + jsString(camera) + `) + '] img')`)
}

// pixelSig is the signature expression for the <img> or <video> that the
// JavaScript expression elem yields ("" until it has a picture).
func pixelSig(elem string) string {
	return `(() => {
  const img = ` + elem + `;
  if (!img) return "";
  const w = img.naturalWidth || img.videoWidth, h = img.naturalHeight || img.videoHeight;
  if (!w || (img.tagName === "IMG" && !img.complete) || (img.tagName === "VIDEO" && img.readyState < 2)) return "";
  const c = document.createElement("canvas");
  c.width = 64; c.height = 36;
  const g = c.getContext("2d");
  g.drawImage(img, 0, 0, 64, 36);
  const d = g.getImageData(0, 0, 64, 36).data;
  let h2 = 0;
  for (let i = 0; i < d.length; i += 4) h2 = (h2 * 31 + d[i] + d[i + 1] * 7 + d[i + 2] * 13) >>> 0;
  return w + "x" + h + ":" + h2;
})()`
}

// WaitLiveImage waits until the camera's tile shows a frame, then until the
// picture changes: the tile is live, not a still.
func (b *Browser) WaitLiveImage(camera string) {
	b.T.Helper()
	b.waitChanging(camera, frameSig(camera))
}

// WaitLiveElement is WaitLiveImage for any <img> (CSS selector), such as
// the live picture of the alarm pop-up.
func (b *Browser) WaitLiveElement(sel string) {
	b.T.Helper()
	b.waitChanging(sel, PixelSig(sel))
}

func (b *Browser) waitChanging(what, expr string) {
	b.T.Helper()
	b.WaitJS("a frame of "+what, expr+` !== ""`)
	first := Eval[string](b, expr)
	b.WaitJS("a new frame of "+what, expr+` !== "" && `+expr+` !== `+jsString(first))
}

// PixelSig is a JavaScript expression: a signature of the pixels the <img>
// or <video> matching the CSS selector shows now ("" before its first
// picture). Two different pictures give different signatures.
func PixelSig(sel string) string { return pixelSig(`document.querySelector(` + jsString(sel) + `)`) }

// AckAlarm types note into the alarm pop-up and clicks its Acknowledge.
func (b *Browser) AckAlarm(note string) {
	b.T.Helper()
	b.WaitJS("the pop-up's acknowledge button", `!document.getElementById("alarm").hidden && !document.getElementById("alarm-ack").hidden`)
	Eval[any](b, `(() => { document.getElementById("alarm-note").value = `+jsString(note)+`; document.getElementById("alarm-ack").click(); })()`)
}

// Alarm is the incident id the pop-up shows ("" when hidden).
func (b *Browser) Alarm() string {
	b.T.Helper()
	return Eval[string](b, `document.getElementById("alarm").hidden ? "" : (window.LWDesk.shown || "")`)
}

func incidentSel(id string) string {
	return `document.querySelector('#incidents li[data-id=' + JSON.stringify(` + jsString(id) + `) + ']')`
}

// WaitIncident waits for the incident to appear in the feed.
func (b *Browser) WaitIncident(id string) {
	b.T.Helper()
	b.WaitJS("incident "+id+" in the feed", incidentSel(id))
}

// IncidentState is the state class of the incident's badge in the feed.
func (b *Browser) IncidentState(id string) string {
	b.T.Helper()
	return Eval[string](b, `(() => { const li = `+incidentSel(id)+`; return li ? li.querySelector(".state").className.replace("state ", "") : ""; })()`)
}

// WaitIncidentState waits until the feed shows the incident in state.
func (b *Browser) WaitIncidentState(id, state string) {
	b.T.Helper()
	b.WaitJS("incident "+id+" "+state, `(() => { const li = `+incidentSel(id)+
		`; return li && li.querySelector(".state").classList.contains(`+jsString(state)+`); })()`)
}

// Acknowledge types note (may be empty) and clicks the incident's
// acknowledge button.
func (b *Browser) Acknowledge(id, note string) { b.act(id, "ack", note) }

// Resolve types note (may be empty) and clicks the incident's resolve button.
func (b *Browser) Resolve(id, note string) { b.act(id, "resolve", note) }

func (b *Browser) act(id, action, note string) {
	b.T.Helper()
	b.WaitJS(action+" button of "+id, incidentSel(id)+`.querySelector("button.`+action+`")`)
	// Set the note the way typing does (an input event), then click.
	Eval[any](b, `(() => { const li = `+incidentSel(id)+`; const n = li.querySelector("input.note");
  n.value = `+jsString(note)+`; n.dispatchEvent(new Event("input")); li.querySelector("button.`+action+`").click(); })()`)
}

// Text is the text content of the first element matching the CSS selector.
func (b *Browser) Text(sel string) string {
	b.T.Helper()
	return Eval[string](b, `(document.querySelector(`+jsString(sel)+`) || {}).textContent || ""`)
}

// Viewport sets the page size, e.g. 1920x1080 for a wall screen or 1280x800
// for a laptop.
func (b *Browser) Viewport(w, h int64) {
	b.T.Helper()
	b.do(fmt.Sprintf("viewport %dx%d", w, h), chromedp.EmulateViewport(w, h))
}

// ClickAt clicks the element matching the CSS selector at the fractions fx,
// fy of its width and height (a timeline, a site plan); it returns the
// fraction actually clicked, after rounding to whole pixels.
func (b *Browser) ClickAt(sel string, fx, fy float64) float64 {
	b.T.Helper()
	r := Eval[struct{ X, Y, W, H float64 }](b, `(() => { const r = document.querySelector(`+jsString(sel)+`).getBoundingClientRect();
  return {X: r.left, Y: r.top, W: r.width, H: r.height}; })()`)
	x := math.Round(r.X + fx*r.W)
	b.do("click "+sel, chromedp.MouseClickXY(x, math.Round(r.Y+fy*r.H)))
	return (x - r.X) / r.W
}

// Click clicks the first element matching the CSS selector.
func (b *Browser) Click(sel string) {
	b.T.Helper()
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// Screenshot saves a PNG of the page into $LANEWATCH_ARTIFACTS (or a
// temporary directory), logs and returns its path.
func (b *Browser) Screenshot(name string) string {
	b.T.Helper()
	dir := os.Getenv("LANEWATCH_ARTIFACTS")
	if dir == "" {
		dir = b.T.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.T.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.T.Fatalf("browser: screenshot: %v", err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.T.Fatal(err)
	}
	b.T.Logf("screenshot: %s", path)
	return path
}

// Navigate loads url and waits for the page to load.
func (b *Browser) Navigate(url string) {
	b.T.Helper()
	b.do("navigate "+url, chromedp.Navigate(url))
}

// UploadFile sets the file of the file input sel, as a user picking it
// does (the change event fires).
func (b *Browser) UploadFile(sel, path string) {
	b.T.Helper()
	b.do("upload to "+sel, chromedp.SetUploadFiles(chromedp.CSS(sel), []string{path}))
}

// TimeZone makes the browser's own time zone tz (IANA), as a wall screen
// set up elsewhere would have.
func (b *Browser) TimeZone(tz string) {
	b.T.Helper()
	b.do("time zone "+tz, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: tz})
		return err
	}))
}
