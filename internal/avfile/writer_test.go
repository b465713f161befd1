package avfile

import (
	"errors"
	"math"
	"path/filepath"
	"testing"
	"time"
)

// copyClip writes the first n AUs of src into a new MP4 and returns its path.
func copyClip(t *testing.T, src string, n int, shift time.Duration) string {
	t.Helper()
	r, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := filepath.Join(t.TempDir(), "clip.mp4")
	w, err := CreateMP4(out, r.Codec(), r.Params().List(), r.Width(), r.Height())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		au, err := r.ReadAU()
		if err != nil {
			t.Fatalf("ReadAU %d: %v", i, err)
		}
		// A clip cut from a live ring starts at an arbitrary time.
		au.PTS += shift
		au.DTS += shift
		if err := w.WriteAU(au); err != nil {
			t.Fatalf("WriteAU %d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	return out
}

func TestWriteMP4(t *testing.T) {
	// MPEG-TS carries parameter sets in band, which the writer must move
	// out of the samples into the sample entry.
	ts := filepath.Join(t.TempDir(), "c.ts")
	ffmpeg(t, "-i", campusClipH265(t), "-c", "copy", ts)
	cases := []struct {
		name, src, codec string
		shift            time.Duration
	}{
		{"h264", campusClip(t), "h264", 0},
		{"h265 from mpegts", ts, "hevc", 0},
		{"h264 late start", campusClip(t), "h264", 3*time.Hour + 250*time.Millisecond},
		{"h265", campusClipH265(t), "hevc", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := copyClip(t, tc.src, 50, tc.shift) // 5 s at 10 fps
			m := probe(t, out, "stream=codec_name,width,height,nb_read_frames,duration,start_time")
			if m["codec_name"] != tc.codec || m["width"] != "640" || m["height"] != "480" {
				t.Errorf("ffprobe: %v", m)
			}
			if m["nb_read_frames"] != "50" {
				t.Errorf("decoded %s frames, want 50", m["nb_read_frames"])
			}
			if d := atof(t, m["duration"]); math.Abs(d-5.0) > 0.001 {
				t.Errorf("duration %v s, want 5", d)
			}
			if s := atof(t, m["start_time"]); s != 0 {
				t.Errorf("start_time %v, want 0", s)
			}
			// Read back: same frames, key frame first, 100 ms apart.
			r, err := Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.FrameRate() != 10 {
				t.Errorf("clip frame rate %v", r.FrameRate())
			}
			aus := readAll(t, r)
			if len(aus) != 50 || !aus[0].KeyFrame || aus[49].DTS != 4900*time.Millisecond {
				t.Errorf("read back %d AUs, key %v, last DTS %v", len(aus), aus[0].KeyFrame, aus[len(aus)-1].DTS)
			}
			for i, au := range aus {
				for _, n := range au.NALUs {
					if IsParamSet(r.Codec(), n) {
						t.Fatalf("AU %d keeps an in-band parameter set (type %d)", i, NALUType(r.Codec(), n))
					}
				}
			}
		})
	}
}

func TestWriterErrors(t *testing.T) {
	r, err := Open(campusClip(t))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ps := r.Params()
	dir := t.TempDir()
	out := filepath.Join(dir, "x.mp4")

	createCases := []struct {
		name   string
		path   string
		codec  string
		params [][]byte
		w, h   int
		want   error
	}{
		{"codec", out, "MJPEG", ps.List(), 640, 480, ErrUnsupportedCodec},
		{"no pps", out, CodecH264, [][]byte{ps.SPS}, 640, 480, ErrBadArgument},
		{"h265 without vps", out, CodecH265, ps.List(), 640, 480, ErrBadArgument},
		{"size", out, CodecH264, ps.List(), 0, 480, ErrBadArgument},
		{"unwritable", filepath.Join(dir, "missing", "x.mp4"), CodecH264, ps.List(), 640, 480, ErrIO},
	}
	for _, tc := range createCases {
		t.Run(tc.name, func(t *testing.T) {
			w, err := CreateMP4(tc.path, tc.codec, tc.params, tc.w, tc.h)
			if err == nil {
				w.Close()
				t.Fatal("CreateMP4 succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}

	w, err := CreateMP4(out, CodecH264, ps.List(), 640, 480)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := r.ReadAU()
	delta, _ := r.ReadAU()
	if err := w.WriteAU(delta); !errors.Is(err, ErrNeedKeyFrame) {
		t.Errorf("non-key first AU: %v", err)
	}
	if err := w.WriteAU(key); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteAU(key); !errors.Is(err, ErrBadArgument) {
		t.Errorf("repeated DTS: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteAU(delta); !errors.Is(err, ErrClosed) {
		t.Errorf("write after Close: %v", err)
	}
}
