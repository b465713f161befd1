package devices

import (
	"errors"
	"strings"
	"testing"
)

func TestIssueVerifyRevoke(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	d, tok, err := s.Issue("巡逻 phone-3", "operator", "ada")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "lwd_") || len(tok) < 40 {
		t.Errorf("token %q", tok)
	}
	if got, ok := s.Verify(tok); !ok || got.ID != d.ID || got.Role != "operator" {
		t.Errorf("verify: %+v %v", got, ok)
	}
	if _, ok := s.Verify(tok + "x"); ok {
		t.Error("altered token accepted")
	}
	for _, c := range []struct{ name, role string }{
		{"", "viewer"}, {"x", "admin"}, {"x", ""}, {"bad/name", "viewer"}, {strings.Repeat("a", 70), "viewer"}, {"巡逻 phone-3", "viewer"},
	} {
		if _, _, err := s.Issue(c.name, c.role, "ada"); !errors.Is(err, ErrInvalid) {
			t.Errorf("issue %q %q: %v", c.name, c.role, err)
		}
	}
	d2, tok2, _ := s.Issue("wall-2", "viewer", "ada")
	s.Close()
	// Kept across restarts, as a hash only.
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if l := s.List(); len(l) != 2 || l[0].ID != d.ID {
		t.Fatalf("list after reopen %+v", l)
	}
	if _, ok := s.Verify(tok); !ok {
		t.Error("token lost on restart")
	}
	if _, err := s.Revoke(d.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Verify(tok); ok {
		t.Error("revoked token still works")
	}
	if got, ok := s.Verify(tok2); !ok || got.ID != d2.ID {
		t.Error("the other device was revoked too")
	}
	if _, err := s.Revoke(d.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke twice: %v", err)
	}
}
