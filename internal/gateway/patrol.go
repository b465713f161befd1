package gateway

import (
	"fmt"
	"os"

	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/devices"
	"github.com/lanewatch/lanewatch/internal/evlink"
	"github.com/lanewatch/lanewatch/internal/webpush"
)

// patrolParts opens what the patrol page and evidence links keep under
// data_dir/patrol: the link key, the VAPID key, push subscriptions, device
// tokens and uploaded photos. Defaults until configuration reaches them:
// links relative to the console's own address, valid 24 h; page in Chinese.
func (g *Gateway) patrolParts() (console.Patrol, error) {
	dir := g.path("patrol")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return console.Patrol{}, fmt.Errorf("patrol: %w", err)
	}
	links := &evlink.Signer{DataDir: dir}
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
	g.onClose("push subscriptions", subs.Close)
	dev, err := devices.Open(dir)
	if err != nil {
		return console.Patrol{}, err
	}
	g.onClose("device tokens", dev.Close)
	return console.Patrol{Links: links, PushKeys: keys, PushStore: subs, Devices: dev,
		Photos: &console.PhotoDir{Dir: g.path("patrol-photos")}, Language: "zh"}, nil
}
