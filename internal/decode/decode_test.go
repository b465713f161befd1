package decode_test

import (
	"errors"
	"math/rand"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/lanewatch/lanewatch/internal/camera/camtest"
	"github.com/lanewatch/lanewatch/internal/decode"
)

// ffprobeFrames counts the frames ffprobe decodes in file: the reference
// our decoder's frame count must match.
func ffprobeFrames(t testing.TB, file string) int {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("ffprobe output %q: %v", out, err)
	}
	return n
}

func decodeAll(t testing.TB, d *decode.Decoder, aus []camtest.AU, dst *gocv.Mat) (frames int) {
	t.Helper()
	for i, au := range aus {
		ok, err := d.Decode(au.NALUs, time.Duration(i)*100*time.Millisecond, dst)
		if err != nil {
			t.Fatalf("au %d: %v", i, err)
		}
		if ok {
			frames++
		}
	}
	return frames
}

func TestDecodeEveryFrame(t *testing.T) {
	for _, tc := range []struct {
		codec   string
		width   int
		bframes bool
		wantW   int
		wantH   int
	}{
		{codec: "H264", width: 320, wantW: 320, wantH: 240},
		{codec: "H265", width: 320, wantW: 320, wantH: 240},
		{codec: "H264", width: 0, wantW: 640, wantH: 480},
		{codec: "H264", width: 2000, wantW: 640, wantH: 480}, // never upscaled
		{codec: "H264", width: 301, wantW: 300, wantH: 226},  // even sizes
		{codec: "H264", width: 320, bframes: true, wantW: 320, wantH: 240},
	} {
		name := tc.codec + "/w" + strconv.Itoa(tc.width)
		if tc.bframes {
			name += "/bframes"
		}
		t.Run(name, func(t *testing.T) {
			spec := camtest.ClipSpec{Codec: tc.codec, Seconds: 3, BFrames: tc.bframes}
			aus := camtest.Clip(t, spec)
			want := ffprobeFrames(t, camtest.ClipFile(t, spec))
			d, dst := newDecoder(t, tc.codec, tc.width)
			got := decodeAll(t, d, aus, dst)
			for {
				ok, err := d.Flush(dst)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				got++
			}
			if got != want {
				t.Errorf("decoded %d frames, ffprobe counts %d", got, want)
			}
			if dst.Cols() != tc.wantW || dst.Rows() != tc.wantH || dst.Type() != gocv.MatTypeCV8UC3 {
				t.Errorf("dst %dx%d type %v, want %dx%d CV_8UC3", dst.Cols(), dst.Rows(), dst.Type(), tc.wantW, tc.wantH)
			}
			if f := d.Frame(); f.Width != 640 || f.Height != 480 {
				t.Errorf("source size %dx%d, want 640x480", f.Width, f.Height)
			}
			if s := d.Stats(); s.Errors != 0 || s.AccessUnits != uint64(len(aus)) {
				t.Errorf("stats %+v for %d access units", s, len(aus))
			}
			// A real picture, not a black or uninitialised buffer.
			if mean := dst.Mean(); mean.Val1+mean.Val2+mean.Val3 < 30 {
				t.Errorf("frame looks empty: mean %+v", mean)
			}
		})
	}
}

func TestKeyframesOnly(t *testing.T) {
	aus := camtest.Clip(t, camtest.ClipSpec{Seconds: 4, GOP: 10})
	keys := 0
	for _, au := range aus {
		if au.Key {
			keys++
		}
	}
	d, dst := newDecoder(t, "H264", 320)
	d.SetKeyframesOnly(true)
	half := len(aus) / 2
	if got := decodeAll(t, d, aus[:half], dst); got != (keys+1)/2 && got != keys/2 {
		t.Errorf("key-frame-only decoded %d frames of %d key frames in the first half", got, keys)
	}
	// Back to all frames: the next key frame onwards decodes everything.
	d.SetKeyframesOnly(false)
	rest := aus[half:]
	firstKey := 0
	for firstKey < len(rest) && !rest[firstKey].Key {
		firstKey++
	}
	if got := decodeAll(t, d, rest, dst); got != len(rest)-firstKey {
		t.Errorf("after resuming decoded %d frames, want %d", got, len(rest)-firstKey)
	}
	if s := d.Stats(); s.Errors != 0 {
		t.Errorf("errors %d", s.Errors)
	}
}

