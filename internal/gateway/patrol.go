package gateway

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/devices"
	"github.com/lanewatch/lanewatch/internal/evlink"
	"github.com/lanewatch/lanewatch/internal/notify"
	"github.com/lanewatch/lanewatch/internal/webpush"
)

// startPatrol opens the patrol parts before notify starts, so that messages
// and alerts carry signed evidence links (g.Links) under console.public_url,
// valid for notify_link_ttl; the console serves them (startConsole).
func (g *Gateway) startPatrol(context.Context) error {
	p, err := g.patrolParts()
	if err != nil {
		return err
	}
	g.patrol = p
	push := &webpush.Sender{Keys: p.PushKeys, Store: p.PushStore, Client: g.PushClient, Registerer: g.Registry, Logger: g.log.With("component", "webpush")}
	if u := g.Config.Console.PublicURL; strings.HasPrefix(u, "https://") {
		push.Subscriber = u
	}
	if err := push.Initialize(); err != nil {
		return err
	}
	if g.NotifyKinds == nil {
		g.NotifyKinds = map[string]notify.Kind{}
	}
	if _, ok := g.NotifyKinds["webpush"]; !ok {
		g.NotifyKinds["webpush"] = pushKind(push, p.PushStore)
	}
	if g.Links == nil {
		g.Links = func(id string) string { return p.Links.URL(id, evlink.Snapshot) }
	}
	return nil
}

// patrolParts opens what the patrol page and evidence links keep under
// data_dir/patrol: the link key, the VAPID key, push subscriptions, device
// tokens and uploaded photos. The page is in site.language.
func (g *Gateway) patrolParts() (console.Patrol, error) {
	dir := g.path("patrol")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return console.Patrol{}, fmt.Errorf("patrol: %w", err)
	}
	links := &evlink.Signer{DataDir: dir, BaseURL: g.Config.Console.PublicURL, TTL: g.Config.NotifyLinkTTL}
	if err := links.Initialize(); err != nil {
		return console.Patrol{}, err
	}
	keys, err := webpush.LoadKeys(dir)
	if err != nil {
		return console.Patrol{}, err
	}
	subs, err := webpush.OpenStore(dir)
	if err != nil {
		return console.Patrol{}, err
	}
	if err := g.owns("push subscriptions", subs.Close); err != nil {
		return console.Patrol{}, err
	}
	dev, err := devices.Open(dir)
	if err != nil {
		return console.Patrol{}, err
	}
	if err := g.owns("device tokens", dev.Close); err != nil {
		return console.Patrol{}, err
	}
	return console.Patrol{Links: links, PushKeys: keys, PushStore: subs, Devices: dev,
		Photos: &console.PhotoDir{Dir: g.path("patrol-photos")}, PublicURL: g.Config.Console.PublicURL,
		Language: g.Config.Site.Language}, nil
}
