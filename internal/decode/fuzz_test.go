package decode_test

import (
	"errors"
	"testing"

	"gocv.io/x/gocv"

	"github.com/lanewatch/lanewatch/internal/camera/camtest"
	"github.com/lanewatch/lanewatch/internal/decode"
)

// FuzzDecode feeds arbitrary Annex-B bytes (a camera's bitstream is outside
// input) to both decoders: no crash, only typed errors, and any frame
// written is a well-formed BGR Mat of at most the requested width. The seed
// corpus in testdata/fuzz/FuzzDecode holds tiny real H.264/H.265 streams.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0x67, 0x42, 0, 0x0a, 0xff, 0, 0, 1, 0x65, 0x88, 0x84}, false)
	f.Add([]byte{0, 0, 1, 0x40, 0x01, 0x0c, 0, 0, 1, 0x26, 0x01, 0xaf}, true)
	f.Fuzz(func(t *testing.T, data []byte, h265 bool) {
		codec := decode.H264
		if h265 {
			codec = decode.H265
		}
		d, m := newDecoder(t, codec, 64)
		var decErr *decode.Error
		for _, au := range camtest.SplitAnnexB(codec, data) {
			ok, err := d.Decode(au.NALUs, 0, m)
			if err != nil && !errors.As(err, &decErr) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			if ok && (m.Type() != gocv.MatTypeCV8UC3 || m.Cols() > 64 || m.Cols() <= 0 || m.Rows() <= 0) {
				t.Fatalf("bad frame %v %dx%d", m.Type(), m.Cols(), m.Rows())
			}
		}
	})
}
