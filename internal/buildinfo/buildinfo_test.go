package buildinfo

import (
	"strings"
	"testing"
)

// The pinned stack: gocv v0.31.0 needs OpenCV 4.6, and the FFmpeg libraries
// must be the ones the binary really loaded.
func TestVersionsNameTheLinkedLibraries(t *testing.T) {
	in := Get()
	if !strings.HasPrefix(in.OpenCV, "4.6.") {
		t.Errorf("OpenCV %q, want 4.6.x", in.OpenCV)
	}
	if in.GoCV != "0.31.0" {
		t.Errorf("gocv %q, want 0.31.0", in.GoCV)
	}
	for name, v := range map[string]string{"ffmpeg": in.FFmpeg, "avcodec": in.AVCodec, "avformat": in.AVFormat, "swscale": in.SWScale} {
		if v == "" || v == "0.0.0" {
			t.Errorf("%s version empty", name)
		}
	}
	s := in.String()
	for _, want := range []string{"opencv:   4.6", "libavcodec " + in.AVCodec, "go:"} {
		if !strings.Contains(s, want) {
			t.Errorf("version text lacks %q:\n%s", want, s)
		}
	}
}
