package camera

import (
	"testing"

	"github.com/lanewatch/lanewatch/internal/decode"
)

func TestSPSSize(t *testing.T) {
	// 640x480 baseline SPS as x264 writes it.
	sps := []byte{0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xf6, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x58, 0xba, 0x80}
	if w, h, ok := spsSize(decode.H264, sps); !ok || w != 640 || h != 480 {
		t.Errorf("spsSize = %d, %d, %v; want 640x480", w, h, ok)
	}
	for _, bad := range [][]byte{nil, {0x67}, {0x67, 0xff, 0xff, 0xff, 0xff}} {
		if _, _, ok := spsSize(decode.H264, bad); ok {
			t.Errorf("spsSize(%x) accepted", bad)
		}
	}
}

func FuzzSPSSize(f *testing.F) {
	f.Add(true, []byte{0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xf6, 0xc0, 0x44})
	f.Add(false, []byte{0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90})
	f.Fuzz(func(t *testing.T, h264 bool, sps []byte) {
		codec := decode.H265
		if h264 {
			codec = decode.H264
		}
		if w, h, ok := spsSize(codec, sps); ok && (w <= 0 || h <= 0 || w > 16384 || h > 16384) {
			t.Fatalf("implausible size %dx%d accepted", w, h)
		}
	})
}
