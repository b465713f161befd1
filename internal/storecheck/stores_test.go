package storecheck_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/lanewatch/lanewatch/internal/outbox"
	"github.com/lanewatch/lanewatch/internal/storecheck"
	"github.com/lanewatch/lanewatch/internal/vehicles"
)

var quiet = slog.New(slog.DiscardHandler)

// Each store, given a damaged or truncated file, fails to open with the
// CorruptError naming the file (no panic), and Data reports it corrupt.
func TestStoresRefuseDamagedFiles(t *testing.T) {
	stores := []struct {
		file string
		open func(dir string) (func() error, error)
	}{
		{"incidents.db", func(dir string) (func() error, error) {
			e, err := incidents.New(incidents.EngineConfig{Site: "s", DataDir: dir, Logger: quiet})
			if err != nil {
				return nil, err
			}
			if err := e.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			return e.Close, nil
		}},
		{"outbox.db", func(dir string) (func() error, error) {
			o, err := outbox.Open(outbox.Config{Path: filepath.Join(dir, "outbox.db"), Platform: config.Platform{URL: "http://127.0.0.1:9"}, Logger: quiet})
			if err != nil {
				return nil, err
			}
			return o.Close, nil
		}},
		{"vehicles.db", func(dir string) (func() error, error) {
			l, err := vehicles.Open(vehicles.Config{DataDir: dir, Site: "s", Logger: quiet})
			if err != nil {
				return nil, err
			}
			return l.Close, nil
		}},
	}
	damages := map[string]func(t *testing.T, path string){
		"pages after the meta pages damaged": func(t *testing.T, path string) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for i := 2 * 4096; i < len(b); i++ {
				b[i] = byte(i * 13)
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"truncated": func(t *testing.T, path string) {
			if err := os.Truncate(path, 4096*3); err != nil {
				t.Fatal(err)
			}
		},
	}
	for _, st := range stores {
		for name, damage := range damages {
			t.Run(st.file+"/"+name, func(t *testing.T) {
				dir := t.TempDir()
				closeFn, err := st.open(dir) // a real file of this store
				if err != nil {
					t.Fatal(err)
				}
				if err := closeFn(); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(dir, st.file)
				grow(t, path)
				damage(t, path)

				_, err = st.open(dir)
				var ce *storecheck.CorruptError
				if !errors.As(err, &ce) || ce.Path != path || !strings.Contains(err.Error(), "move it aside") {
					t.Fatalf("open: %v, want a CorruptError naming %s", err, path)
				}
			})
		}
	}
}

// grow adds a bucket of data so that the file has pages past the first few.
func grow(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("zz-test"))
		if err != nil {
			return err
		}
		for i := range 300 {
			if err := b.Put(fmt.Appendf(nil, "k%04d", i), make([]byte, 200)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Data reports every store under data_dir: missing before the first start,
// ok, and corrupt for a damaged broker store, packet file or audit log.
func TestDataReport(t *testing.T) {
	dir := t.TempDir()
	for _, r := range storecheck.Data(dir) {
		if r.State() != "missing" || r.Damaged() {
			t.Fatalf("empty data_dir: %s", r)
		}
	}
	e, err := incidents.New(incidents.EngineConfig{Site: "s", DataDir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.Close()
	must(t, os.MkdirAll(filepath.Join(dir, "broker"), 0o700))
	must(t, os.WriteFile(filepath.Join(dir, "broker", "broker.bolt"), []byte(strings.Repeat("junk", 5000)), 0o600))
	must(t, os.MkdirAll(filepath.Join(dir, "mqtt-store"), 0o700))
	must(t, os.WriteFile(filepath.Join(dir, "mqtt-store", "o.1.msg"), []byte{0x32, 0xff, 0xff, 0xff, 0xff, 0x01}, 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "audit.log"), []byte("{\"user\":\"a\"}\n{\"user\":\"b\",\"act"), 0o600))

	got := map[string]string{}
	for _, r := range storecheck.Data(dir) {
		got[r.Store] = r.State()
	}
	want := map[string]string{"incidents.db": "ok", "outbox.db": "missing", "vehicles.db": "missing",
		"broker/broker.bolt": "corrupt", "mqtt-store/": "corrupt", "audit.log": "corrupt"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Data = %v, want %v", got, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
