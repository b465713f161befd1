package outbox

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/incident"
)

// Localize words the ticket's title and description in the site's
// language; the other fields are the contract's as before.
func TestTicketLocalized(t *testing.T) {
	p := newPlatform(t)
	cfg := testConfig(filepath.Join(t.TempDir(), "outbox.db"), p.URL)
	cfg.Localize = func(inc incident.Incident) incident.Incident {
		inc.Title, inc.Description = "草坪 区域入侵", "草坪 有人进入警戒区域。"
		return inc
	}
	o := start(t, cfg)
	if err := o.Enqueue(inc("inc_l", 1), nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery", 5*time.Second, func() bool { return len(p.accepted()) == 1 })
	var got map[string]any
	json.Unmarshal(p.requests()[0].Body, &got)
	if got["title"] != "草坪 区域入侵" || got["description"] != "草坪 有人进入警戒区域。" || got["type"] != "intrusion" || got["version"] != 1.0 {
		t.Fatalf("ticket: %v", got)
	}
}
