package camsim

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"

	"github.com/lanewatch/lanewatch/internal/onvif"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// startONVIF serves the campus clip as camera "gate" (main) with a
// half-size re-encode as "gate-sub", and "yard" with no sub file, as ONVIF
// devices with discovery on a loopback unicast port.
func startONVIF(t *testing.T) (*Server, *ONVIF) {
	t.Helper()
	dir := t.TempDir()
	main := shortClip(t, dir, 10)
	sub := filepath.Join(dir, "sub.mp4")
	ffmpeg(t, "-i", main, "-vf", "scale=iw/2:-2", "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-bf", "0", sub)
	srv := startServer(t, map[string]string{"gate": main, "gate-sub": sub, "yard": main})
	ov := &ONVIF{Listen: "127.0.0.1:0", Discovery: "127.0.0.1:0", RTSP: srv, Username: "admin", Password: "s3cret"}
	if err := ov.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ov.Close() })
	return srv, ov
}

func TestONVIFDiscoveryAndMedia(t *testing.T) {
	srv, ov := startONVIF(t)
	ctx := context.Background()
	ms, skipped, err := onvif.Probe(ctx, ov.DiscoveryAddr(), 500*time.Millisecond)
	if err != nil || skipped != 0 {
		t.Fatalf("probe: %v (skipped %d)", err, skipped)
	}
	names := map[string]string{}
	for _, m := range ms {
		names[m.Name()] = m.XAddrs[0]
	}
	if len(ms) != 2 || names["gate"] != ov.DeviceURL("gate") || names["yard"] != ov.DeviceURL("yard") {
		t.Fatalf("matches %+v", ms)
	}

	c := &onvif.Client{Username: "admin", Password: "s3cret"}
	info, err := c.DeviceInformation(ctx, ov.DeviceURL("gate"))
	if err != nil || info.Model != "camsim" {
		t.Fatalf("device information %+v %v", info, err)
	}
	svc, err := c.Services(ctx, ov.DeviceURL("gate"))
	if err != nil || svc.Media == "" || svc.Events == "" {
		t.Fatalf("services %+v %v", svc, err)
	}
	ps, err := c.Profiles(ctx, svc.Media)
	if err != nil || len(ps) != 2 {
		t.Fatalf("profiles %+v %v", ps, err)
	}
	mainInfo, _ := srv.Info("gate")
	if ps[0].Token != "main" || ps[0].Width != mainInfo.Width || ps[1].Token != "sub" || ps[1].Width != mainInfo.Width/2 || ps[0].Encoding != "H264" {
		t.Fatalf("profiles %+v, main is %+v", ps, mainInfo)
	}
	for i, want := range []string{"gate", "gate-sub"} {
		u, err := c.StreamURI(ctx, svc.Media, ps[i].Token)
		if err != nil || u != srv.URL(want) {
			t.Fatalf("stream uri %s: %q %v", ps[i].Token, u, err)
		}
		r, err := dial(t, u, gortsplib.TransportTCP)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if aus := r.waitFor(3, 10*time.Second); len(aus) < 3 {
			t.Fatalf("%s: %d access units", u, len(aus))
		}
	}
	// A device without a sub file serves its main stream as the sub profile.
	yardSvc, _ := c.Services(ctx, ov.DeviceURL("yard"))
	if u, err := c.StreamURI(ctx, yardSvc.Media, "sub"); err != nil || u != srv.URL("yard") {
		t.Fatalf("yard sub: %q %v", u, err)
	}
	if _, err := c.StreamURI(ctx, svc.Media, "nope"); err == nil {
		t.Fatal("unknown profile answered")
	}
}

