package incidents

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/lanewatch/lanewatch/internal/evidence"
	"github.com/lanewatch/lanewatch/internal/incident"
)

// The evidence store asks the engine which incidents are open while the
// engine is saving a snapshot: this must not deadlock, and the cap must spare
// the open incidents.
func TestWithEvidenceStoreAtCap(t *testing.T) {
	dir := t.TempDir()
	ev, err := evidence.Open(evidence.Config{Dir: filepath.Join(dir, "evidence"), MaxBytes: 2500})
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(EngineConfig{DataDir: dir, Evidence: ev})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ev.SetIsOpen(e.IsOpen)
	ch, cancel := e.Subscribe()
	defer cancel()
	var ids []string
	for _, zone := range []string{"a", "b", "c"} {
		e.Raise(incident.Signal{Type: incident.Intrusion, Source: incident.Source{Camera: "lawn", Zone: zone}, Snapshot: bytes.Repeat([]byte(zone), 1000)})
		ids = append(ids, next(t, ch).Incident.ID)
	}
	if _, err := e.Resolve(ids[1], "p", ""); err != nil {
		t.Fatal(err)
	}
	e.Raise(incident.Signal{Type: incident.Intrusion, Source: incident.Source{Camera: "lawn", Zone: "d"}, Snapshot: bytes.Repeat([]byte("d"), 1000)})
	next(t, ch)
	next(t, ch)
	// Cap 2500 holds two of four 1000-byte snapshots: the resolved b went
	// first, then the oldest open one (a); c and d are kept.
	for i, want := range []bool{false, false, true} {
		if _, err := ev.Snapshot(ids[i]); (err == nil) != want {
			t.Errorf("snapshot of incident %d kept=%v, want %v", i, err == nil, want)
		}
	}
}
