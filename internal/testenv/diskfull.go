package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// SmallDisk is a small file system of its own (a tmpfs) for tests of what
// the gateway does when its data_dir runs out of space.
type SmallDisk struct {
	Dir     string
	ballast string
}

// NewSmallDisk mounts a tmpfs of size (as mount(8) takes it: "2m") on a
// temporary directory, unmounted at the end of the test. Where mounting is
// impossible (not root, no CAP_SYS_ADMIN) the test is skipped with the
// reason, except under CI=true, where it fails.
func NewSmallDisk(t testing.TB, size string) *SmallDisk {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size="+size+",mode=0700"); err != nil {
		missing(t, "a tmpfs for the full-disk test (mount -t tmpfs -o size="+size+": "+err.Error()+"; run as root or with CAP_SYS_ADMIN)")
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return &SmallDisk{Dir: dir, ballast: filepath.Join(dir, ".ballast")}
}

// Fill writes a ballast file until the file system is full (ENOSPC).
func (d *SmallDisk) Fill(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(d.ballast, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatalf("filling %s: %v", d.Dir, err)
		}
	}
}

// Free removes the ballast: the space is back.
func (d *SmallDisk) Free(t testing.TB) {
	t.Helper()
	if err := os.Remove(d.ballast); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
}
