package incidents

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// On a full disk an SOS and an ack are refused as "not stored" (never a
// panic, never a silent success), kept in memory, and on disk once space
// is back, also across a restart.
func TestFullDiskIncidentsKeptUntilStored(t *testing.T) {
	disk := testenv.NewSmallDisk(t, "2m")
	e, _, ch := newTestEngine(t, disk.Dir, config.Incidents{})
	ctx := context.Background()
	if err := e.RaiseWait(ctx, incident.Signal{Type: incident.GateForced, Source: incident.Source{Gate: "north"}}); err != nil {
		t.Fatal(err)
	}
	disk.Fill(t)
	// bbolt has free pages in its file, so some writes still fit: raise an
	// SOS and ack it until both a raise and an ack were refused. Every one of
	// them, refused or not, must be on disk in the end.
	want := map[string]bool{next(t, ch).Incident.ID: false}
	var raiseRefused, ackRefused bool
	for i := 0; i < 2000 && !(raiseRefused && ackRefused); i++ {
		err := e.RaiseWait(ctx, incident.Signal{Type: incident.SOS, Source: incident.Source{Gate: fmt.Sprint("g", i)}})
		if err != nil && !errors.Is(err, ErrNotStored) {
			t.Fatal(err)
		}
		raiseRefused = raiseRefused || err != nil
		c := next(t, ch)
		for c.Kind != Opened {
			c = next(t, ch)
		}
		want[c.Incident.ID] = true
		if _, err = e.Ack(c.Incident.ID, "guard-1", "on my way"); err != nil && !errors.Is(err, ErrNotStored) {
			t.Fatal(err)
		}
		ackRefused = ackRefused || err != nil
	}
	if !raiseRefused || !ackRefused {
		t.Fatalf("on a full disk: a raise refused %v, an ack refused %v; want both", raiseRefused, ackRefused)
	}
	if e.StoreErr() == nil {
		t.Fatal("StoreErr nil while incidents wait")
	}

	disk.Free(t)
	eventually(t, func() bool { return e.StoreErr() == nil }) // the sweep writes them
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	e.Close()

	e2, _, _ := newTestEngine(t, disk.Dir, config.Incidents{})
	for id, acked := range want {
		inc, err := e2.Get(id)
		if err != nil {
			t.Fatalf("incident %s lost: %v", id, err)
		}
		if acked && (inc.State != incident.Acknowledged || len(inc.Acks) != 1 || inc.Acks[0].By != "guard-1") {
			t.Fatalf("ack lost: %+v", inc)
		}
	}
}
