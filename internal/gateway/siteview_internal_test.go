package gateway

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/lanewatch/lanewatch/internal/siteincidents"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// A gateway back with its disk lets go of an incident another gateway
// claimed while it was away, and keeps those nobody claimed.
func TestReleaseClaimedOnReturn(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	url := testenv.StartNATS(t, true, 0)
	store := func(self string) *siteincidents.Store {
		nc, err := nats.Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		st := &siteincidents.Store{Conn: nc, Self: self, Logger: quiet}
		if err := st.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		<-st.Ready()
		return st
	}
	eng := startEngine(t, quiet)
	a, b := store("gw-a"), store("gw-b")
	follow := a.Follower(eng)
	if err := follow.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { follow.Close() })
	ctx := context.Background()
	for _, gate := range []string{"north", "south"} {
		if err := eng.RaiseWait(ctx, incident.Signal{Type: incident.SOS, Source: incident.Source{Gate: gate}, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	ids := map[string]string{}
	for id := range eng.LiveVersions() {
		inc, _ := eng.Get(id)
		ids[inc.Source.Gate] = id
	}
	sync, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := b.Sync(sync, eng.LiveVersions()); err != nil {
		t.Fatal(err)
	}
	if err := b.Claim(ctx, ids["north"], "gw-a"); err != nil {
		t.Fatal(err)
	}
	for r, _ := a.Get(ids["north"]); r.Gateway != "gw-b"; r, _ = a.Get(ids["north"]) {
		if sync.Err() != nil {
			t.Fatal("gw-a never saw the claim")
		}
		time.Sleep(10 * time.Millisecond)
	}
	sv := &siteView{g: &Gateway{Incidents: eng, Config: &config.Config{GatewayID: "gw-a"}}, self: "gw-a", store: a}
	sv.releaseClaimed()
	if eng.IsOpen(ids["north"]) {
		t.Fatal("claimed incident still live on its old owner")
	}
	if !eng.IsOpen(ids["south"]) {
		t.Fatal("unclaimed incident released")
	}
	// It lists and shows the claimed one as the claimer's, its own as its own.
	sv.local = incidentStore{e: eng}
	if inc, err := sv.Get(ids["north"]); err != nil || inc.Gateway != "gw-b" {
		t.Fatalf("claimed incident shown as %q (%v)", inc.Gateway, err)
	}
	list, err := sv.List(console.IncidentFilter{Limit: 10})
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %+v %v", list, err)
	}
	for _, inc := range list {
		if want := map[string]string{ids["north"]: "gw-b", ids["south"]: "gw-a"}[inc.ID]; inc.Gateway != want {
			t.Fatalf("%s listed as %q's, want %q's", inc.ID, inc.Gateway, want)
		}
	}
}

// A box that ran alone joins a cluster: its incidents open from before are
// written to the site's copy, once.
func TestSeedOpenIncidents(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	nc, err := nats.Connect(testenv.StartNATS(t, true, 0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	eng := startEngine(t, quiet)
	ctx := context.Background()
	if err := eng.RaiseWait(ctx, incident.Signal{Type: incident.SOS, Source: incident.Source{Gate: "north"}, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	st := &siteincidents.Store{Conn: nc, Self: "gw-a", Logger: quiet}
	sv := &siteView{g: &Gateway{Incidents: eng, log: quiet}, self: "gw-a", store: st}
	if sv.seed(ctx) {
		t.Fatal("seeded before the bucket is ready")
	}
	if err := st.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	<-st.Ready()
	if !sv.seed(ctx) {
		t.Fatal("not seeded")
	}
	sync, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := st.Sync(sync, eng.LiveVersions()); err != nil {
		t.Fatalf("open incident not in the site's copy: %v", err)
	}
}

// startEngine is a running incident engine on a temp dir.
func startEngine(t *testing.T, log *slog.Logger) *incidents.Engine {
	t.Helper()
	eng, err := incidents.New(incidents.EngineConfig{Site: "s1", DataDir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}
