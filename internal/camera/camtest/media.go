// Package camtest provides test footage as access units and a misbehaving
// in-process RTSP camera (gortsplib server on loopback) for tests of the
// camera client and anything built on it.
package camtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lanewatch/lanewatch/internal/testenv"
)

// AU is one access unit: NAL units without start codes.
type AU struct {
	NALUs [][]byte
	Key   bool
}

// ClipSpec describes footage to generate with the ffmpeg CLI.
type ClipSpec struct {
	Codec    string  // H264 (default) or H265
	Width    int     // 0: source width
	Height   int     // 0: keep aspect
	Seconds  float64 // 0: 3 s
	FPS      int     // 0: 10
	GOP      int     // key-frame interval in frames; 0: 2 s
	Still    bool    // a still scene: the first frame looped
	BFrames  bool    // allow B-frames (cameras rarely send them)
	StartSec float64 // offset into the source
}

// Source returns the campus footage: the repo's media/ clip, else shared/.
func Source(t testing.TB) string {
	t.Helper()
	p := filepath.Join(testenv.RepoRoot(t), "media", "campus-walk-10s.mp4")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return testenv.SharedFile(t, "media/campus-walk-30s.mp4")
}

// ClipFile generates (once, cached by spec) a raw Annex-B file with access
// unit delimiters and returns its path.
func ClipFile(t testing.TB, spec ClipSpec) string {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg CLI not installed")
	}
	src := Source(t)
	if spec.Codec == "" {
		spec.Codec = "H264"
	}
	if spec.Seconds == 0 {
		spec.Seconds = 3
	}
	if spec.FPS == 0 {
		spec.FPS = 10
	}
	if spec.GOP == 0 {
		spec.GOP = 2 * spec.FPS
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%+v|v2", src, spec)))
	dir := filepath.Join(os.TempDir(), "lanewatch-camtest")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, hex.EncodeToString(sum[:8])+"."+spec.Codec)
	if _, err := os.Stat(out); err == nil {
		return out
	}
	vf := fmt.Sprintf("fps=%d", spec.FPS)
	if spec.Width > 0 {
		h := spec.Height
		if h == 0 {
			h = -2
		}
		vf += fmt.Sprintf(",scale=%d:%d", spec.Width, h)
	}
	args := []string{"-hide_banner", "-loglevel", "error", "-y", "-ss", fmt.Sprint(spec.StartSec)}
	if spec.Still {
		// One frame repeated with fresh timestamps: the extreme of an idle scene.
		still := fmt.Sprintf("trim=end_frame=1,loop=loop=-1:size=1:start=0,setpts=N/(%d*TB)", spec.FPS)
		if spec.Width > 0 {
			still += vf[strings.Index(vf, ","):]
		}
		args = append(args, "-i", src, "-vf", still, "-r", fmt.Sprint(spec.FPS), "-t", fmt.Sprint(spec.Seconds))
	} else {
		args = append(args, "-stream_loop", "-1", "-i", src, "-vf", vf, "-t", fmt.Sprint(spec.Seconds))
	}
	args = append(args, "-an", "-pix_fmt", "yuv420p")
	bf := "0"
	if spec.BFrames {
		bf = "2"
	}
	switch spec.Codec {
	case "H264":
		args = append(args, "-c:v", "libx264", "-preset", "veryfast", "-bf", bf, "-g", fmt.Sprint(spec.GOP),
			"-keyint_min", fmt.Sprint(spec.GOP), "-sc_threshold", "0", "-bsf:v", "h264_metadata=aud=insert", "-f", "h264")
	case "H265":
		args = append(args, "-c:v", "libx265", "-preset", "veryfast", "-x265-params",
			fmt.Sprintf("bframes=%s:keyint=%d:min-keyint=%d:scenecut=0:log-level=error", bf, spec.GOP, spec.GOP),
			"-bsf:v", "hevc_metadata=aud=insert", "-f", "hevc")
	default:
		t.Fatalf("camtest: codec %q", spec.Codec)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
	args = append(args, tmp)
	cmd := exec.Command("ffmpeg", args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, b)
	}
	if err := os.Rename(tmp, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Clip generates footage and splits it into access units.
func Clip(t testing.TB, spec ClipSpec) []AU {
	t.Helper()
	codec := spec.Codec
	if codec == "" {
		codec = "H264"
	}
	return LoadAnnexB(t, ClipFile(t, spec), codec)
}

// SplitAnnexB splits an Annex-B stream with access unit delimiters into
// access units (delimiters removed).
func SplitAnnexB(codec string, b []byte) []AU {
	var aus []AU
	var cur AU
	flush := func() {
		if len(cur.NALUs) > 0 {
			aus = append(aus, cur)
		}
		cur = AU{}
	}
	for _, n := range splitNALUs(b) {
		if len(n) == 0 {
			continue
		}
		var aud, key bool
		if codec == "H265" {
			typ := (n[0] >> 1) & 0x3f
			aud, key = typ == 35, typ >= 16 && typ <= 21
		} else {
			typ := n[0] & 0x1f
			aud, key = typ == 9, typ == 5
		}
		if aud {
			flush()
			continue
		}
		cur.NALUs = append(cur.NALUs, n)
		cur.Key = cur.Key || key
	}
	flush()
	return aus
}

func splitNALUs(b []byte) [][]byte {
	var out [][]byte
	start := -1
	i := 0
	for i+3 <= len(b) {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				out = append(out, bytes.TrimRight(b[start:i], "\x00"))
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		out = append(out, b[start:])
	}
	return out
}

// LoadAnnexB reads an Annex-B file with access unit delimiters (as written
// by ClipFile or scripts/bench-decode.sh) into access units.
func LoadAnnexB(t testing.TB, path, codec string) []AU {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	aus := SplitAnnexB(codec, b)
	if len(aus) == 0 {
		t.Fatalf("camtest: no access units in %s", path)
	}
	return aus
}
