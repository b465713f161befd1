package outbox

import (
	"context"
	"errors"

	"github.com/lanewatch/lanewatch/internal/incidents"
)

// Follower turns every change of src into a ticket (an incidents.Follower);
// the gateway closes the engine before it, and it before the outbox, so the
// last changes get in.
//
// The snapshot rides with every change except folds: folds come up to once a
// second for as long as a rule keeps firing, and 256 KiB a second per busy
// incident would swamp both the disk cap and the platform; their tickets keep
// the snapshot link. snapshot may be nil.
//
// A write the disk refused (full, I/O error) is retried until it succeeds: a
// change dropped here never reaches the platform. The engine buffers the
// changes behind it meanwhile.
func (o *Outbox) Follower(src incidents.Source, snapshot func(id string) ([]byte, error)) *incidents.Follower {
	return &incidents.Follower{Name: "outbox", Source: src, Logger: o.log,
		Handle: func(_ context.Context, c incidents.Change) error { return o.take(c, snapshot) },
		Retry:  func(err error) bool { return errors.Is(err, ErrNotStored) }}
}

// take enqueues the ticket of one change.
func (o *Outbox) take(c incidents.Change, snapshot func(id string) ([]byte, error)) error {
	var snap []byte
	if snapshot != nil && c.Kind != incidents.Folded && c.Incident.Evidence.Snapshot != "" {
		snap, _ = snapshot(c.Incident.ID) // a missing file leaves the link only
	}
	err := o.Enqueue(c.Incident, snap)
	o.setStoreErr(err)
	switch {
	case errors.Is(err, ErrFull):
		return nil // already said loudly by Enqueue (log, metric, OnFull)
	case errors.Is(err, ErrNotStored):
		o.m.storeErrors.Inc()
	}
	return err
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
