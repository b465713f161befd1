// Package storecheck opens and checks the stores under data_dir so that a
// damaged or truncated file is one clear line naming it and what to do,
// never a Go panic: bbolt panics (or faults on its memory map) on some
// damaged pages, so every open runs bbolt's own consistency check (Tx.Check)
// with panics recovered and memory faults turned into panics
// (debug.SetPanicOnFault), after comparing the file's size with what its
// meta page says it holds (a truncated file would fault on the missing tail).
package storecheck

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CorruptError says that a store's file is damaged and what to do.
type CorruptError struct {
	Path   string
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s is damaged (%s): stop lanewatch and move it aside (mv %s %s.damaged); lanewatch then starts with an empty one, "+
		"and `lanewatch check --data` reports every store", e.Path, e.Reason, e.Path, e.Path)
}

// ErrMissing: the store's file does not exist (yet): it is created at the
// first start.
var ErrMissing = errors.New("missing")

// ErrBusy: the file is locked by a running lanewatch.
var ErrBusy = errors.New("in use by a running lanewatch (stop it to check this file)")

// OpenBolt is bolt.Open for a store that must not take the process down
// when its file is damaged: it returns a *CorruptError instead, after
// checking every page. Other errors (permissions, lock timeout) are returned
// as they are.
func OpenBolt(path string, mode os.FileMode, opts *bolt.Options) (*bolt.DB, error) {
	return openChecked(path, mode, opts)
}

// CheckBolt reports the state of the bbolt file at path without changing
// it: nil (ok), ErrMissing, ErrBusy, a *CorruptError, or another error.
func CheckBolt(path string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return ErrMissing
	}
	// Not ReadOnly: bbolt then loads the free list only inside Tx.Check,
	// on a goroutine where a panic on a damaged list cannot be recovered.
	// Opening a valid file for writing writes nothing.
	db, err := openChecked(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return ErrBusy
	}
	if err != nil {
		return err
	}
	return db.Close()
}

func openChecked(path string, mode os.FileMode, opts *bolt.Options) (db *bolt.DB, err error) {
	// A read past the end of a truncated file's memory map is a fault, not
	// a panic, unless asked for; per goroutine, so restored on return.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	// bbolt's own file, so that a panic inside bolt.Open does not leave it
	// open and locked (the next open in this process would wait for ever).
	var f *os.File
	o := bolt.Options{}
	if opts != nil {
		o = *opts
	}
	open := o.OpenFile
	if open == nil {
		open = os.OpenFile
	}
	o.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		var err error
		f, err = open(name, flag, perm)
		return f, err
	}
	defer func() {
		if r := recover(); r != nil {
			// Closing the file does not drop bbolt's lock while its memory
			// map lives (unreachable here): a second open of this file in
			// the same process times out. The gateway exits; check --data
			// opens each file once.
			if f != nil {
				_ = f.Close()
			}
			db, err = nil, &CorruptError{Path: path, Reason: fmt.Sprintf("unreadable: %v", r)}
		}
	}()
	// bbolt would make a new database of an empty file and refuse one under
	// two pages with a less clear error: both are a file cut short.
	if fi, err := os.Stat(path); err == nil && fi.Size() < 2*int64(os.Getpagesize()) && fi.Size() < 8192 {
		return nil, &CorruptError{Path: path, Reason: fmt.Sprintf("truncated: %d bytes", fi.Size())}
	}
	if err := checkSize(path); err != nil {
		return nil, &CorruptError{Path: path, Reason: err.Error()}
	}
	db, err = bolt.Open(path, mode, &o)
	if err != nil {
		if isCorruptOpenErr(err) {
			return nil, &CorruptError{Path: path, Reason: err.Error()}
		}
		return nil, err
	}
	if err := check(db); err != nil {
		_ = db.Close()
		return nil, &CorruptError{Path: path, Reason: err.Error()}
	}
	return db, nil
}

// isCorruptOpenErr tells the errors of bolt.Open that mean a damaged file
// from those of the environment (permissions, lock timeout).
func isCorruptOpenErr(err error) bool {
	if errors.Is(err, bolt.ErrInvalid) || errors.Is(err, bolt.ErrChecksum) || errors.Is(err, bolt.ErrVersionMismatch) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "file size too small") || strings.Contains(s, "invalid") || strings.Contains(s, "freelist")
}

// check compares the file's size with the meta page's high-water mark,
// reads every key and value of every bucket (on this goroutine, where a
// panic or fault is recovered), then runs bbolt's consistency check. That
// one runs on a goroutine of bbolt's own, beyond recover: it comes last, so
// that pages it reads have been read once already.
func check(db *bolt.DB) error {
	fi, err := os.Stat(db.Path())
	if err != nil {
		return err
	}
	return db.View(func(tx *bolt.Tx) error {
		if need := tx.Size(); fi.Size() < need {
			return fmt.Errorf("truncated: the file has %d bytes, its index refers to %d", fi.Size(), need)
		}
		if err := tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(b) }); err != nil {
			return err
		}
		var errs []string
		for err := range tx.Check() {
			if len(errs) < 3 {
				errs = append(errs, err.Error())
			}
		}
		if len(errs) > 0 {
			return errors.New(strings.Join(errs, "; "))
		}
		return nil
	})
}

// walk touches every key and value under b (one byte in every page of a
// value), nested buckets included.
func walk(b *bolt.Bucket) error {
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			if nb := b.Bucket(k); nb != nil {
				return walk(nb)
			}
			return nil
		}
		for i := 0; i < len(v); i += 4096 {
			sink ^= v[i]
		}
		if len(v) > 0 {
			sink ^= v[len(v)-1]
		}
		return nil
	})
}

// sink keeps the reads of walk from being optimised away.
var sink byte

// checkSize reads the meta pages itself and compares the file's size with
// the newer valid meta page's high-water mark: bbolt would read past the end
// of a truncated file's memory map (a fault), or panic on its free list.
func checkSize(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // missing (bbolt creates it) or unreadable (bolt.Open says so)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil
	}
	var best struct{ pageSize, pgid, txid uint64 }
	for _, off := range []int64{0, -1} {
		buf := make([]byte, 80)
		if off == -1 {
			if best.pageSize == 0 {
				off = 4096 // the first meta page was unreadable: try the usual size
			} else {
				off = int64(best.pageSize)
			}
		}
		if _, err := f.ReadAt(buf, off); err != nil {
			continue
		}
		// page header 16 bytes, then meta: magic, version, pageSize, flags
		// (4 bytes each), root bucket (16), freelist, pgid, txid (8 each).
		m := buf[16:]
		if binary.LittleEndian.Uint32(m[0:]) != 0xED0CDAED {
			continue
		}
		ps := uint64(binary.LittleEndian.Uint32(m[8:]))
		pgid, txid := binary.LittleEndian.Uint64(m[40:]), binary.LittleEndian.Uint64(m[48:])
		if best.pageSize == 0 || txid > best.txid {
			best.pageSize, best.pgid, best.txid = ps, pgid, txid
		}
	}
	if best.pageSize == 0 {
		return nil // bolt.Open says what is wrong
	}
	if need := best.pgid * best.pageSize; uint64(fi.Size()) < need {
		return fmt.Errorf("truncated: the file has %d bytes, its index refers to %d", fi.Size(), need)
	}
	return nil
}
