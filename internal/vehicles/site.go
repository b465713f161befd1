package vehicles

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SiteInside is the inside set of the rest of a cluster's site
// (internal/siteledger): vehicles that entered through gates other gateways
// hold, so that an out at this gateway's gate pairs with an in at another's.
type SiteInside interface {
	// Entered is the entry of plate made at another gateway, if it is inside.
	Entered(plate string) (InsideVehicle, bool)
	// Others lists the vehicles inside that entered at other gateways.
	Others() []InsideVehicle
}

type siteBox struct{ s SiteInside }

// SetSite joins the log to its site's inside set (in a cluster, once it
// has joined); nil leaves it.
func (l *Log) SetSite(s SiteInside) {
	if s == nil {
		l.site.Store(nil)
		return
	}
	l.site.Store(&siteBox{s})
}

// siteEntered is plate's entry at another gateway, when in a cluster.
func (l *Log) siteEntered(p string) (InsideVehicle, bool) {
	if b := l.site.Load(); b != nil {
		return b.s.Entered(p)
	}
	return InsideVehicle{}, false
}

// Leave removes plate from this gateway's inside set when its entry here
// is not later than at: another gateway saw it leave (or enter again)
// after it came in here.
func (l *Log) Leave(plate string, at time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.inside[plate]
	if !ok || r.EntryAt.After(at) {
		return nil
	}
	err := l.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketInside).Delete([]byte(plate)) })
	if err != nil {
		return fmt.Errorf("vehicles: leave: %w", err)
	}
	delete(l.inside, plate)
	return nil
}
