package auth

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Entry is one line of the audit log.
type Entry struct {
	Time    time.Time         `json:"time"`
	User    string            `json:"user"`
	Role    string            `json:"role"`
	Action  string            `json:"action"` // login, login_failed, logout, ack, resolve, resend, gate_open, visitor_add, visitor_remove
	Target  string            `json:"target,omitempty"`
	Details map[string]string `json:"details,omitempty"`
	// Gateway that wrote it, in the site-wide log of a cluster.
	Gateway string `json:"gateway,omitempty"`
}

type auditLog struct {
	now       func() time.Time
	path      string
	retention time.Duration // rotated files older than this are deleted; 0 keeps them
	mu        sync.Mutex
	f         *os.File
	day       string // UTC day (YYYYMMDD) of the current file's entries; "" while empty
}

func openAudit(path string, now func() time.Time, retention time.Duration) (*auditLog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("auth: audit log: %w", err)
	}
	l := &auditLog{now: now, path: path, retention: retention}
	if err := l.open(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.rotateLocked(now()); err != nil {
		l.f.Close()
		return nil, err
	}
	return l, nil
}

func (l *auditLog) open() error {
	// O_APPEND: the log is only ever added to, never rewritten.
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("auth: audit log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("auth: audit log: %w", err)
	}
	l.f, l.day = f, ""
	if fi.Size() > 0 {
		l.day = auditDay(lastEntryTime(l.path, fi))
	}
	return nil
}

var errAuditClosed = errors.New("auth: audit log closed")

func (l *auditLog) write(e *Entry) error {
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("auth: audit: %w", err)
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return errAuditClosed
	}
	if err := l.rotateLocked(e.Time); err != nil {
		return err
	}
	if l.day == "" {
		l.day = auditDay(e.Time)
	}
	fi, serr := l.f.Stat()
	if _, err := l.f.Write(b); err != nil {
		// A short write (disk full) would leave half a line that the next
		// entry is glued to; cut it off so the log stays whole.
		if serr == nil {
			_ = l.f.Truncate(fi.Size())
		}
		return fmt.Errorf("auth: audit: %w", err)
	}
	// Audited actions are rare (a human clicked); syncing each keeps the record
	// of a gate opening even across a power cut right after it.
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("auth: audit: %w", err)
	}
	return nil
}

func (l *auditLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// Audit appends an action by p to the audit log. Callers must not put secrets
// in details.
func (a *Auth) Audit(p Principal, action, target string, details map[string]string) error {
	e := Entry{User: p.Name, Role: p.Role.String(), Action: action, Target: target, Details: details}
	err := a.audit.write(&e)
	if err != nil {
		// Throttled: a full disk would otherwise log every failed login.
		a.errLog.Logf(slog.LevelError, "audit", "audit log write failed", "action", action, "err", err)
	}
	if a.cfg.AuditCopy != nil {
		// Even when the local write failed: the site-wide copy may be the
		// only record left.
		a.cfg.AuditCopy(e)
	}
	return err
}

// ReadAudit reads every entry of an audit log file, oldest first.
func ReadAudit(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read audit: %w", err)
	}
	defer f.Close()
	var out []Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return out, fmt.Errorf("auth: read audit: line %d: %w", len(out)+1, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}
