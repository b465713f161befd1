package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/camera"
	"github.com/lanewatch/lanewatch/internal/camsim"
	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/frames"
	"github.com/lanewatch/lanewatch/internal/onvif"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// simulatedCameras serves "gate" (the 10 s campus clip, main) with a
// half-size "gate-sub" and "yard" (main file as its sub too) through
// camsim's RTSP and ONVIF simulators, discovery on a loopback port.
func simulatedCameras(t *testing.T, password string) (*camsim.Server, *camsim.ONVIF) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg CLI not installed")
	}
	main := filepath.Join(testenv.RepoRoot(t), "media", "campus-walk-10s.mp4")
	sub := filepath.Join(t.TempDir(), "sub.mp4")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", main, "-t", "4", "-vf", "scale=iw/2:-2",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-bf", "0", sub).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	srv := &camsim.Server{Listen: "127.0.0.1:0", UDPRTPPort: -1,
		Streams: map[string]string{"gate": main, "gate-sub": sub, "yard": main, "yard-sub": main}}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ov := &camsim.ONVIF{Listen: "127.0.0.1:0", Discovery: "127.0.0.1:0", RTSP: srv, Username: "admin", Password: password}
	if err := ov.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ov.Close() })
	return srv, ov
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = execute(args, strings.NewReader(""), &o, &e)
	return code, o.String(), e.String()
}

// Discovery's output, under a site, passes `lanewatch check`, and a camera
// configured from it streams both its URLs through the camera package.
func TestDiscoverOutputChecksAndStreams(t *testing.T) {
	srv, ov := simulatedCameras(t, "s3cret")
	t.Setenv(envONVIFUser, "admin")
	t.Setenv(envONVIFPassword, "s3cret")
	code, out, errOut := runCLI(t, "discover", "--probe", ov.DiscoveryAddr(), "--wait", "500ms", "--events")
	if code != 0 {
		t.Fatalf("discover exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out, "s3cret") || strings.Contains(errOut, "s3cret") {
		t.Fatalf("password printed:\n%s", out)
	}
	for _, want := range []string{"- id: gate\n", "- id: yard\n", `url: "` + srv.URL("gate") + `"`, `url: "` + srv.URL("gate-sub") + `"`,
		`password: "${LANEWATCH_ONVIF_PASSWORD}"`, "events: true", "# main: H264 ", "# sub: H264 "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "not added") {
		t.Errorf("a device failed:\n%s", out)
	}
	path := filepath.Join(t.TempDir(), "lanewatch.yaml")
	if err := os.WriteFile(path, []byte("site: {id: s1}\n"+out), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runCLI(t, "check", "-c", path); code != 0 || !strings.Contains(out, ": ok") {
		t.Fatalf("check exit %d:\n%s", code, out)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var gate config.Camera
	for _, c := range cfg.Cameras {
		if c.ID == "gate" {
			gate = c
		}
	}
	if gate.ONVIF == nil || gate.ONVIF.Endpoint() != ov.DeviceURL("gate") || !gate.ONVIF.Events {
		t.Fatalf("gate's onvif block: %+v", gate.ONVIF)
	}
	if u, p := gate.ONVIF.Credentials(); u != "admin" || p != "s3cret" {
		t.Fatalf("credentials %q %q", u, p)
	}
	mainInfo, _ := srv.Info("gate")
	subInfo, _ := srv.Info("gate-sub")
	for _, s := range []struct {
		url  string
		info camsim.StreamInfo
	}{{gate.URL, mainInfo}, {gate.Detect.URL, subInfo}} {
		cc := gate
		cc.URL = s.url
		latest := frames.NewLatest()
		cam := camera.FromConfig(cc, latest)
		if err := cam.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		var st camera.Status
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if st = cam.Status(); st.FramesDecoded >= 3 && st.Width > 0 {
				break
			}
		}
		cam.Close()
		latest.Close()
		if st.FramesDecoded < 3 || st.Width != s.info.Width || st.Height != s.info.Height {
			t.Errorf("%s: %d frames decoded at %dx%d, want %dx%d", s.url, st.FramesDecoded, st.Width, st.Height, s.info.Width, s.info.Height)
		}
	}
}

// A wrong password: every device is listed as refused, none is added, and
// the exit status is still 0 (errors per device are not fatal).
func TestDiscoverListsRefusedDevices(t *testing.T) {
	_, ov := simulatedCameras(t, "s3cret")
	t.Setenv(envONVIFPassword, "")
	code, out, errOut := runCLI(t, "discover", "--probe", ov.DiscoveryAddr(), "--wait", "500ms", "--user", "admin", "--password", "wrong")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if !strings.HasPrefix(out, "cameras: []\n# not added:\n") || strings.Count(out, ": auth: ") != 2 || strings.Contains(out, "wrong") {
		t.Fatalf("output:\n%s", out)
	}
	if ov.Refused() == 0 {
		t.Fatal("the simulator refused nothing")
	}
	code, out, _ = runCLI(t, "discover", "--probe", ov.DiscoveryAddr(), "--wait", "500ms", "--user", "admin", "--password", "wrong", "--json")
	var doc struct {
		Devices []onvif.Device `json:"devices"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Devices) != 2 {
		t.Fatalf("json exit %d:\n%s", code, out)
	}
	for _, d := range doc.Devices {
		if d.ErrorKind != "auth" || d.Main != nil {
			t.Errorf("device %+v", d)
		}
	}
	// Nothing listening where the probe goes: no devices, not an error.
	code, out, _ = runCLI(t, "discover", "--probe", testenv.FreeAddr(t), "--wait", "200ms")
	if code != 0 || out != "cameras: []\n" {
		t.Fatalf("empty LAN: exit %d %q", code, out)
	}
}
