package sensors

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestDedup(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		gate, id string
		at       time.Duration
		dup      bool
	}{
		{"north", "a", 0, false},
		{"north", "a", time.Minute, true},
		{"south", "a", time.Minute, false}, // same id, other gate
		{"north", "", time.Minute, false},  // no id: never a duplicate
		{"north", "", time.Minute, false},
		{"north", "a", 10*time.Minute - time.Nanosecond, true},
		{"north", "a", 10 * time.Minute, false}, // window over: accepted again
		{"north", "a", 15 * time.Minute, true},  // and remembered from then
		{"south", "a", 15 * time.Minute, false}, // first seen at 1 min: expired
		{"south", "a", 20 * time.Minute, true},
	}
	var d Dedup
	for i, s := range steps {
		if got := d.Seen(s.gate, s.id, t0.Add(s.at)); got != s.dup {
			t.Fatalf("step %d %+v: Seen = %v", i, s, got)
		}
	}
}

// The memory bound holds, and when it bites the oldest ids go first.
func TestDedupBounded(t *testing.T) {
	d := Dedup{Max: 1000}
	t0 := time.Now()
	for i := range 5000 {
		d.Seen("north", fmt.Sprint(i), t0)
	}
	if n := d.Len(); n != 1000 {
		t.Fatalf("Len = %d, want 1000", n)
	}
	if d.Seen("north", "10", t0) {
		t.Fatal("oldest id should have been evicted")
	}
	if !d.Seen("north", "4999", t0) {
		t.Fatal("newest id must be remembered")
	}
}

func TestDedupExpiryFreesMemory(t *testing.T) {
	var d Dedup
	t0 := time.Now()
	for i := range 1000 {
		d.Seen("north", fmt.Sprint(i), t0)
	}
	d.Seen("north", "late", t0.Add(DedupWindow))
	if n := d.Len(); n != 1 {
		t.Fatalf("Len = %d after the window, want 1", n)
	}
}

func TestDedupConcurrent(t *testing.T) {
	var d Dedup
	var wg sync.WaitGroup
	var mu sync.Mutex
	firsts := 0
	now := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				if !d.Seen("north", fmt.Sprint(i), now) {
					mu.Lock()
					firsts++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if firsts != 500 {
		t.Fatalf("%d first sightings, want 500", firsts)
	}
}

func TestLoadOrCreateSalt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "credential.salt")
	a, err := LoadOrCreateSalt(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != SaltLen {
		t.Fatalf("len %d", len(a))
	}
	b, err := LoadOrCreateSalt(path)
	if err != nil || !bytes.Equal(a, b) {
		t.Fatalf("second load: %v, equal %v", err, bytes.Equal(a, b))
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("tiny"), 0o600)
	if _, err := LoadOrCreateSalt(short); err == nil {
		t.Fatal("short salt accepted")
	}
}

func TestLoadOrCreateSaltRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credential.salt")
	var wg sync.WaitGroup
	res := make([][]byte, 8)
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := LoadOrCreateSalt(path)
			if err != nil {
				t.Error(err)
			}
			res[i] = s
		}()
	}
	wg.Wait()
	for _, s := range res[1:] {
		if !bytes.Equal(s, res[0]) {
			t.Fatal("racing creators disagree on the salt")
		}
	}
}
