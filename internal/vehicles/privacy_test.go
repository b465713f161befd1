package vehicles

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/sensors"
)

// TestKeyKeptApartFromPseudonyms: the pseudonymisation key lives in
// data_dir/plate.key (0600), not in vehicles.db with the pseudonyms; it
// survives restarts (same plate, same pseudonym), and a key an older version
// left in vehicles.db moves to the file with the pseudonyms made with it
// still matching.
func TestKeyKeptApartFromPseudonyms(t *testing.T) {
	e := newEnv(t, config.Vehicles{})
	keyPath := filepath.Join(e.dir, KeyFile)
	fi, err := os.Stat(keyPath)
	if err != nil {
		t.Fatalf("no key file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	key, _ := os.ReadFile(keyPath)
	if len(key) != keyLen || !bytes.Equal(key, e.log.secret) {
		t.Fatalf("key file holds %d bytes, not the key in use", len(key))
	}
	pseud := e.log.pseudonym("A12345")
	e.log.Close()
	db, _ := os.ReadFile(filepath.Join(e.dir, "vehicles.db"))
	if bytes.Contains(db, key) {
		t.Fatal("vehicles.db contains the pseudonymisation key")
	}
	e.open(t)
	if got := e.log.pseudonym("A12345"); got != pseud {
		t.Fatalf("pseudonym changed across a restart: %s, was %s", got, pseud)
	}

	// An older layout: the key in vehicles.db's meta bucket, no key file.
	e.log.Close()
	legacy := bytes.Repeat([]byte{7}, keyLen)
	bdb, err := bolt.Open(filepath.Join(e.dir, "vehicles.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySecret, legacy) }); err != nil {
		t.Fatal(err)
	}
	bdb.Close()
	os.Remove(keyPath)
	e.open(t)
	if !bytes.Equal(e.log.secret, legacy) {
		t.Fatal("the key of the older layout was not taken over")
	}
	if got, _ := os.ReadFile(keyPath); !bytes.Equal(got, legacy) {
		t.Fatal("the key of the older layout was not moved to plate.key")
	}
	e.log.Close()
	db, _ = os.ReadFile(filepath.Join(e.dir, "vehicles.db"))
	if bytes.Contains(db, legacy) {
		t.Fatal("the key of the older layout is still in vehicles.db")
	}
	e.open(t)

	// A key file others can read is tightened; one of the wrong size is an error.
	os.Chmod(keyPath, 0o644)
	e.reopen(t)
	if fi, _ := os.Stat(keyPath); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v after start, want 0600", fi.Mode().Perm())
	}
	e.log.Close()
	os.WriteFile(keyPath, []byte("short"), 0o600)
	if _, err := Open(Config{DataDir: e.dir, Vehicles: config.Vehicles{}}); err == nil || !strings.Contains(err.Error(), KeyFile) {
		t.Fatalf("short key file: %v", err)
	}
}

// TestPlateOutside: what leaves for metrics is the keyed pseudonym, except
// for plates on the watch list.
func TestPlateOutside(t *testing.T) {
	e := newEnv(t, config.Vehicles{Watchlist: []string{"B99"}})
	out := e.log.PlateOutside("A12345")
	if out == "A12345" || !strings.HasPrefix(out, AnonPrefix) || len(out) != len(AnonPrefix)+64 {
		t.Fatalf("unlisted plate leaves as %q", out)
	}
	if out != e.log.pseudonym("A12345") || e.log.PlateOutside("A12345") != out {
		t.Fatal("pseudonym not stable")
	}
	if got := e.log.PlateOutside("B99"); got != "B99" {
		t.Fatalf("watch-listed plate leaves as %q", got)
	}
}

// TestExpiredVisitorsPruned: a visitor plate whose window has ended is
// removed, at start and by the periodic run; one still valid stays.
func TestExpiredVisitorsPruned(t *testing.T) {
	e := newEnv(t, config.Vehicles{})
	for _, v := range []Visitor{{Plate: "AA1", ValidFrom: t0, ValidUntil: t0.Add(time.Hour)}, {Plate: "BB2", ValidFrom: t0, ValidUntil: t0.Add(48 * time.Hour)}} {
		if err := e.log.AddVisitor(v); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := e.log.PruneVisitors(t0.Add(30 * time.Minute)); n != 0 || err != nil {
		t.Fatalf("pruned %d (%v) while both valid", n, err)
	}
	e.clk.Set(t0.Add(2 * time.Hour))
	e.reopen(t)
	if vs := e.log.Visitors(); len(vs) != 1 || vs[0].Plate != "BB2" {
		t.Fatalf("visitors after AA1 expired and a restart: %+v", vs)
	}
	e.reopen(t) // gone from the store too, not only from memory
	if vs := e.log.Visitors(); len(vs) != 1 {
		t.Fatalf("visitors after second restart: %+v", vs)
	}
	if n, _ := e.log.PruneVisitors(t0.Add(49 * time.Hour)); n != 1 || len(e.log.Visitors()) != 0 {
		t.Fatalf("BB2 not pruned after its window: %d", n)
	}
	// A passage of the expired visitor is unknown, as before pruning.
	e.log.Handle(ev(sensors.PlateRead, "n", 50*3600, "BB2", sensors.In))
	if ps := e.log.Passages(Query{Plate: "BB2"}); len(ps) != 1 || ps[0].Class != ClassUnknown {
		t.Fatalf("passage of an expired visitor: %+v", ps)
	}
}
