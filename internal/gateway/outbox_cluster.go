package gateway

import (
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lanewatch/lanewatch/internal/cluster"
	"github.com/lanewatch/lanewatch/internal/outbox"
)

// senderRole is the cluster item whose holder sends the site's tickets
// and notifications (contract 4 and 10 in a cluster): exactly one gateway
// at a time, moved like a camera when it dies or its lease cannot be
// renewed (a minority side of a split).
var senderRole = cluster.Item{Kind: cluster.KindRole, ID: "outbox"}

// senderRoles is the sender role when this site sends anything (a
// platform or notification channels), else nothing to hold.
func (g *Gateway) senderRoles() []cluster.Item {
	if (g.Config.Platform == nil || g.Config.Platform.URL == "") && len(g.Config.Notify) == 0 {
		return nil
	}
	return []cluster.Item{senderRole}
}

// outboxJournal is the replicated stream a queue accepts its messages into
// when clustered (outbox.Journal); nil on a single box, which keeps its
// bbolt file as the place of record. The stream is named lanewatch_<name>,
// its subjects _lanewatch.<name>.<sub>.*, outside the MQTT topic tree.
func (g *Gateway) outboxJournal(name, sub string) *outbox.Journal {
	if g.Cluster == nil {
		return nil
	}
	js := g.jetStream()
	return &outbox.Journal{JS: js, Stream: "lanewatch_" + name + "_" + sub, Subject: "_lanewatch." + name + "." + sub,
		Replicas: g.Config.Cluster.Replicas()}
}

// notifyJournal gives each notification channel its stream; nil on a
// single box.
func (g *Gateway) notifyJournal() func(channel string) *outbox.Journal {
	if g.Cluster == nil {
		return nil
	}
	return func(channel string) *outbox.Journal { return g.outboxJournal("notify", channel) }
}

// jetStream is the gateway's JetStream client for the outbox streams, on
// a connection of its own (closed with the gateway), so that a burst of
// tickets with snapshots never queues ahead of the cluster's lease
// renewals; the cluster's connection if that one cannot be had.
func (g *Gateway) jetStream() jetstream.JetStream {
	if g.js != nil {
		return g.js
	}
	nc, err := g.Broker.Conn("lanewatch-outbox")
	if err == nil {
		if err = g.owns("outbox stream connection", func() error { nc.Close(); return nil }); err != nil {
			nc.Close()
		}
	}
	if err != nil {
		g.log.Warn("outbox streams use the cluster's connection", "err", err)
		nc = g.Cluster.Conn
	}
	g.js, _ = jetstream.New(nc) // fails only on bad options
	return g.js
}

// holdSender starts or stops this gateway sending tickets and
// notifications. Stopping returns once no request is in flight, before
// the cluster releases the role.
func (g *Gateway) holdSender(held bool) {
	var wg sync.WaitGroup
	if g.Outbox != nil {
		wg.Go(func() { g.Outbox.Hold(held) })
	}
	if g.Notifier != nil {
		wg.Go(func() { g.Notifier.Hold(held) })
	}
	wg.Wait()
}
