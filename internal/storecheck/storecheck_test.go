package storecheck

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// makeDB writes a bbolt file of several pages (two buckets, a nested one,
// values past one page) and returns its path and page size.
func makeDB(t *testing.T) (string, int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		a, _ := tx.CreateBucketIfNotExists([]byte("a"))
		for i := range 500 {
			if err := a.Put(fmt.Appendf(nil, "key-%04d", i), bytes.Repeat([]byte{byte(i)}, 100)); err != nil {
				return err
			}
		}
		nb, _ := a.CreateBucketIfNotExists([]byte("nested"))
		if err := nb.Put([]byte("big"), bytes.Repeat([]byte("x"), 20000)); err != nil {
			return err
		}
		b, _ := tx.CreateBucketIfNotExists([]byte("b"))
		return b.Put([]byte("k"), []byte("v"))
	})
	if err != nil {
		t.Fatal(err)
	}
	ps := db.Info().PageSize
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path, ps
}

func TestCheckBolt(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string, pageSize int)
		want   string // "" ok, "corrupt", "missing"
	}{
		{"ok", func(*testing.T, string, int) {}, ""},
		{"missing", func(t *testing.T, path string, _ int) { os.Remove(path) }, "missing"},
		{"garbage", func(t *testing.T, path string, _ int) {
			os.WriteFile(path, bytes.Repeat([]byte("not a database "), 1000), 0o600)
		}, "corrupt"},
		{"empty", func(t *testing.T, path string, _ int) { os.Truncate(path, 0) }, "corrupt"},
		{"truncated to half", func(t *testing.T, path string, _ int) {
			fi, _ := os.Stat(path)
			os.Truncate(path, fi.Size()/2)
		}, "corrupt"},
		{"both meta pages damaged", func(t *testing.T, path string, ps int) {
			f, _ := os.OpenFile(path, os.O_WRONLY, 0)
			f.WriteAt(bytes.Repeat([]byte{0xAB}, 2*ps), 0)
			f.Close()
		}, "corrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, ps := makeDB(t)
			tc.damage(t, path, ps)
			err := CheckBolt(path)
			assertState(t, path, err, tc.want)
			if tc.want != "missing" {
				db, err := OpenBolt(path, 0o600, &bolt.Options{Timeout: time.Second})
				if db != nil {
					db.Close()
				}
				assertState(t, path, err, tc.want)
			}
		})
	}
}

// Every page past the meta pages damaged in turn: a clear error or ok (a
// free page), never a panic or a fault.
func TestCheckBoltEveryPageDamaged(t *testing.T) {
	path, ps := makeDB(t)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := 0
	for pg := 2; pg*ps < len(orig); pg++ {
		b := bytes.Clone(orig)
		for i := pg * ps; i < (pg+1)*ps; i++ {
			b[i] = byte(i*7 + pg)
		}
		// A file of its own each time: after a recovered panic bbolt's
		// lock stays with its memory map (see openChecked).
		p := fmt.Sprintf("%s.%d", path, pg)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		err := CheckBolt(p)
		var ce *CorruptError
		switch {
		case err == nil:
		case errors.As(err, &ce):
			corrupt++
		default:
			t.Fatalf("page %d: %v, want nil or a CorruptError", pg, err)
		}
	}
	if corrupt == 0 {
		t.Fatal("no damaged page was noticed")
	}
}

func assertState(t *testing.T, path string, err error, want string) {
	t.Helper()
	var ce *CorruptError
	switch want {
	case "":
		if err != nil {
			t.Fatalf("err = %v, want ok", err)
		}
	case "missing":
		if !errors.Is(err, ErrMissing) {
			t.Fatalf("err = %v, want ErrMissing", err)
		}
	case "corrupt":
		if !errors.As(err, &ce) {
			t.Fatalf("err = %v, want a CorruptError", err)
		}
		msg := err.Error()
		if !strings.Contains(msg, path) || !strings.Contains(msg, "move it aside") || strings.Contains(msg, "\n") {
			t.Fatalf("message does not name the file and what to do in one line: %q", msg)
		}
	}
}
