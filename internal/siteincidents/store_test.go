package siteincidents

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func startStore(t testing.TB, url, self string, reg prometheus.Registerer) *Store {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	s := &Store{Conn: nc, Self: self, Logger: quiet, Registerer: reg}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	select {
	case <-s.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("bucket not ready")
	}
	return s
}

func change(id string, v int, st incident.State, gate string) incidents.Change {
	return incidents.Change{Kind: incidents.Opened, Incident: incident.Incident{ID: id, Version: v, State: st,
		Type: incident.SOS, Source: incident.Source{Gate: gate}, Acks: []incident.Ack{}}}
}

// The site's bucket on a real JetStream server, as two gateways use it:
// what one writes the other lists, gets and is told of; a stale write
// never replaces a newer version, and the opener stays the origin.
func TestSiteViewAcrossGateways(t *testing.T) {
	url := testenv.StartNATS(t, true, 0)
	regA := prometheus.NewRegistry()
	a := startStore(t, url, "gw-a", regA)
	ctx := context.Background()
	for _, c := range []incidents.Change{change("inc_0001", 1, incident.Open, "north"), change("inc_0002", 1, incident.Open, "south"),
		change("inc_0002", 2, incident.Acknowledged, "south")} {
		if err := a.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	// A second gateway started later sees what was written before it, and
	// what is written after.
	bst := startStore(t, url, "gw-b", nil)
	sub, cancel := bst.Subscribe()
	defer cancel()
	if err := a.Put(ctx, change("inc_0003", 1, incident.Open, "north")); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-sub:
		if r.Incident.ID != "inc_0003" || r.Gateway != "gw-a" || r.Incident.Version != 1 {
			t.Fatalf("change seen by gw-b: %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("gw-b saw no change")
	}
	list := bst.List(incidents.Filter{})
	if len(list) != 3 || list[0].Incident.ID != "inc_0003" || list[2].Incident.ID != "inc_0001" {
		t.Fatalf("list on gw-b: %+v", list)
	}
	if r, ok := bst.Get("inc_0002"); !ok || r.Version != 2 || r.Incident.State != incident.Acknowledged || r.Gateway != "gw-a" {
		t.Fatalf("inc_0002 on gw-b: %+v %v", r, ok)
	}
	tests := []struct {
		name string
		f    incidents.Filter
		want []string
	}{
		{"state", incidents.Filter{State: incident.Open}, []string{"inc_0003", "inc_0001"}},
		{"gate", incidents.Filter{Gate: "south"}, []string{"inc_0002"}},
		{"before", incidents.Filter{Before: "inc_0003", Limit: 1}, []string{"inc_0002"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := bst.List(tc.f)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d records, want %v", len(got), tc.want)
			}
			for i, r := range got {
				if r.Incident.ID != tc.want[i] {
					t.Fatalf("got %s at %d, want %v", r.Incident.ID, i, tc.want)
				}
			}
		})
	}
	// gw-b adopts inc_0002 and writes version 3; a late write of version 2
	// by gw-a (a gateway back from the dead) does not replace it.
	adopted := change("inc_0002", 3, incident.Resolved, "south")
	if err := bst.Put(ctx, adopted); err != nil {
		t.Fatal(err)
	}
	if err := a.Put(ctx, change("inc_0002", 2, incident.Acknowledged, "south")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, _ := a.Get("inc_0002")
		if r.Version == 3 && r.Gateway == "gw-b" && r.Origin == "gw-a" && r.Incident.State == incident.Resolved {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gw-a's view of inc_0002: %+v", r)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Claims: one adopter of a dead gw-a's incident; a second one, with a
	// stale view, is refused and must let go.
	if err := bst.Claim(ctx, "inc_0001", "gw-a"); err != nil {
		t.Fatal(err)
	}
	if r, _ := bst.Get("inc_0001"); r.Gateway != "gw-b" || r.Origin != "gw-a" || r.Version != 1 || r.Kind != "adopted" {
		t.Fatalf("claimed record: %+v", r)
	}
	if err := bst.Claim(ctx, "inc_0001", "gw-a"); err != nil {
		t.Fatalf("claiming again what gw-b holds: %v", err)
	}
	cst := startStore(t, url, "gw-c", nil)
	if err := cst.Claim(ctx, "inc_0001", "gw-a"); !errors.Is(err, ErrStale) {
		t.Fatalf("second claim: %v, want ErrStale", err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for r, _ := a.Get("inc_0001"); r.Gateway != "gw-b"; r, _ = a.Get("inc_0001") {
		if time.Now().After(deadline) {
			t.Fatalf("gw-a's view of the claim: %+v", r)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Sync: at once for what the bucket holds, a timeout (counted) for what it does not.
	if err := bst.Sync(ctx, map[string]int{"inc_0002": 3, "inc_0001": 1}); err != nil {
		t.Fatal(err)
	}
	late, cancelLate := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelLate()
	if err := bst.Sync(late, map[string]int{"inc_0002": 4}); err == nil {
		t.Fatal("sync to a version never written succeeded")
	}
	if n := testutil.ToFloat64(bst.m.syncLate); n != 1 {
		t.Fatalf("sync timeouts counted %v, want 1", n)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		_ = a.Put(ctx, change("inc_0004", 1, incident.Open, "east"))
	}()
	soon, cancelSoon := context.WithTimeout(ctx, 5*time.Second)
	defer cancelSoon()
	if err := bst.Sync(soon, map[string]int{"inc_0004": 1}); err != nil {
		t.Fatalf("sync to a version written meanwhile: %v", err)
	}
	if n := testutil.ToFloat64(a.m.writes.WithLabelValues("stale")); n != 1 {
		t.Fatalf("stale writes counted %v, want 1", n)
	}
	if n := testutil.ToFloat64(bst.m.known); n != 4 {
		t.Fatalf("known incidents %v, want 4", n)
	}
}
