package recording

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/camera"
	"github.com/lanewatch/lanewatch/internal/recording/recordingtest"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// feed is a camera stream read from a file (recordingtest.Feed).
type feed struct {
	aus    []camera.AU
	params camera.Params
	rf     recordingtest.Feed
}

func loadFeed(t testing.TB, loops int) feed {
	t.Helper()
	path := filepath.Join(testenv.RepoRoot(t), "media", "campus-walk-10s.mp4")
	rf := recordingtest.Load(t, path, time.Date(2026, 12, 3, 2, 13, 0, 0, time.UTC), loops)
	return feed{aus: rf.AUs, params: rf.Params, rf: rf}
}

func (f feed) play(r *Recorder) { f.rf.Play(r) }

func frames(t *testing.T, path string) int {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "default=nw=1:nk=1", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("ffprobe %s: %q", path, out)
	}
	return n
}

// Every unit of a 30 s stream ends up in exactly one segment; segments start
// at key frames, are cut near the target length, and list by time.
func TestRecorderSegmentsEveryUnit(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe not installed")
	}
	f := loadFeed(t, 3)
	root := t.TempDir()
	var finished []Segment
	r := &Recorder{Camera: "north-gate", Root: root, Segment: 10 * time.Second, Queue: len(f.aus) + 1,
		OnSegment: func(s Segment) { finished = append(finished, s) }}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.play(r)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	segs, err := Store{Root: root}.Segments("north-gate", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 3 || len(segs) != len(finished) {
		t.Fatalf("%d segments listed, %d finished, want >= 3 and equal", len(segs), len(finished))
	}
	total := 0
	for i, s := range segs {
		if s.Live {
			t.Errorf("segment %s still live after Close", s.ID)
		}
		n := frames(t, filepath.Join(root, "north-gate", s.ID+".mp4"))
		total += n
		t.Logf("segment %s: %d frames, %v", s.ID, n, s.End.Sub(s.Start))
		d := s.End.Sub(s.Start)
		if i < len(segs)-1 && (d < 10*time.Second || d > 14*time.Second) {
			t.Errorf("segment %d lasts %v, want 10 s up to the next key frame", i, d)
		}
		if i > 0 && s.Start.Before(segs[i-1].End.Add(-time.Millisecond)) {
			t.Errorf("segment %d starts at %v before the previous ends at %v", i, s.Start, segs[i-1].End)
		}
	}
	if total != len(f.aus) {
		t.Errorf("segments hold %d frames, the stream had %d", total, len(f.aus))
	}
	// Playback looks a time up: 02:13:15 is 15 s into the stream.
	at := f.aus[0].At.Add(15 * time.Second)
	seg, off, err := Store{Root: root}.At("north-gate", at)
	if err != nil || off < 0 || off > 14*time.Second || seg.Start.After(at) || seg.End.Before(at) {
		t.Errorf("At(%v) = %+v, %v, %v", at, seg, off, err)
	}
	if _, _, err := (Store{Root: root}).At("north-gate", f.aus[0].At.Add(-time.Hour)); err != ErrNotFound {
		t.Errorf("At before the recording: %v, want ErrNotFound", err)
	}
}

// A unit lost to a full queue cuts the segment: what was written before
// plays, and the next file starts at a key frame rather than mid-GOP.
func TestRecorderGapCutsAtKeyFrame(t *testing.T) {
	f := loadFeed(t, 1)
	root := t.TempDir()
	r := &Recorder{Camera: "c", Root: root, Segment: time.Hour}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Close() // drive the writer side by hand
	r.dir = filepath.Join(root, "c")
	r.log = r.Logger
	if r.log == nil {
		r.log = testLogger()
	}
	cut := 25 // mid-GOP (key frames every 20 units)
	for i, au := range f.aus {
		u := unit{nalus: au.NALUs, pts: au.PTS, at: au.At, key: au.Key, gap: i == cut}
		if au.Key {
			p := f.params
			u.params = &p
		}
		r.take(u)
	}
	r.finish()
	segs, _ := Store{Root: root}.Segments("c", time.Time{}, time.Time{})
	if len(segs) != 2 {
		t.Fatalf("%d segments, want 2 (cut at the gap)", len(segs))
	}
	if _, err := exec.LookPath("ffprobe"); err == nil {
		if n := frames(t, filepath.Join(root, "c", segs[0].ID+".mp4")); n != cut {
			t.Errorf("first segment %d frames, want %d", n, cut)
		}
		if n := frames(t, filepath.Join(root, "c", segs[1].ID+".mp4")); n != len(f.aus)-40 {
			t.Errorf("second segment %d frames, want %d (from the next key frame)", n, len(f.aus)-40)
		}
	}
}

// A segment left open by a crash is finished at the next start.
func TestRecorderRecoversLiveSegment(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "c")
	os.MkdirAll(dir, 0o750)
	start := time.UnixMilli(1764728000000)
	live := filepath.Join(dir, liveName(start))
	if err := os.WriteFile(live, []byte("fragmented mp4 bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	mod := start.Add(42 * time.Second)
	os.Chtimes(live, mod, mod)
	os.WriteFile(filepath.Join(dir, liveName(start.Add(time.Hour))), nil, 0o600) // empty: nothing to keep
	r := &Recorder{Camera: "c", Root: root}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	segs, _ := Store{Root: root}.Segments("c", time.Time{}, time.Time{})
	if len(segs) != 1 || segs[0].Live || !segs[0].Start.Equal(start) || !segs[0].End.Equal(mod.Truncate(time.Millisecond)) {
		t.Fatalf("after recovery: %+v", segs)
	}
}

func TestStoreOpenRejectsForeignNames(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "c"), 0o750)
	os.WriteFile(filepath.Join(root, "secret.mp4"), []byte("x"), 0o600)
	for _, tc := range []struct{ camera, id string }{
		{"c", "../secret"}, {"..", "secret"}, {"c", ""}, {"c/../..", "1-2"}, {"", "1-2"},
		{"c", "1-2.mp4"}, {"c", "1-2"}, // valid name, no such file
	} {
		if f, _, err := (Store{Root: root}).Open(tc.camera, tc.id); err != ErrNotFound {
			if f != nil {
				f.Close()
			}
			t.Errorf("Open(%q, %q) = %v, want ErrNotFound", tc.camera, tc.id, err)
		}
	}
}

func FuzzValidID(f *testing.F) {
	for _, s := range []string{"1764728000000-1764728060000", "1764728000000.rec", "../x", "1-2/3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if ValidID(id) && (strings.ContainsAny(id, "/\\") || strings.Contains(id, "..")) {
			t.Fatalf("ValidID accepts a path-like id %q", id)
		}
	})
}
