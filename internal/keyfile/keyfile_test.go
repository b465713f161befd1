package keyfile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadOrCreate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "k.key")
	n := 0
	gen := func() ([]byte, error) { n++; return []byte{byte(n), 2, 3}, nil }
	a, err := LoadOrCreate(p, gen)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", st.Mode(), err)
	}
	b, err := LoadOrCreate(p, gen)
	if err != nil || !bytes.Equal(a, b) || n != 1 {
		t.Fatalf("second start: %x vs %x, %d generations, %v", a, b, n, err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(p, gen); err == nil {
		t.Error("world-readable key accepted")
	}
	empty := filepath.Join(t.TempDir(), "e.key")
	os.WriteFile(empty, nil, 0o600)
	if _, err := LoadOrCreate(empty, gen); err == nil {
		t.Error("empty key accepted")
	}
}
