package onvif

import (
	"strings"
	"testing"

	"github.com/lanewatch/lanewatch/internal/config"
)

func TestChooseStreams(t *testing.T) {
	s := func(tok string, w, h int, uri string) Stream {
		return Stream{Profile: Profile{Token: tok, Width: w, Height: h}, URI: uri}
	}
	cases := []struct {
		name      string
		ss        []Stream
		main, sub string
	}{
		{"main and sub", []Stream{s("sub", 640, 360, "rtsp://h/2"), s("main", 1920, 1080, "rtsp://h/1")}, "main", "sub"},
		{"three sizes", []Stream{s("a", 1920, 1080, "rtsp://h/1"), s("b", 1280, 720, "rtsp://h/2"), s("c", 640, 360, "rtsp://h/3")}, "a", "c"},
		{"same size, two URIs", []Stream{s("a", 640, 480, "rtsp://h/1"), s("b", 640, 480, "rtsp://h/2")}, "a", "b"},
		{"one URI twice", []Stream{s("a", 640, 480, "rtsp://h/1"), s("b", 320, 240, "rtsp://h/1")}, "a", ""},
		{"one", []Stream{s("a", 640, 480, "rtsp://h/1")}, "a", ""},
	}
	for _, c := range cases {
		m, sub := chooseStreams(c.ss)
		got := ""
		if sub != nil {
			got = sub.Token
		}
		if m.Token != c.main || got != c.sub {
			t.Errorf("%s: main %s sub %q", c.name, m.Token, got)
		}
	}
}

// Whatever a device calls itself, the printed block stays valid YAML that
// `lanewatch check` accepts, with unique ids and nothing injected.
func TestWriteYAMLHostileNames(t *testing.T) {
	st := func(uri string) *Stream {
		return &Stream{Profile: Profile{Token: "t", Name: "n\n- id: injected", Encoding: "H264\r\n", Width: 640, Height: 360}, URI: uri}
	}
	devs := []Device{
		{XAddr: "http://10.0.0.2/onvif/device_service", Name: "Gate #1\n  - id: injected", Main: st("rtsp://10.0.0.2/1"), Sub: st("rtsp://10.0.0.2/2"),
			Info: &DeviceInfo{Manufacturer: "x\ny: 1", Model: "m"}},
		{XAddr: "http://10.0.0.3/onvif/device_service", Name: "GATE  #1", Main: st("rtsp://10.0.0.3/1")},
		{XAddr: "http://10.0.0.7/onvif/device_service", Name: "gate #1", Main: st("rtsp://10.0.0.7/1")},
		{XAddr: "http://10.0.0.4/onvif/device_service", Name: "", Main: st(`rtsp://10.0.0.4/a"b`)},
		{XAddr: "http://10.0.0.5/onvif/device_service", Name: "北门", Main: st("rtsp://10.0.0.5/1")},
		{XAddr: "http://10.0.0.6/onvif/device_service", Name: "bad\ncam", ErrorKind: "auth", Error: "refused\n- id: x"},
	}
	var b strings.Builder
	if err := WriteYAML(&b, devs, YAMLOptions{Username: "ad\"min", PasswordVar: "PW", Events: true}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Setenv("PW", "secret")
	if ps := config.CheckBytes("d.yaml", []byte("site: {id: s1}\n"+out)); len(ps) != 0 {
		t.Fatalf("problems %v in:\n%s", ps, out)
	}
	cfg, err := config.Parse("d.yaml", []byte("site: {id: s1}\n"+out))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range cfg.Cameras {
		ids = append(ids, c.ID)
	}
	if strings.Join(ids, ",") != "gate-1-id-injected,gate-1,gate-1-2,cam-10-0-0-4,cam-10-0-0-5" {
		t.Errorf("ids %v in:\n%s", ids, out)
	}
	if cfg.Cameras[0].Name != "Gate #1\n  - id: injected" || cfg.Cameras[3].URL != `rtsp://10.0.0.4/a"b` {
		t.Errorf("values changed: %q %q", cfg.Cameras[0].Name, cfg.Cameras[3].URL)
	}
	if !strings.Contains(out, "# not added:\n#   http://10.0.0.6/onvif/device_service (bad cam): auth: refused - id: x\n") {
		t.Errorf("failed device not listed:\n%s", out)
	}
}
