package auth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The audit log is rotated by day: audit.log holds the entries of one UTC
// day; when an entry of a later day comes (or at start, or on RotateAudit)
// it is renamed audit-YYYYMMDD.log after the day of its last entry, and the
// rotated files whose day is older than the retention are deleted. Entries
// are thereby kept at least the retention and at most a day longer.

func auditDay(t time.Time) string { return t.UTC().Format("20060102") }

// lastEntryTime is the time of the file's last entry, or its modification
// time when that line does not parse (a torn write).
func lastEntryTime(path string, fi os.FileInfo) time.Time {
	f, err := os.Open(path)
	if err != nil {
		return fi.ModTime()
	}
	defer f.Close()
	const tail = 64 << 10
	off := max(fi.Size()-tail, 0)
	buf := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil {
		return fi.ModTime()
	}
	lines := bytes.Split(bytes.TrimRight(buf, "\n"), []byte("\n"))
	var e Entry
	if json.Unmarshal(lines[len(lines)-1], &e) != nil || e.Time.IsZero() {
		return fi.ModTime()
	}
	return e.Time
}

// rotatedName is the name of the rotated file of day.
func (l *auditLog) rotatedName(day string) string {
	ext := filepath.Ext(l.path)
	return strings.TrimSuffix(l.path, ext) + "-" + day + ext
}

// rotateLocked rotates the current file if its day is before now's, then
// deletes rotated files past the retention. Called with l.mu held.
func (l *auditLog) rotateLocked(now time.Time) error {
	if l.day != "" && l.day < auditDay(now) {
		if err := l.f.Close(); err != nil {
			return fmt.Errorf("auth: audit rotate: %w", err)
		}
		l.f = nil
		dst := l.rotatedName(l.day)
		if _, err := os.Stat(dst); err == nil {
			// A rotated file of that day exists (clock set back): keep both.
			dst = l.rotatedName(l.day + "-" + fmt.Sprint(now.UnixNano()))
		}
		if err := os.Rename(l.path, dst); err != nil {
			// Keep writing to the old file rather than lose entries.
			if oerr := l.open(); oerr != nil {
				return fmt.Errorf("auth: audit rotate: %w (reopen: %v)", err, oerr)
			}
			return fmt.Errorf("auth: audit rotate: %w", err)
		}
		if err := l.open(); err != nil {
			return err
		}
	}
	return l.pruneLocked(now)
}

func (l *auditLog) pruneLocked(now time.Time) error {
	if l.retention <= 0 {
		return nil
	}
	cutoff := auditDay(now.Add(-l.retention))
	ext := filepath.Ext(l.path)
	prefix := strings.TrimSuffix(filepath.Base(l.path), ext) + "-"
	entries, err := os.ReadDir(filepath.Dir(l.path))
	if err != nil {
		return fmt.Errorf("auth: audit prune: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, ext) {
			continue
		}
		day := strings.TrimSuffix(strings.TrimPrefix(name, prefix), ext)
		if len(day) < 8 || !allDigits(day[:8]) {
			continue
		}
		// The whole day must be past the cutoff: its last entry may be late in it.
		if day[:8] < cutoff {
			if err := os.Remove(filepath.Join(filepath.Dir(l.path), name)); err != nil {
				return fmt.Errorf("auth: audit prune: %w", err)
			}
		}
	}
	return nil
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// RotateAudit rotates the audit log if its day is over and deletes rotated
// files past AuditRetention; writes do the same, this call covers quiet days.
func (a *Auth) RotateAudit() error {
	a.audit.mu.Lock()
	defer a.audit.mu.Unlock()
	if a.audit.f == nil {
		return errAuditClosed
	}
	return a.audit.rotateLocked(a.now())
}

// AuditFiles lists the audit log's files, rotated ones (oldest first) then
// the current one: ReadAudit each for the whole history.
func AuditFiles(path string) ([]string, error) {
	ext := filepath.Ext(path)
	rotated, err := filepath.Glob(strings.TrimSuffix(path, ext) + "-*" + ext)
	if err != nil {
		return nil, err
	}
	return append(rotated, path), nil // Glob sorts: day order
}
