package sensors

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SaltLen is the size of a new salt; shorter salts on disk are refused.
const SaltLen = 32

// LoadOrCreateSalt returns the installation's credential salt from path,
// creating it (random, mode 0600) on first use. The salt must outlive
// restarts and upgrades: a new salt makes every stored credential hash
// unmatchable. Two processes racing on first start end up with one salt:
// the file is linked into place only if absent.
func LoadOrCreateSalt(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		if len(b) < 16 {
			return nil, fmt.Errorf("sensors: salt %s: %d bytes, want at least 16", path, len(b))
		}
		return b, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("sensors: salt: %w", err)
	}
	salt := make([]byte, SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sensors: salt: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".salt-*")
	if err != nil {
		return nil, fmt.Errorf("sensors: salt: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(salt); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("sensors: salt: %w", err)
	}
	// fsync before linking: after a power cut the name must not point at an
	// empty file.
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("sensors: salt: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("sensors: salt: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadOrCreateSalt(path) // someone else won the race
		}
		return nil, fmt.Errorf("sensors: salt: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return salt, nil
}
