package auth

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestAuditRotatedAndPruned: the audit log is rotated by day and rotated
// files past the retention (vehicles.retention: the log names visitors'
// plates) are deleted, on writes, at start and on RotateAudit; nothing
// younger is lost.
func TestAuditRotatedAndPruned(t *testing.T) {
	c := &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	open := func() *Auth {
		a, err := New(Config{AuditPath: path, AuditRetention: 10 * 24 * time.Hour, Now: c.now})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := open()
	p := Principal{Name: "olga", Role: Operator}
	for day := range 5 {
		if err := a.Audit(p, "visitor_add", "AB1234", nil); err != nil {
			t.Fatal(err)
		}
		c.add(2 * time.Hour)
		if err := a.Audit(p, "visitor_remove", "AB1234", nil); err != nil {
			t.Fatal(err)
		}
		if day < 4 {
			c.add(22 * time.Hour)
		}
	}
	files, err := AuditFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"audit-20260301.log", "audit-20260302.log", "audit-20260303.log", "audit-20260304.log", "audit.log"}
	if len(files) != len(want) {
		t.Fatalf("files %v, want %v", files, want)
	}
	total := 0
	for i, f := range files {
		if filepath.Base(f) != want[i] {
			t.Fatalf("files %v, want %v", files, want)
		}
		es, err := ReadAudit(f)
		if err != nil || len(es) != 2 {
			t.Fatalf("%s: %d entries (%v), want the day's 2", f, len(es), err)
		}
		total += len(es)
	}
	if total != 10 {
		t.Fatalf("%d entries in all, want 10", total)
	}

	// Quiet days: RotateAudit alone rotates and deletes what is past retention.
	c.add(8 * 24 * time.Hour) // 2026-03-13: 03-01 and 03-02 are older than 10 days
	if err := a.RotateAudit(); err != nil {
		t.Fatal(err)
	}
	files, _ = AuditFiles(path)
	want = []string{"audit-20260303.log", "audit-20260304.log", "audit-20260305.log", "audit.log"}
	if len(files) != len(want) {
		t.Fatalf("after quiet days: %v, want %v", files, want)
	}
	for i, f := range files {
		if filepath.Base(f) != want[i] {
			t.Fatalf("after quiet days: %v, want %v", files, want)
		}
	}
	a.Close()

	// At start, past the retention of all: only the empty current file is left.
	c.add(30 * 24 * time.Hour)
	b := open()
	defer b.Close()
	files, _ = AuditFiles(path)
	if len(files) != 1 {
		t.Fatalf("after 30 more days: %v", files)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("current file: %v %v", fi, err)
	}
}