func TestONVIFRefusesWrongCredentials(t *testing.T) {
	_, ov := startONVIF(t)
	ctx := context.Background()
	for _, c := range []*onvif.Client{{Username: "admin", Password: "wrong"}, {Username: "root", Password: "s3cret"}, {}} {
		_, err := c.Profiles(ctx, ov.DeviceURL("gate"))
		var he *onvif.HTTPError
		if !errors.Is(err, onvif.ErrAuth) || !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
			t.Errorf("%q/%q: %v", c.Username, c.Password, err)
		}
	}
	if ov.Refused() != 3 {
		t.Errorf("refused %d", ov.Refused())
	}
	// A replayed request (same nonce) is refused too.
	tok := onvif.NewUsernameToken("admin", "s3cret", time.Now())
	body := onvif.Envelope(onvif.Header{Security: tok}, onvif.GetProfilesBody)
	for i, want := range []int{http.StatusOK, http.StatusUnauthorized} {
		resp, err := http.Post(ov.DeviceURL("gate"), "application/soap+xml", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("send %d: %d, want %d", i, resp.StatusCode, want)
		}
	}
}

func TestONVIFEvents(t *testing.T) {
	_, ov := startONVIF(t)
	ctx := context.Background()
	c := &onvif.Client{Username: "admin", Password: "s3cret"}
	svc, err := c.Services(ctx, ov.DeviceURL("gate"))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := c.CreatePullPoint(ctx, svc.Events, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d := sub.TerminationTime.Sub(sub.CurrentTime); d < 29*time.Second || d > 31*time.Second {
		t.Fatalf("granted %v", d)
	}
	if n := ov.Subscriptions("gate"); n != 1 {
		t.Fatalf("%d subscriptions", n)
	}
	// First the current state of the motion property.
	r, err := c.PullMessages(ctx, sub.Address, time.Second, 10)
	if err != nil || len(r.Messages) != 1 || r.Messages[0].Operation != "Initialized" {
		t.Fatalf("first pull %+v %v", r, err)
	}
	// An empty pull waits its timeout and returns nothing.
	start := time.Now()
	if r, err := c.PullMessages(ctx, sub.Address, time.Second, 10); err != nil || len(r.Messages) != 0 || time.Since(start) < 900*time.Millisecond {
		t.Fatalf("empty pull %+v %v after %v", r, err, time.Since(start))
	}
	// A waiting pull returns as soon as an event is scripted over HTTP.
	go func() {
		time.Sleep(200 * time.Millisecond)
		resp, err := http.Post("http://"+ov.Addr()+"/camsim/onvif/gate/events", "application/json",
			strings.NewReader(`{"topic":"tns1:RuleEngine/LineDetector/Crossed","source":{"Rule":"gate-line"},"data":{"ObjectId":"4"}}`))
		if err == nil {
			resp.Body.Close()
		}
	}()
	start = time.Now()
	r, err = c.PullMessages(ctx, sub.Address, 10*time.Second, 10)
	if err != nil || len(r.Messages) != 1 || time.Since(start) > 5*time.Second {
		t.Fatalf("pull %+v %v after %v", r, err, time.Since(start))
	}
	if ev := onvif.Classify(r.Messages[0]); ev.Kind != onvif.KindLineCrossing || ev.Rule != "gate-line" {
		t.Fatalf("event %+v", ev)
	}
	// Events for another device do not reach this subscription.
	if n, err := ov.Emit("yard", onvif.Notification{Topic: "tns1:VideoSource/SignalLoss"}); err != nil || n != 0 {
		t.Fatalf("emit to yard: %d %v", n, err)
	}
	if _, err := ov.Emit("gate-sub", onvif.Notification{Topic: "x"}); !errors.Is(err, ErrUnknownStream) {
		t.Fatalf("emit to a sub-stream: %v", err)
	}
	_, term, err := c.Renew(ctx, sub.Address, time.Minute)
	if err != nil || time.Until(term) < 55*time.Second {
		t.Fatalf("renew %v %v", term, err)
	}
	if err := c.Unsubscribe(ctx, sub.Address); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PullMessages(ctx, sub.Address, time.Second, 10); err == nil {
		t.Fatal("pull after unsubscribe answered")
	}

	// A subscription that is not renewed ends.
	short, err := c.CreatePullPoint(ctx, svc.Events, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	var f *onvif.Fault
	if _, err := c.PullMessages(ctx, short.Address, time.Second, 10); !errors.As(err, &f) || f.Subcode != "ResourceUnknownFault" {
		t.Fatalf("pull after expiry: %v", err)
	}
}

// A restart (a camera rebooting) drops subscriptions; a pull waiting on one
// ends with a fault rather than hanging.
func TestONVIFRestartDropsSubscriptions(t *testing.T) {
	_, ov := startONVIF(t)
	ctx := context.Background()
	c := &onvif.Client{Username: "admin", Password: "s3cret"}
	svc, _ := c.Services(ctx, ov.DeviceURL("gate"))
	sub, err := c.CreatePullPoint(ctx, svc.Events, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.PullMessages(ctx, sub.Address, time.Second, 10) // the initial state
	pulled := make(chan error, 1)
	go func() { _, err := c.PullMessages(ctx, sub.Address, 20*time.Second, 10); pulled <- err }()
	time.Sleep(200 * time.Millisecond)
	addr := ov.Addr()
	ov.Close()
	select {
	case err := <-pulled:
		if err == nil {
			t.Fatal("waiting pull succeeded across a restart")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiting pull hangs after Close")
	}
	if err := ov.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if ov.Addr() != addr {
		t.Fatalf("restarted on %s, was %s", ov.Addr(), addr)
	}
	if _, err := c.PullMessages(ctx, sub.Address, time.Second, 10); err == nil {
		t.Fatal("old subscription survived the restart")
	}
	if _, err := c.CreatePullPoint(ctx, svc.Events, time.Minute); err != nil {
		t.Fatalf("subscribe after restart: %v", err)
	}
}

// "camsim --onvif" serves each camera as a device whose sub profile is the
// same file at NAME-sub, and takes the password from the environment.
func TestRunONVIF(t *testing.T) {
	t.Setenv("LANEWATCH_ONVIF_PASSWORD", "from-env")
	addr, oaddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"--udp-port", "-1", "--listen", addr, "--onvif", oaddr, "--onvif-discovery", "off",
			"cam=" + mediaFile(t, "campus-walk-10s.mp4")}, &out)
	}()
	c := &onvif.Client{Username: "admin", Password: "from-env", Timeout: time.Second}
	dev := "http://" + oaddr + "/onvif/cam/device_service"
	var svc onvif.Services
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if svc, err = c.Services(ctx, dev); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("ONVIF not answering: %v\n%s", err, out.String())
	}
	if u, err := c.StreamURI(ctx, svc.Media, "sub"); err != nil || u != "rtsp://"+addr+"/cam-sub" {
		t.Errorf("sub uri %q %v", u, err)
	}
	if _, err := dial(t, "rtsp://"+addr+"/cam-sub", gortsplib.TransportTCP); err != nil {
		t.Errorf("reading the sub-stream: %v", err)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

// A camera whose clock is an hour off refuses tokens dated by ours; a
// client that synchronised with GetSystemDateAndTime (no credentials
// needed) dates them by the camera's and is let in.
func TestONVIFClockSkew(t *testing.T) {
	_, ov := startONVIF(t)
	ov.ClockSkew = time.Hour
	ctx := context.Background()
	c := &onvif.Client{Username: "admin", Password: "s3cret"}
	if _, err := c.Services(ctx, ov.DeviceURL("gate")); !errors.Is(err, onvif.ErrAuth) {
		t.Fatalf("unsynchronised: %v", err)
	}
	off, err := c.SyncClock(ctx, ov.DeviceURL("gate"))
	if err != nil || (off-time.Hour).Abs() > 2*time.Second {
		t.Fatalf("offset %v %v", off, err)
	}
	if _, err := c.Services(ctx, ov.DeviceURL("gate")); err != nil {
		t.Fatalf("synchronised: %v", err)
	}
}
