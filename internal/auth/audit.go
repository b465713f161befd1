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
}

type auditLog struct {
	now func() time.Time
	mu  sync.Mutex
	f   *os.File
}

func openAudit(path string, now func() time.Time) (*auditLog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("auth: audit log: %w", err)
	}
	// O_APPEND: the log is only ever added to, never rewritten.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("auth: audit log: %w", err)
	}
	return &auditLog{now: now, f: f}, nil
}

var errAuditClosed = errors.New("auth: audit log closed")

func (l *auditLog) write(e Entry) error {
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
	if _, err := l.f.Write(b); err != nil {
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
	err := a.audit.write(Entry{User: p.Name, Role: p.Role.String(), Action: action, Target: target, Details: details})
	if err != nil {
		// Throttled: a full disk would otherwise log every failed login.
		a.errLog.Logf(slog.LevelError, "audit", "audit log write failed", "action", action, "err", err)
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
