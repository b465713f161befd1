package outbox

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
)

// The engine's changes, followed into the outbox, reach the platform as
// versions 1, 2, 3... of each incident, in order, with the engine's state.
func TestEngineToPlatform(t *testing.T) {
	p := newPlatform(t)
	o := start(t, testConfig(filepath.Join(t.TempDir(), "outbox.db"), p.URL))
	eng, err := incidents.New(incidents.EngineConfig{Site: "s1", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	f := o.Follower(eng, nil)
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}

	eng.Raise(incident.Signal{Type: incident.GateForced, Source: incident.Source{Gate: "north"}})
	waitFor(t, "first ticket", 5*time.Second, func() bool { return len(p.accepted()) == 1 })
	var first struct {
		ID      string `json:"id"`
		Version int    `json:"version"`
		State   string `json:"state"`
	}
	json.Unmarshal(p.requests()[0].Body, &first)
	if _, err := eng.Ack(first.ID, "patrol-07", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Resolve(first.ID, "patrol-07", "gate repaired"); err != nil {
		t.Fatal(err)
	}
	eng.Close()
	f.Close() // returns once everything the engine made is enqueued
	waitFor(t, "all tickets", 5*time.Second, func() bool { return o.Stats().Pending == 0 })
	want := []string{"open", "acknowledged", "resolved"}
	reqs := p.requests()
	if len(reqs) != len(want) {
		t.Fatalf("%d tickets, want %d", len(reqs), len(want))
	}
	for i, r := range reqs {
		var got struct {
			ID      string `json:"id"`
			Version int    `json:"version"`
			State   string `json:"state"`
		}
		json.Unmarshal(r.Body, &got)
		if got.ID != first.ID || got.Version != i+1 || got.State != want[i] || r.Key != KeyString(first.ID, i+1) {
			t.Errorf("ticket %d: %+v key %s", i, got, r.Key)
		}
	}
}
