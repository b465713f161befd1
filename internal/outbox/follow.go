package outbox

import (
	"errors"

	"github.com/lanewatch/lanewatch/internal/incidents"
)

// Follow turns every change read from changes into a ticket, until changes
// is closed (the engine's Close) or the outbox is closed. Wire it as
//
//	ch, _ := engine.Subscribe()
//	go ob.Follow(ch, evidenceStore.Snapshot)
//
// and close the engine before the outbox so the last changes get in.
//
// The snapshot rides with every change except folds: folds come up to once a
// second for as long as a rule keeps firing, and 256 KiB a second per busy
// incident would swamp both the disk cap and the platform; their tickets keep
// the snapshot link. snapshot may be nil.
func (o *Outbox) Follow(changes <-chan incidents.Change, snapshot func(id string) ([]byte, error)) {
	for c := range changes {
		var snap []byte
		if snapshot != nil && c.Kind != incidents.Folded && c.Incident.Evidence.Snapshot != "" {
			snap, _ = snapshot(c.Incident.ID) // a missing file leaves the link only
		}
		err := o.Enqueue(c.Incident, snap)
		switch {
		case errors.Is(err, ErrClosed):
			return
		case errors.Is(err, ErrFull):
			// Already said loudly by Enqueue (log, metric, OnFull).
		case err != nil:
			o.log.Error("ticket not enqueued", "incident", c.Incident.ID, "version", c.Incident.Version, "err", err)
		}
	}
}
