package vehicles

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lanewatch/lanewatch/internal/sensors"
)

// KeyFile is the pseudonymisation key's file under data_dir. It is kept
// apart from vehicles.db, which holds the pseudonyms: a copy of the
// database alone does not let anyone test a guessed plate against them.
const KeyFile = "plate.key"

const keyLen = sensors.SaltLen

// loadKey reads data_dir/plate.key, creating it (32 random bytes, 0600) on
// first start the way the credential salt is made. A key that older
// versions kept inside vehicles.db is moved to the file, so that the
// pseudonyms made with it stay comparable, and removed from the database.
func (l *Log) loadKey() ([]byte, error) {
	path := filepath.Join(l.cfg.DataDir, KeyFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		var legacy []byte
		if err := l.db.View(func(tx *bolt.Tx) error {
			if s := tx.Bucket(bucketMeta).Get(keySecret); len(s) == keyLen {
				legacy = append([]byte(nil), s...)
			}
			return nil
		}); err != nil {
			return nil, err
		}
		if legacy != nil {
			if err := writeFileAtomic(path, legacy, 0o600); err != nil {
				return nil, fmt.Errorf("vehicles: key: %w", err)
			}
		}
	}
	key, err := sensors.LoadOrCreateSalt(path)
	if err != nil {
		return nil, fmt.Errorf("vehicles: key: %w", err)
	}
	if len(key) != keyLen {
		return nil, fmt.Errorf("vehicles: key %s: %d bytes, want %d (restore it from a backup, or delete it to start new pseudonyms)", path, len(key), keyLen)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		l.log.Warn("pseudonymisation key readable by others; tightening to 0600", "file", path, "mode", fi.Mode().Perm())
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, fmt.Errorf("vehicles: key: %w", err)
		}
	}
	return key, l.forgetDBKey()
}

// forgetDBKey removes a key left in vehicles.db by older versions.
func (l *Log) forgetDBKey() error {
	return l.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta.Get(keySecret) == nil {
			return nil
		}
		return meta.Delete(keySecret)
	})
}

func writeFileAtomic(path string, b []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// PlateOutside is the plate as it may leave the vehicle log for metrics
// (InfluxDB): a plate on the watch list as it is, since finding it is the
// point of the list; any other as its keyed pseudonym (AnonPrefix + hex
// HMAC-SHA256 with the key in plate.key), which still counts repeat visits.
func (l *Log) PlateOutside(p string) string {
	if p == "" || l.watch[p] {
		return p
	}
	return l.pseudonym(p)
}

// PruneVisitors removes the visitor plates whose window has ended: past it
// the plate classifies as unknown anyway, and a plate is personal data.
func (l *Log) PruneVisitors(now time.Time) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var gone []string
	for p, v := range l.visitors {
		if !v.ValidUntil.After(now) {
			gone = append(gone, p)
		}
	}
	if len(gone) == 0 {
		return 0, nil
	}
	if err := l.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketVisitors)
		for _, p := range gone {
			if err := b.Delete([]byte(p)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return 0, fmt.Errorf("vehicles: prune visitors: %w", err)
	}
	for _, p := range gone {
		delete(l.visitors, p)
	}
	l.log.Info("expired visitor plates removed", "visitors", len(gone))
	return len(gone), nil
}
