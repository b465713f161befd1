package outbox

import (
	"errors"
	"time"

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
		// A write the disk refused (full, I/O error) is retried until it
		// succeeds: a change dropped here never reaches the platform. The
		// engine buffers the changes behind it meanwhile.
		wait := 100 * time.Millisecond
		for {
			err := o.Enqueue(c.Incident, snap)
			o.setStoreErr(err)
			switch {
			case err == nil:
			case errors.Is(err, ErrClosed):
				return
			case errors.Is(err, ErrFull):
				// Already said loudly by Enqueue (log, metric, OnFull).
			case !errors.Is(err, ErrNotStored):
				o.log.Error("ticket not enqueued", "incident", c.Incident.ID, "version", c.Incident.Version, "err", err)
			default:
				o.m.storeErrors.Inc()
				if wait >= 5*time.Second || wait == 100*time.Millisecond {
					o.log.Error("ticket not stored; retrying", "incident", c.Incident.ID, "version", c.Incident.Version, "retry_in", wait, "err", err)
				}
				select {
				case <-time.After(wait):
				case <-o.stop:
					o.log.Error("ticket lost at shutdown: not stored", "incident", c.Incident.ID, "version", c.Incident.Version, "err", err)
					return
				}
				wait = min(2*wait, 5*time.Second)
				continue
			}
			break
		}
	}
}

// setStoreErr records whether the last ticket write failed on the disk.
func (o *Outbox) setStoreErr(err error) {
	if !errors.Is(err, ErrNotStored) {
		err = nil
	}
	o.mu.Lock()
	o.storeErr = err
	o.mu.Unlock()
}

// StoreErr is the error of the last ticket outbox.db refused, nil once a
// ticket was stored again.
func (o *Outbox) StoreErr() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.storeErr
}
