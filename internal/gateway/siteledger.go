package gateway

import (
	"context"
	"time"

	"github.com/lanewatch/lanewatch/internal/cluster"
	"github.com/lanewatch/lanewatch/internal/component"
	"github.com/lanewatch/lanewatch/internal/siteledger"
)

// joinSiteLedger shares the vehicle ledger with the site's other gateways
// (internal/siteledger: the inside set, and every passage imported by
// all): before the cluster takes any gate, so that the first exit handled
// here already sees entries made elsewhere.
func (g *Gateway) joinSiteLedger(ctx context.Context, c *cluster.Cluster) error {
	s := &siteledger.Inside{Conn: c.Conn, Self: g.Config.GatewayID, Replicas: g.Config.Cluster.Replicas(),
		Ledger: g.Vehicles, Retention: g.Config.Vehicles.Retention, Logger: g.log, Registerer: g.Registry,
		Leave: func(plate string, at time.Time) {
			if err := g.Vehicles.Leave(plate, at); err != nil {
				g.diskFailed("vehicles", err)
				g.log.Warn("vehicle left elsewhere but still inside here", "err", err)
			}
		}}
	if err := g.use(ctx, component.Named("site ledger", s)); err != nil {
		return err
	}
	g.Vehicles.SetSite(s)
	g.siteInside.Store(s)
	return nil
}

// siteLedgerSync waits, at most siteSyncTimeout, until the passages of the
// events just stored are in the site's stream (counted when it gives up):
// the events are acknowledged after it, so a passage acknowledged survives
// this gateway dying with its disk.
func (g *Gateway) siteLedgerSync() {
	s := g.siteInside.Load()
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), siteSyncTimeout)
	defer cancel()
	_ = s.Sync(ctx) // counted and logged there
}