func TestResolutionChange(t *testing.T) {
	a := camtest.Clip(t, camtest.ClipSpec{Seconds: 1})
	b := camtest.Clip(t, camtest.ClipSpec{Seconds: 1, Width: 320})
	d, dst := newDecoder(t, "H264", 0)
	for i, step := range []struct {
		aus  []camtest.AU
		w, h int
	}{{a, 640, 480}, {b, 320, 240}, {a, 640, 480}} {
		if n := decodeAll(t, d, step.aus, dst); n != len(step.aus) {
			t.Errorf("step %d: %d frames of %d", i, n, len(step.aus))
		}
		if dst.Cols() != step.w || dst.Rows() != step.h {
			t.Errorf("step %d: dst %dx%d, want %dx%d", i, dst.Cols(), dst.Rows(), step.w, step.h)
		}
	}
}

func TestGarbageNeverCrashes(t *testing.T) {
	aus := camtest.Clip(t, camtest.ClipSpec{Seconds: 2})
	rng := rand.New(rand.NewSource(1))
	d, dst := newDecoder(t, "H264", 320)
	var decErr *decode.Error
	errs := 0
	for i, au := range aus {
		nalus := au.NALUs
		if i%3 == 1 {
			// Corrupt a copy: random bytes after a valid slice header byte,
			// or a NAL unit of pure noise.
			nalus = make([][]byte, len(au.NALUs))
			for j, n := range au.NALUs {
				c := append([]byte(nil), n...)
				for k := 1; k < len(c); k++ {
					c[k] = byte(rng.Intn(256))
				}
				nalus[j] = c
			}
			if i%2 == 0 {
				nalus = append(nalus, []byte{0x65, 0xff, 0x00, 0x00, 0x00})
			}
		}
		if _, err := d.Decode(nalus, 0, dst); err != nil {
			if !errors.As(err, &decErr) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			errs++
		}
	}
	s := d.Stats()
	if s.Errors == 0 || uint64(errs) > s.Errors {
		t.Errorf("errors: returned %d, counted %d", errs, s.Errors)
	}
	if s.Frames == 0 {
		t.Errorf("no frame decoded around the garbage")
	}
	// The decoder stays usable: a clean clip decodes after the garbage.
	d2 := camtest.Clip(t, camtest.ClipSpec{Seconds: 1})
	before := d.Stats().Frames
	decodeAll(t, d, d2, dst)
	if d.Stats().Frames-before != uint64(len(d2)) {
		t.Errorf("clean clip after garbage: %d of %d frames", d.Stats().Frames-before, len(d2))
	}
}

func TestDstMatValidated(t *testing.T) {
	aus := camtest.Clip(t, camtest.ClipSpec{Seconds: 1})
	d, err := decode.New("H264", 320)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// A grey Mat of the right size must be replaced, not written as BGR.
	dst := gocv.NewMatWithSize(240, 320, gocv.MatTypeCV8UC1)
	defer dst.Close()
	// A region of a bigger Mat is not continuous: also replaced.
	big := gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8UC3)
	defer big.Close()
	roi := big.Region(imageRect(0, 0, 320, 240))
	defer roi.Close()
	full := gocv.NewMat()
	defer full.Close()
	for _, au := range aus {
		if _, err := d.DecodeFull(au.NALUs, 0, &dst, &full); err != nil {
			t.Fatal(err)
		}
	}
	if dst.Type() != gocv.MatTypeCV8UC3 || dst.Cols() != 320 {
		t.Errorf("dst not replaced: %v %dx%d", dst.Type(), dst.Cols(), dst.Rows())
	}
	if full.Cols() != 640 || full.Rows() != 480 {
		t.Errorf("full %dx%d", full.Cols(), full.Rows())
	}
	if _, err := d.Decode(aus[0].NALUs, 0, &roi); err != nil {
		t.Fatal(err)
	}
	if !roi.IsContinuous() {
		t.Errorf("non-continuous dst written")
	}
	// Even an exact-size BGR Mat made by the caller is replaced: it has no
	// room for libswscale's over-writes after the last row.
	exact := gocv.NewMatWithSize(240, 320, gocv.MatTypeCV8UC3)
	defer exact.Close()
	before, _ := exact.DataPtrUint8()
	if _, err := d.Decode(aus[0].NALUs, 0, &exact); err != nil {
		t.Fatal(err)
	}
	after, _ := exact.DataPtrUint8()
	if &before[0] == &after[0] || exact.Cols() != 320 || exact.Rows() != 240 {
		t.Errorf("caller's unpadded Mat written in place")
	}
	// ... and the decoder's own Mat is reused, not reallocated per frame.
	if _, err := d.Decode(aus[0].NALUs, 0, &exact); err != nil {
		t.Fatal(err)
	}
	if again, _ := exact.DataPtrUint8(); &again[0] != &after[0] {
		t.Errorf("own Mat reallocated")
	}
}

