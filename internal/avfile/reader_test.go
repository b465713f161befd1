package avfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// readAll drains r, checking the invariants every AU must keep.
func readAll(t *testing.T, r *Reader) []AU {
	t.Helper()
	var aus []AU
	for {
		au, err := r.ReadAU()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("ReadAU #%d: %v", len(aus), err)
		}
		if len(au.NALUs) == 0 {
			t.Fatalf("AU #%d has no NAL units", len(aus))
		}
		for _, n := range au.NALUs {
			if len(n) == 0 || n[0]&0x80 != 0 {
				t.Fatalf("AU #%d: NAL unit with start code, length prefix or forbidden bit: % x", len(aus), n[:min(len(n), 8)])
			}
		}
		if len(aus) > 0 && au.DTS <= aus[len(aus)-1].DTS {
			t.Fatalf("AU #%d: DTS %v not after %v", len(aus), au.DTS, aus[len(aus)-1].DTS)
		}
		if au.PTS < au.DTS {
			t.Fatalf("AU #%d: PTS %v before DTS %v", len(aus), au.PTS, au.DTS)
		}
		aus = append(aus, au)
	}
	return aus
}

func TestOpenContainers(t *testing.T) {
	dir := t.TempDir()
	h264, h265 := campusClip(t), campusClipH265(t)
	mk := func(name string, args ...string) string {
		p := filepath.Join(dir, name)
		ffmpeg(t, append(args, p)...)
		return p
	}
	cases := []struct {
		name       string
		path       string
		opt        Options
		codec      string
		w, h       int
		fps        float64
		frames     int
		firstPTS   time.Duration
		frameDelta time.Duration
	}{
		{"mp4 h264", h264, Options{}, CodecH264, 640, 480, 10, 100, 0, 100 * time.Millisecond},
		{"mp4 h265", h265, Options{}, CodecH265, 640, 480, 10, 100, 0, 100 * time.Millisecond},
		{"mkv h264", mk("c.mkv", "-i", h264, "-c", "copy"), Options{}, CodecH264, 640, 480, 10, 100, 0, 100 * time.Millisecond},
		{"mkv h265", mk("c265.mkv", "-i", h265, "-c", "copy"), Options{}, CodecH265, 640, 480, 10, 100, 0, 100 * time.Millisecond},
		{"mpegts h264", mk("c.ts", "-i", h264, "-c", "copy"), Options{}, CodecH264, 640, 480, 10, 100, 0, 100 * time.Millisecond},
		{"mpegts h265", mk("c265.ts", "-i", h265, "-c", "copy"), Options{}, CodecH265, 640, 480, 10, 100, 0, 100 * time.Millisecond},
		{"annexb h264 rate from VUI", mk("c.h264", "-i", h264, "-c", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "h264"),
			Options{}, CodecH264, 640, 480, 10, 100, 0, 100 * time.Millisecond},
		{"annexb h264 given rate", mk("d.264", "-i", h264, "-c", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "h264"),
			Options{FrameRate: 5}, CodecH264, 640, 480, 5, 100, 0, 200 * time.Millisecond},
		{"annexb h265", mk("c.hevc", "-i", h265, "-c", "copy", "-bsf:v", "hevc_mp4toannexb", "-f", "hevc"),
			Options{FrameRate: 10}, CodecH265, 640, 480, 10, 100, 0, 100 * time.Millisecond},
		{"annexb forced format", mk("raw.bin", "-i", h264, "-c", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "h264"),
			Options{Format: "h264", FrameRate: 10}, CodecH264, 640, 480, 10, 100, 0, 100 * time.Millisecond},
		{"mp4 720p 2s", mk("hd.mp4", "-i", h264, "-t", "2", "-vf", "scale=1280:720", "-c:v", "libx264", "-preset", "ultrafast", "-g", "10"),
			Options{}, CodecH264, 1280, 720, 10, 20, 0, 100 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := OpenWith(tc.path, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Codec() != tc.codec || r.Width() != tc.w || r.Height() != tc.h {
				t.Errorf("got %s %dx%d, want %s %dx%d", r.Codec(), r.Width(), r.Height(), tc.codec, tc.w, tc.h)
			}
			if r.FrameRate() != tc.fps {
				t.Errorf("FrameRate = %v, want %v", r.FrameRate(), tc.fps)
			}
			ps := r.Params()
			if NALUType(tc.codec, ps.SPS) != map[string]int{CodecH264: 7, CodecH265: 33}[tc.codec] ||
				NALUType(tc.codec, ps.PPS) != map[string]int{CodecH264: 8, CodecH265: 34}[tc.codec] {
				t.Errorf("params SPS/PPS types wrong: %d %d", NALUType(tc.codec, ps.SPS), NALUType(tc.codec, ps.PPS))
			}
			if (tc.codec == CodecH265) != (NALUType(tc.codec, ps.VPS) == 32) {
				t.Errorf("VPS presence wrong for %s: %x", tc.codec, ps.VPS)
			}
			aus := readAll(t, r)
			if len(aus) != tc.frames {
				t.Fatalf("read %d AUs, want %d", len(aus), tc.frames)
			}
			if !aus[0].KeyFrame {
				t.Error("first AU is not a key frame")
			}
			if aus[0].PTS != tc.firstPTS {
				t.Errorf("first PTS %v, want %v", aus[0].PTS, tc.firstPTS)
			}
			if d := aus[1].DTS - aus[0].DTS; d != tc.frameDelta {
				t.Errorf("frame spacing %v, want %v", d, tc.frameDelta)
			}
			keys := 0
			for _, au := range aus {
				if au.KeyFrame {
					keys++
				}
			}
			// The campus clips have a key frame every 2 s (20 frames).
			if want := (tc.frames + 19) / 20; keys != want && tc.name != "mp4 720p 2s" {
				t.Errorf("%d key frames, want %d", keys, want)
			}
			if _, err := r.ReadAU(); err != io.EOF {
				t.Errorf("after EOF: %v, want io.EOF again", err)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mpeg4 := filepath.Join(dir, "part2.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc=size=160x120:rate=5", "-t", "1", "-c:v", "mpeg4", mpeg4)
	audio := filepath.Join(dir, "tone.mkv")
	ffmpeg(t, "-f", "lavfi", "-i", "sine=frequency=440", "-t", "0.5", "-c:a", "pcm_s16le", audio)
	wav := filepath.Join(dir, "tone.wav")
	ffmpeg(t, "-f", "lavfi", "-i", "sine=frequency=440", "-t", "0.5", wav)
	avi := filepath.Join(dir, "h264.avi")
	ffmpeg(t, "-i", campusClip(t), "-t", "1", "-c", "copy", avi)
	playlist := write("list.m3u8", []byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nhttp://127.0.0.1:1/seg.ts\n#EXT-X-ENDLIST\n"))
	concat := write("list.txt", []byte("ffconcat version 1.0\nfile '"+campusClip(t)+"'\n"))
	clip, err := os.ReadFile(campusClip(t))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		path string
		want error
	}{
		{"missing", filepath.Join(dir, "nope.mp4"), ErrNotFound},
		{"directory", dir, ErrInvalidData},
		{"mpeg-4 part 2", mpeg4, ErrUnsupportedCodec},
		{"audio only", audio, ErrNoVideo},
		{"wav", wav, ErrUnsupportedFormat},
		{"avi", avi, ErrUnsupportedFormat},
		{"hls playlist", playlist, ErrUnsupportedFormat},
		{"concat list", concat, ErrUnsupportedFormat},
		{"colon in name", write("cam:1.mp4", []byte("junk")), ErrInvalidData},
		{"garbage", write("junk.mp4", []byte("this is not a video file at all, just text\n")), ErrInvalidData},
		{"empty", write("empty.mkv", nil), ErrInvalidData},
		{"empty raw", write("empty.h264", nil), ErrInvalidData},
		{"mp4 header only", write("cut.mp4", clip[:64]), ErrInvalidData},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Open(tc.path)
			if err == nil {
				r.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want kind %v", err, tc.want)
			}
			var ae *Error
			if !errors.As(err, &ae) || ae.Op != "open" || ae.Path != tc.path {
				t.Fatalf("error %#v is not an *Error for open of %s", err, tc.path)
			}
		})
	}
	_, err = Open(filepath.Join(dir, "nope.mp4"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file error %v does not match fs.ErrNotExist", err)
	}
}

// A file cut short must read what it has and end with EOF or an error, never crash.
func TestTruncatedFile(t *testing.T) {
	dir := t.TempDir()
	ts := filepath.Join(dir, "c.ts")
	ffmpeg(t, "-i", campusClip(t), "-c", "copy", ts)
	data, err := os.ReadFile(ts)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.ts")
	if err := os.WriteFile(cut, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(cut)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	for {
		_, err := r.ReadAU()
		if err != nil {
			break
		}
		n++
	}
	if n < 30 || n >= 100 {
		t.Errorf("read %d AUs from half a 100-frame file", n)
	}
}

func TestClosedReader(t *testing.T) {
	r, err := Open(campusClip(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := r.ReadAU(); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReadAU after Close: %v", err)
	}
}

func BenchmarkReadAU(b *testing.B) {
	path := campusClip(b)
	var n, bytes int
	for b.Loop() {
		r, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		for {
			au, err := r.ReadAU()
			if err != nil {
				break
			}
			n++
			for _, u := range au.NALUs {
				bytes += len(u)
			}
		}
		r.Close()
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "AU/s")
	b.SetBytes(int64(bytes / max(b.N, 1)))
}

// With B-frames, PTS runs ahead of DTS and out of order; DTS still rises,
// PTS never precedes DTS, and the PTS set is the frame grid.
func TestBFrames(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bframes.mp4")
	ffmpeg(t, "-i", campusClip(t), "-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "10", p)
	r, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	aus := readAll(t, r) // checks DTS order and PTS >= DTS
	if len(aus) != 20 {
		t.Fatalf("%d AUs, want 20", len(aus))
	}
	reordered := false
	seen := map[time.Duration]bool{}
	for i, au := range aus {
		if i > 0 && au.PTS < aus[i-1].PTS {
			reordered = true
		}
		seen[au.PTS] = true
	}
	if !reordered {
		t.Error("no reordering seen; is the clip really using B-frames?")
	}
	for i := 0; i < 20; i++ {
		if !seen[time.Duration(i)*100*time.Millisecond] {
			t.Errorf("no frame at PTS %v", time.Duration(i)*100*time.Millisecond)
		}
	}
}
