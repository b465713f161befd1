// Package keyfile keeps a secret generated at first start in a file only the
// gateway's user can read (0600), for signing keys that must survive restarts.
package keyfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// LoadOrCreate returns the content of path, or, when it does not exist,
// writes gen's output there with mode 0600 and returns it. A file readable by
// others is refused: a leaked signing key cannot be taken back.
func LoadOrCreate(path string, gen func() ([]byte, error)) ([]byte, error) {
	b, err := load(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return b, err
	}
	b, err = gen()
	if err != nil {
		return nil, fmt.Errorf("keyfile %s: generate: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	// O_EXCL: two starts racing must not each write a different key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return load(path)
	}
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("keyfile %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("keyfile %s: %w", path, err)
	}
	return b, f.Close()
}

func load(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keyfile %s: mode %v, want 0600 (others must not read a signing key)", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("keyfile %s: empty", path)
	}
	return b, nil
}
