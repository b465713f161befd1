package avfile

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// A recording segment is fragmented: whole, it holds every frame; cut short
// as by a crash or power loss, it still plays up to its last whole fragment.
func TestFragmentedMP4SurvivesTruncation(t *testing.T) {
	r, err := Open(campusClip(t))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := filepath.Join(t.TempDir(), "seg.mp4")
	w, err := CreateFragmentedMP4(out, r.Codec(), r.Params().List(), r.Width(), r.Height())
	if err != nil {
		t.Fatal(err)
	}
	const n = 100 // 10 s at 10 fps, several GOPs
	for i := 0; i < n; i++ {
		au, err := r.ReadAU()
		if err != nil {
			t.Fatalf("ReadAU %d: %v", i, err)
		}
		if err := w.WriteAU(au); err != nil {
			t.Fatalf("WriteAU %d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	m := probe(t, out, "stream=codec_name,nb_read_frames")
	if m["nb_read_frames"] != strconv.Itoa(n) {
		t.Fatalf("whole segment: %s frames, want %d (%v)", m["nb_read_frames"], n, m)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.mp4")
	if err := os.WriteFile(cut, b[:len(b)*6/10], 0o600); err != nil {
		t.Fatal(err)
	}
	m = probe(t, cut, "stream=nb_read_frames")
	got, _ := strconv.Atoi(m["nb_read_frames"])
	if got < n/3 || got >= n {
		t.Fatalf("segment cut at 60%%: %d frames readable, want between %d and %d", got, n/3, n-1)
	}
}