func TestNewErrors(t *testing.T) {
	for _, codec := range []string{"MJPEG", "", "h264x"} {
		if _, err := decode.New(codec, 640); !errors.Is(err, decode.ErrUnsupportedCodec) {
			t.Errorf("New(%q): %v", codec, err)
		}
	}
	d, err := decode.New("H265", 640)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	d.Close()
	if _, err := d.Decode([][]byte{{1}}, 0, nil); !errors.Is(err, decode.ErrClosed) {
		t.Errorf("after close: %v", err)
	}
}

func TestOutputSize(t *testing.T) {
	for _, tc := range []struct{ sw, sh, w, ow, oh int }{
		{1920, 1080, 640, 640, 360},
		{1280, 720, 640, 640, 360},
		{640, 480, 640, 640, 480},
		{2560, 1440, 641, 640, 360},
		{1920, 1080, 0, 1920, 1080},
		{704, 576, 640, 640, 524},
	} {
		if w, h := decode.OutputSize(tc.sw, tc.sh, tc.w); w != tc.ow || h != tc.oh {
			t.Errorf("OutputSize(%d,%d,%d) = %d,%d want %d,%d", tc.sw, tc.sh, tc.w, w, h, tc.ow, tc.oh)
		}
	}
}

// TestHugePictureRejected: a corrupt SPS declaring an 83792x2592 picture (a
// fuzzer find) must be refused quickly, not decoded for seconds.
func TestHugePictureRejected(t *testing.T) {
	data := []byte("\x00\x00\x01'z00\xac#8\x00\x00\x01(\xebY\x00\x00\x01%\x88\x84\x00\x00\x01)\x00\x00\x01A7;7")
	d, dst := newDecoder(t, "H264", 64)
	start := time.Now()
	for _, au := range camtest.SplitAnnexB("H264", data) {
		if ok, _ := d.Decode(au.NALUs, 0, dst); ok {
			t.Errorf("frame decoded from a %dx%d picture", d.Frame().Width, d.Frame().Height)
		}
	}
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Errorf("took %v", el)
	}
}

// newDecoder opens a decoder and a destination Mat, both closed at test end.
func newDecoder(t testing.TB, codec string, width int) (*decode.Decoder, *gocv.Mat) {
	t.Helper()
	d, err := decode.New(codec, width)
	if err != nil {
		t.Fatal(err)
	}
	dst := gocv.NewMat()
	t.Cleanup(func() {
		d.Close()
		dst.Close()
	})
	return d, &dst
}

// TestParamSetsInOwnUnit: cameras that send SPS/PPS as units of their own
// before each IDR must still decode from the first key frame.
func TestParamSetsInOwnUnit(t *testing.T) {
	aus := camtest.Clip(t, camtest.ClipSpec{Seconds: 1})
	var split []camtest.AU
	for _, au := range aus {
		var params, rest [][]byte
		for _, n := range au.NALUs {
			if typ := n[0] & 0x1f; typ == 7 || typ == 8 {
				params = append(params, n)
			} else {
				rest = append(rest, n)
			}
		}
		if len(params) > 0 {
			split = append(split, camtest.AU{NALUs: params})
		}
		split = append(split, camtest.AU{NALUs: rest, Key: au.Key})
	}
	d, dst := newDecoder(t, "H264", 320)
	if got := decodeAll(t, d, split, dst); got != len(aus) {
		t.Errorf("decoded %d of %d frames", got, len(aus))
	}
}
