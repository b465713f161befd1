package avfile

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lanewatch/lanewatch/internal/testenv"
)

func init() { quietFFmpegLogs() }

// campusClip is the H.264 clip shipped in media/: 640x480, 10 fps, 100 frames,
// key frame every 2 s.
func campusClip(t testing.TB) string {
	return filepath.Join(testenv.RepoRoot(t), "media", "campus-walk-10s.mp4")
}

func campusClipH265(t testing.TB) string {
	return filepath.Join(testenv.RepoRoot(t), "media", "campus-walk-10s-h265.mp4")
}

// ffmpeg runs the ffmpeg CLI to make test inputs; the tests skip without it.
func ffmpeg(t testing.TB, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg CLI not installed")
	}
	full := append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)
	out, err := exec.Command("ffmpeg", full...).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// probe returns ffprobe's key=value fields for the first video stream.
func probe(t testing.TB, path string, entries string) map[string]string {
	t.Helper()
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe CLI not installed")
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
		"-show_entries", entries, "-of", "default=noprint_wrappers=1", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, out)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			m[k] = v
		}
	}
	return m
}

func atof(t testing.TB, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return f
}
