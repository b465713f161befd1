package incidents

import (
	"encoding/json"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lanewatch/lanewatch/internal/incident"
)

// PlateRemoved stands in for a plate blanked from an incident's title and
// description after the plate retention.
const PlateRemoved = "[plate removed]"

// prunePlates applies EngineConfig.PlateRetention (vehicles.retention):
// plates are personal data in incidents.db as in the vehicle log. A resolved
// incident with a plate, last updated before the cutoff, is deleted; an
// unresolved one keeps its record with the plate blanked (field, title and
// description), since someone still has to close it.
func (e *Engine) prunePlates(now time.Time) (deleted, blanked int) {
	if e.cfg.PlateRetention <= 0 {
		return 0, 0
	}
	cutoff := now.Add(-e.cfg.PlateRetention)
	var open []string
	err := e.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketIncidents)
		var old [][]byte // deleting under a moving cursor would skip keys
		err := b.ForEach(func(k, v []byte) error {
			var r record
			if json.Unmarshal(v, &r) != nil || r.Plate == "" || !r.UpdatedAt.Before(cutoff) {
				return nil
			}
			if r.State == incident.Resolved {
				old = append(old, k)
			} else {
				open = append(open, string(k))
			}
			return nil
		})
		for _, k := range old {
			if err == nil {
				err = b.Delete(k)
			}
		}
		deleted = len(old)
		return err
	})
	if err != nil {
		e.m.errors.Inc()
		e.log.Error("pruning plates from incidents", "err", err)
		return deleted, 0
	}
	if len(open) == 0 {
		return deleted, 0
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range open {
		l, ok := e.live[id]
		if !ok || l.inc.Plate == "" {
			continue
		}
		p := l.inc.Plate
		l.inc.Plate = ""
		l.inc.Title = strings.ReplaceAll(l.inc.Title, p, PlateRemoved)
		l.inc.Description = strings.ReplaceAll(l.inc.Description, p, PlateRemoved)
		if err := e.persist(l); err != nil {
			e.m.errors.Inc()
			e.log.Error("blanking a plate", "incident", id, "err", err)
			continue
		}
		blanked++
	}
	return deleted, blanked
}
