package evidence

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func open(t *testing.T, dir string, maxBytes int64) *Store {
	t.Helper()
	s, err := Open(Config{Dir: dir, MaxBytes: maxBytes, Retention: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// age sets the mtime of an incident's files, as if written d ago.
func age(t *testing.T, s *Store, id string, d time.Duration) {
	t.Helper()
	when := time.Now().Add(-d)
	files, _ := os.ReadDir(filepath.Join(s.cfg.Dir, id))
	for _, f := range files {
		os.Chtimes(filepath.Join(s.cfg.Dir, id, f.Name()), when, when)
	}
	s.mu.Lock()
	s.rescan(id)
	s.mu.Unlock()
}

func TestSnapshotAndClipRoundTrip(t *testing.T) {
	s := open(t, t.TempDir(), 0)
	jpeg := []byte("\xff\xd8\xff jpeg")
	if err := s.PutSnapshot("inc_a", jpeg); err != nil {
		t.Fatal(err)
	}
	got, err := s.Snapshot("inc_a")
	if err != nil || !bytes.Equal(got, jpeg) {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := s.Snapshot("inc_b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing snapshot: %v", err)
	}
	if _, err := s.ClipPath("inc_a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing clip: %v", err)
	}
	// A failing writer leaves nothing behind.
	if err := s.PutClip("inc_a", func(p string) error { os.WriteFile(p, []byte("half"), 0o600); return errors.New("muxer died") }); err == nil {
		t.Fatal("writer error swallowed")
	}
	if _, err := s.ClipPath("inc_a"); !errors.Is(err, ErrNotFound) {
		t.Fatal("half-written clip visible")
	}
	if err := s.PutClip("inc_a", func(p string) error { return os.WriteFile(p, make([]byte, 1000), 0o600) }); err != nil {
		t.Fatal(err)
	}
	p, err := s.ClipPath("inc_a")
	if err != nil || filepath.Base(p) != ClipFile {
		t.Fatalf("%s %v", p, err)
	}
	if s.used != int64(len(jpeg))+1000 {
		t.Fatalf("used %d", s.used)
	}
	// The index survives a restart.
	if s2 := open(t, s.cfg.Dir, 0); s2.used != s.used {
		t.Fatalf("after reopen used %d, want %d", s2.used, s.used)
	}
}

func TestInvalidIDs(t *testing.T) {
	s := open(t, t.TempDir(), 0)
	for _, id := range []string{"", "../x", "a/b", ".", "..", "inc a", string(make([]byte, 65))} {
		if err := s.PutSnapshot(id, []byte("x")); !errors.Is(err, ErrInvalidID) {
			t.Errorf("PutSnapshot(%q): %v", id, err)
		}
		if _, err := s.Snapshot(id); !errors.Is(err, ErrInvalidID) {
			t.Errorf("Snapshot(%q): %v", id, err)
		}
	}
}

func TestCapEvictsOldestSparingOpen(t *testing.T) {
	s := open(t, t.TempDir(), 3500)
	open := map[string]bool{"inc_1": true}
	s.SetIsOpen(func(id string) bool { return open[id] })
	for i, id := range []string{"inc_1", "inc_2", "inc_3"} {
		s.PutSnapshot(id, make([]byte, 1000))
		age(t, s, id, time.Duration(10-i)*time.Hour)
	}
	// 4000 > 3500: the oldest closed one (inc_2) goes, not the open inc_1.
	s.PutSnapshot("inc_4", make([]byte, 1000))
	for id, want := range map[string]bool{"inc_1": true, "inc_2": false, "inc_3": true, "inc_4": true} {
		if _, err := s.Snapshot(id); (err == nil) != want {
			t.Errorf("%s kept=%v, want %v", id, err == nil, want)
		}
	}
	// When only open incidents are left, the oldest open one goes after all.
	open["inc_3"], open["inc_4"] = true, true
	s.PutSnapshot("inc_5", make([]byte, 1000))
	if _, err := s.Snapshot("inc_1"); err == nil {
		t.Error("over cap with only open incidents: the oldest should go")
	}
	if s.used > 3500 {
		t.Fatalf("used %d over cap", s.used)
	}
}

func TestRetention(t *testing.T) {
	s := open(t, t.TempDir(), 0)
	s.SetIsOpen(func(id string) bool { return id == "inc_open" })
	for _, id := range []string{"inc_old", "inc_open", "inc_new"} {
		s.PutSnapshot(id, []byte("x"))
	}
	age(t, s, "inc_old", 25*time.Hour)
	age(t, s, "inc_open", 25*time.Hour)
	s.Sweep()
	for id, want := range map[string]bool{"inc_old": false, "inc_open": true, "inc_new": true} {
		if _, err := s.Snapshot(id); (err == nil) != want {
			t.Errorf("%s kept=%v, want %v", id, err == nil, want)
		}
	}
}
