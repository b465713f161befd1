package gateway

import (
	"context"
	"fmt"
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

// settleGateEvents is gatejs.Source's Settle: it notes, once a batch of
// gate events is handled, the incident versions it raised and the
// passages it queued for the site, and returns the wait, run before the
// batch is acknowledged, until the site's replicas have them (at most
// siteSyncTimeout from now): a gate event acknowledged survives this
// gateway dying with its disk. When it gives up (no quorum) the events are
// given back and come again as duplicates, acknowledged once the site has
// what they made.
func (g *Gateway) settleGateEvents() func() error {
	deadline := time.Now().Add(siteSyncTimeout)
	sv := g.siteView
	var versions map[string]int
	if sv != nil {
		versions = g.Incidents.LiveVersions()
	}
	s := g.siteInside.Load()
	var mark uint64
	if s != nil {
		mark = s.Mark()
	}
	return func() error {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		if sv != nil {
			if err := sv.store.Sync(ctx, versions); err != nil {
				return fmt.Errorf("incidents not in the site's copy: %w", err)
			}
		}
		if s != nil {
			if err := s.SyncTo(ctx, mark); err != nil { // counted there
				return fmt.Errorf("passages not in the site's stream: %w", err)
			}
		}
		return nil
	}
}
