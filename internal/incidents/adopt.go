package incidents

import (
	"fmt"

	"github.com/lanewatch/lanewatch/internal/incident"
)

// Adopt makes an incident another engine opened (a dead gateway's, from the
// site's replicated copy) live in this one, at the version it had there, so
// that acks, resolves and escalation carry on here and its next change is
// the next version. Adopting an incident this engine already has live does
// nothing; a resolved one is ErrInvalidTransition. The incident is stored
// but no change is sent: nothing happened to it yet.
func (e *Engine) Adopt(inc incident.Incident) error {
	if inc.ID == "" || inc.Version <= 0 {
		return fmt.Errorf("incidents: adopt: incident without id or version")
	}
	if inc.State == incident.Resolved {
		return fmt.Errorf("%w: %s is resolved", ErrInvalidTransition, inc.ID)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if _, ok := e.live[inc.ID]; ok {
		return nil
	}
	if old, err := e.getStored(inc.ID); err == nil && old.Version >= inc.Version {
		if old.State == incident.Resolved {
			return fmt.Errorf("%w: %s is resolved", ErrInvalidTransition, inc.ID)
		}
		inc = old
	}
	inc = cloneIncident(inc)
	l := &live{inc: inc, key: foldKey(inc.Type, inc.Source, inc.Plate), lastSignal: inc.UpdatedAt,
		lastNotified: inc.UpdatedAt, openedAt: inc.StartedAt}
	if err := e.persist(l); err != nil {
		e.m.errors.Inc()
		return fmt.Errorf("%w: %s: %w", ErrNotStored, inc.ID, err)
	}
	e.live[inc.ID] = l
	e.openIDs.Store(inc.ID, true)
	if cur, ok := e.byKey[l.key]; !ok || cur.inc.ID < inc.ID {
		e.byKey[l.key] = l // repeats fold into the newest incident of the key
	}
	e.m.active.Set(float64(len(e.live)))
	e.log.Info("incident adopted", "id", inc.ID, "version", inc.Version)
	return nil
}

// LiveVersions is the version of every incident not resolved: what the
// engine has sent of each (a fold not sent yet has no version). A cluster
// waits until the site's copy holds them before it acknowledges the events
// that raised them.
func (e *Engine) LiveVersions() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]int, len(e.live))
	for id, l := range e.live {
		out[id] = l.inc.Version
	}
	return out
}

// Release lets go of a live incident another gateway carries on now (it
// adopted it while this one was away): it is no longer escalated, folded
// into or changed here. incidents.db keeps the copy as it was. Releasing an
// incident that is not live does nothing.
func (e *Engine) Release(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	l, ok := e.live[id]
	if !ok {
		return
	}
	delete(e.live, id)
	delete(e.unsaved, id)
	e.nUnsaved.Store(int64(len(e.unsaved)))
	e.openIDs.Delete(id)
	if e.byKey[l.key] == l {
		delete(e.byKey, l.key)
	}
	e.m.active.Set(float64(len(e.live)))
	e.log.Info("incident released: carried on by another gateway", "id", id, "version", l.inc.Version)
}
