// Package testenv is the harness every test package uses: real Mosquitto and
// influxd processes on free loopback ports, the shared media and models, and
// temporary data directories. Nothing here is mocked.
package testenv

import (
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// SharedDir returns the project's shared/ folder (media and models), which
// sits beside the repository as ../shared. LANEWATCH_SHARED overrides it.
// Where it is absent the test is skipped, except under CI=true, where a
// missing shared/ is a failure: CI must exercise the real footage and models.
func SharedDir(t testing.TB) string {
	t.Helper()
	if dir, ok := findShared(); ok {
		return dir
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("shared/ (media and models) not found beside the repository; set LANEWATCH_SHARED")
	}
	t.Skip("shared/ not found beside the repository; set LANEWATCH_SHARED to run this test")
	return ""
}

// SharedFile is SharedDir joined with rel; it fails or skips like SharedDir
// when the file itself is missing.
func SharedFile(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(SharedDir(t), rel)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared file missing: %v", err)
		}
		t.Skipf("shared file missing: %v", err)
	}
	return p
}

func findShared() (string, bool) {
	if d := os.Getenv("LANEWATCH_SHARED"); d != "" {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d, true
		}
		return "", false
	}
	// Walk up from this source file to the repository root, then look beside it.
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	for i := 0; i < 6; i++ {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			cand := filepath.Join(filepath.Dir(dir), "shared")
			if st, err := os.Stat(filepath.Join(cand, "media")); err == nil && st.IsDir() {
				return cand, true
			}
			return "", false
		}
		dir = filepath.Dir(dir)
	}
	return "", false
}

// RepoRoot returns the repository root (the folder holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// FreeAddr returns a free 127.0.0.1:port. There is a small window in which
// another process could take the port; callers that start servers retry.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}
