package notify

import (
	"fmt"
	"slices"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/schedule"
)

// Filter says which incidents a channel takes: its severities, types,
// cameras or gates (empty: all), and its schedule (the shift), read in the
// site's time zone at the moment of the change.
type Filter struct {
	severities, types []string
	cameras, gates    []string
	sched             *schedule.Schedule
	loc               *time.Location
}

// NewFilter reads channel n's filters.
func NewFilter(n config.Notify, loc *time.Location) (*Filter, error) {
	f := &Filter{severities: n.Severities, types: n.Types, cameras: n.Cameras, gates: n.Gates, loc: loc}
	if n.Schedule != "" {
		s, err := schedule.Parse(n.Schedule)
		if err != nil {
			return nil, fmt.Errorf("notify %s: %w", n.ID, err)
		}
		f.sched = s
	}
	if f.loc == nil {
		f.loc = time.UTC
	}
	return f, nil
}

// Match says whether inc, changed at at, goes to the channel. Cameras and
// gates together are one place filter: an incident from a listed camera or
// a listed gate matches.
func (f *Filter) Match(inc incident.Incident, at time.Time) bool {
	if len(f.severities) > 0 && !slices.Contains(f.severities, string(inc.Severity)) {
		return false
	}
	if len(f.types) > 0 && !slices.Contains(f.types, string(inc.Type)) {
		return false
	}
	if len(f.cameras)+len(f.gates) > 0 {
		s := inc.Source
		if !(s.Camera != "" && slices.Contains(f.cameras, s.Camera)) && !(s.Gate != "" && slices.Contains(f.gates, s.Gate)) {
			return false
		}
	}
	return f.sched.Active(at, f.loc)
}
