package gateway

import (
	"context"
	"time"

	"github.com/lanewatch/lanewatch/internal/component"
	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/notify"
	"github.com/lanewatch/lanewatch/internal/outbox"
)

// localizer words incidents in site.language with the configured display
// names of zones, lines, gates and cameras.
func (g *Gateway) localizer() *notify.Localizer {
	return &notify.Localizer{Lang: g.Config.Site.Language, Names: notify.NamesFrom(g.Config), Loc: g.Config.Location()}
}

// links gives an incident's evidence link for messages and MQTT alerts:
// g.Links when set (the signed, expiring one), else the plain console link
// under console.public_url.
func (g *Gateway) links() notify.LinkFunc {
	if g.Links != nil {
		return g.Links
	}
	return notify.PlainLinks(g.Config.Console.PublicURL)
}

// startNotify opens the notification channels (contract 10) and sends
// them every incident that opens, escalates or changes severity.
func (g *Gateway) startNotify(ctx context.Context) error {
	if len(g.Config.Notify) == 0 {
		return nil
	}
	n, err := notify.New(notify.Config{Channels: g.Config.Notify, Dir: g.path("notify"),
		Composer: &notify.Composer{L: g.localizer(), Links: g.links()}, Loc: g.Config.Location(),
		Kinds: g.NotifyKinds, OnFull: g.notifyFull, ShutdownTimeout: 3 * time.Second, Logger: g.log, Registerer: g.Registry,
		Journal: g.notifyJournal()})
	if err != nil {
		return err
	}
	if g.Links == nil && g.Config.Console.PublicURL == "" {
		// The robots' phones cannot open a relative link.
		g.log.Warn("console.public_url is not set: links in notifications are relative and will not open on a phone")
	}
	g.Notifier = n
	return g.use(ctx, component.Named("notify", n), component.Named("notify follow", n.Follower(g.Incidents)))
}

// notifyFull says loudly that a channel's queue reached its cap, as a full
// ticket outbox is said: the queue's log and metric, and an MQTT alert.
func (g *Gateway) notifyFull(channel string, st outbox.Stats) {
	a := gatewayAlert{Alert: "notify_full", Gateway: g.Config.GatewayID, At: time.Now(),
		Message: "notification channel " + channel + " reached its size cap", UsedBytes: st.UsedBytes, MaxBytes: st.MaxBytes}
	g.log.Error("NOTIFY QUEUE FULL: new messages for this channel are refused until the robot takes the queued ones; nothing accepted is dropped",
		"channel", channel, "used_bytes", st.UsedBytes, "max_bytes", st.MaxBytes, "pending", st.Pending, "dead", st.Dead)
	g.publishAlert(a)
}

// alertExtra is what MQTT alerts carry beside the contract's incident JSON
// (issue 13 item 6): the title and description in the site's language and
// the evidence link, so a patrol app needs no console login.
func (g *Gateway) alertExtra() func(incident.Incident) (string, string, map[string]string) {
	l, links := g.localizer(), g.links()
	return func(inc incident.Incident) (string, string, map[string]string) {
		return l.Title(inc), l.Description(inc), map[string]string{"snapshot": links(inc.ID)}
	}
}

// outboxAdmin is the console's view of the ticket outbox and of every
// notification channel's queue: /api/outbox lists them all, and resend and
// discard go to the queue the key names (<channel>:<id>:<version> for a
// channel, <id>:<version> for a ticket).
type outboxAdmin struct {
	o *outbox.Outbox
	n *notify.Notifier
}

func (a outboxAdmin) List(context.Context) ([]console.OutboxTicket, error) {
	var out []console.OutboxTicket
	add := func(e outbox.Entry, channel string) {
		out = append(out, console.OutboxTicket{Key: e.Key, IncidentID: e.IncidentID, Version: e.Version, State: e.State,
			Attempts: e.Attempts, CreatedAt: e.EnqueuedAt, NextTryAt: e.NextAttempt, LastStatus: e.Status,
			LastError: e.LastError, Response: e.Response, Channel: channel})
	}
	if a.o != nil {
		es, err := a.o.List(1000)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			add(e, "")
		}
	}
	if a.n != nil {
		es, err := a.n.List(1000)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			add(e.Entry, e.Channel)
		}
	}
	if out == nil {
		out = []console.OutboxTicket{}
	}
	return out, nil
}

// deadLetters is what resend and discard need of a queue.
type deadLetters interface {
	Resend(key string) error
	Discard(key string) error
}

// queueFor is the queue a key names; the console's not-found when absent.
func (a outboxAdmin) queueFor(key string) (deadLetters, error) {
	switch {
	case notify.IsChannelKey(key) && a.n != nil:
		return a.n, nil
	case !notify.IsChannelKey(key) && a.o != nil:
		return a.o, nil
	}
	return nil, console.ErrNotFound
}

func (a outboxAdmin) Resend(_ context.Context, key string) error {
	q, err := a.queueFor(key)
	if err != nil {
		return err
	}
	return consoleErr(q.Resend(key))
}

func (a outboxAdmin) Discard(_ context.Context, key string) error {
	q, err := a.queueFor(key)
	if err != nil {
		return err
	}
	return consoleErr(q.Discard(key))
}
