// Package notify sends incidents to the notification channels of contract
// section 10 (notify[]): WeCom, DingTalk and Feishu group robots, a generic
// signed webhook, and Web Push (a sender kind registered by its package).
// Each channel is a durable outbox.Queue with the channel's Sender, so
// messages survive outages and restarts, go out in order per incident, and
// a robot's rate budget is met by folding, never by dropping.
package notify

import (
	"encoding/json"
	"net/url"

	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
)

// Note is one queued message: an incident that opened, escalated or changed
// severity, worded in the site's language. It is what the webhook kind
// sends as JSON and what the robots render.
type Note struct {
	Event    incidents.ChangeKind `json:"event"` // opened, escalated, severity_changed
	Version  int                  `json:"version"`
	Incident incident.Incident    `json:"incident"`
	Lang     string               `json:"lang"`
	// TitleLocal is the title in the site's language ("北门 SOS 求助").
	TitleLocal string `json:"title_local"`
	EventLocal string `json:"event_local"`
	Place      string `json:"place"`
	Time       string `json:"time"` // when it started, in the site's zone
	Severity   string `json:"severity_local"`
	// Links open the evidence without a login.
	Links Links `json:"links"`
}

// Links are an incident's evidence links as messages carry them.
type Links struct {
	Snapshot string `json:"snapshot,omitempty"`
}

// LinkFunc gives an incident's snapshot link. The gateway wires a signed,
// expiring one (internal/evlink); PlainLinks is the fallback.
type LinkFunc func(incidentID string) (snapshotURL string)

// PlainLinks links to the console's snapshot under publicURL (which needs a
// login); relative when publicURL is empty.
func PlainLinks(publicURL string) LinkFunc {
	return func(id string) string {
		u, err := url.JoinPath(publicURL, "api", "incidents", id, "snapshot.jpg")
		if err != nil || publicURL == "" {
			return "/api/incidents/" + url.PathEscape(id) + "/snapshot.jpg"
		}
		return u
	}
}

// Composer turns incident changes into Notes.
type Composer struct {
	L     *Localizer
	Links LinkFunc
}

// Note words change c.
func (c *Composer) Note(ch incidents.Change) Note {
	inc := c.L.Localize(ch.Incident)
	n := Note{Event: ch.Kind, Version: inc.Version, Incident: inc, Lang: c.L.Lang,
		TitleLocal: inc.Title, EventLocal: c.L.Event(ch.Kind), Place: c.L.Place(inc),
		Time: c.L.Time(inc.StartedAt), Severity: c.L.Severity(inc.Severity)}
	if n.Lang == "" {
		n.Lang = Zh
	}
	if c.Links != nil {
		n.Links.Snapshot = c.Links(inc.ID)
	}
	return n
}

// DecodeNote reads a queued message's body, for senders of kinds added
// from outside (webpush).
func DecodeNote(b []byte) (Note, error) {
	var n Note
	err := json.Unmarshal(b, &n)
	return n, err
}
