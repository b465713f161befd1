package alerts

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
)

// With Extra, alerts keep the contract's incident JSON and carry the
// localised title, description and evidence links beside it.
func TestAlertCarriesExtraBeside(t *testing.T) {
	clk := &clock{t: time.Now()}
	eng, err := incidents.New(incidents.EngineConfig{Site: "s1", DataDir: t.TempDir(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	bus := newMemBus()
	al, err := New(Config{Bus: bus, Topics: topics, Engine: eng, Now: clk.Now, Logger: slog.New(slog.DiscardHandler),
		Extra: func(inc incident.Incident) (string, string, map[string]string) {
			return "北门 SOS 求助", "北门 有人按下 SOS 求助按钮", map[string]string{"snapshot": "https://gw/e/" + inc.ID}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := al.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(); al.Close() })
	eng.Raise(incident.Signal{Type: incident.SOS, Source: incident.Source{Gate: "north"}, Title: "SOS at north"})
	wait(t, "alert", func() bool { return len(bus.on(topics.Alerts())) == 1 })
	raw := bus.on(topics.Alerts())[0].Payload
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	links, _ := m["links"].(map[string]any)
	if m["title"] != "SOS at north" || m["title_local"] != "北门 SOS 求助" || m["description_local"] != "北门 有人按下 SOS 求助按钮" ||
		links["snapshot"] != "https://gw/e/"+m["id"].(string) {
		t.Fatalf("alert: %s", raw)
	}
	// The contract's fields decode as before.
	var inc incident.Incident
	if err := json.Unmarshal(raw, &inc); err != nil || inc.Type != incident.SOS || inc.Source.Gate != "north" || inc.State != incident.Open {
		t.Fatalf("incident JSON: %v %+v", err, inc)
	}
}
