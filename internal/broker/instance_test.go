package broker

import (
	"os"
	"path/filepath"
	"testing"
)

// TestInstanceID: a store keeps its instance id across starts; a new
// (wiped) store gets another, so a replaced box is a new Raft peer; a
// damaged id is an error naming the file, not a silent new identity.
func TestInstanceID(t *testing.T) {
	dir := t.TempDir()
	a, err := instanceID(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := instanceID(dir); err != nil || again != a {
		t.Fatalf("second start: %q, %v; want %q", again, err, a)
	}
	if other, err := instanceID(t.TempDir()); err != nil || other == a {
		t.Fatalf("a new store: %q, %v; want an id other than %q", other, err, a)
	}
	if err := os.WriteFile(filepath.Join(dir, instanceFile), []byte("../x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := instanceID(dir); err == nil {
		t.Fatal("a damaged instance id was accepted")
	}
}
