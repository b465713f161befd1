package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/component"
	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/evidence"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/lanewatch/lanewatch/internal/outbox"
	"github.com/lanewatch/lanewatch/internal/recording"
	"github.com/lanewatch/lanewatch/internal/vehicles"
)

func (g *Gateway) startConsole(ctx context.Context) error {
	c := g.Config.Console
	a, err := auth.New(auth.Config{Users: c.Users, Tokens: c.Tokens, AuditPath: g.path("audit.log"), SessionPath: g.path("sessions.db"),
		MaxFailures: c.Login.MaxFailures, FailureWindow: c.Login.Window, SessionIdle: c.Login.SessionIdle,
		FloodFailures: c.Login.FloodFailures, FloodInterval: c.Login.FloodInterval,
		AuditRetention: g.Config.Vehicles.Retention,
		AuditCopy: func(e auth.Entry) {
			if a := g.siteAudit.Load(); a != nil {
				a.Copy(e)
			}
		},
		Logger: g.log.With("component", "auth"), Registerer: g.Registry})
	if err != nil {
		return err
	}
	g.Auth = a
	// Closed after the console (the list closes in reverse): the session
	// store is a bbolt file that the next start must be able to lock.
	if err := g.owns("auth", a.Close); err != nil {
		return err
	}
	if err := g.use(ctx, component.Named("audit rotation", component.Run(func(ctx context.Context) error { g.rotateAudit(ctx, a); return nil }))); err != nil {
		return err
	}
	s := &console.Server{
		Listen: c.Listen, Auth: a,
		Incidents: g.consoleIncidents(), // siteview.go
		Vehicles:  vehicleLog{l: g.Vehicles, overstay: g.Config.Vehicles.Overstay},
		PassageSnapshot: func(id string) ([]byte, error) {
			b, err := g.Evidence.Snapshot(passageEvidenceID(id))
			if errors.Is(err, evidence.ErrNotFound) || errors.Is(err, evidence.ErrInvalidID) {
				return nil, console.ErrNotFound
			}
			return b, err
		},
		Gates: g,
		GateList: func() []console.GateInfo {
			out := make([]console.GateInfo, len(g.Config.Gates))
			for i, gt := range g.Config.Gates {
				out[i] = console.GateInfo{ID: gt.ID, Name: gt.Name, Cameras: append([]string{}, gt.Cameras...)}
			}
			return out
		},
		Metrics: g.Registry, Registerer: g.Registry,
		Ready: g.ready, MJPEG: c.MJPEG, Logger: g.log.With("component", "console"),
		Limits: c.Limits, TLS: c.TLS,
	}
	if g.Cameras != nil {
		s.Cameras = g.Cameras
	}
	if g.Outbox != nil || g.Notifier != nil {
		s.Outbox = outboxAdmin{g.Outbox, g.Notifier} // notify.go
	}
	s.Recordings = recording.Store{Root: g.recordingRoot()}
	s.Patrol = g.patrol
	s.Site = console.SiteInfo{ID: g.Config.Site.ID, Name: g.Config.Site.Name, Timezone: g.Config.Location().String(),
		Language: g.Config.Site.Language}
	s.SitePlan = sitePlan(g.Config.Site.Plan)
	if g.Cluster != nil {
		s.Cluster = g.clusterStatus // cluster.go
	}
	s.Audit = func(ctx context.Context, n int) ([]auth.Entry, error) { // audit.go
		if g.Cluster != nil {
			a := g.siteAudit.Load()
			if a == nil {
				return nil, fmt.Errorf("%w: not joined to the cluster yet", console.ErrUnavailable)
			}
			return a.Last(ctx, n)
		}
		return localAudit(g.path("audit.log"), n)
	}
	if err := g.use(ctx, component.Named("console", s)); err != nil {
		return err
	}
	g.Console = s
	return nil
}

// ready is /readyz: every component has started (the console starts before
// the gate-event subscription), the MQTT connection is up, its
// subscriptions deliver (the probe), the outbox is not full and every store
// under data_dir can write.
func (g *Gateway) ready() error {
	if !g.up.Load() {
		return errors.New("starting")
	}
	if g.Bus == nil || !g.Bus.Connected() {
		return errors.New("mqtt not connected")
	}
	if g.probe != nil {
		if err := g.probe.Healthy(); err != nil {
			return err
		}
	}
	if g.Outbox != nil && g.Outbox.Stats().Full {
		return errors.New("outbox full")
	}
	if g.disk != nil {
		return g.disk.err()
	}
	return nil
}

// incidentStore is the console's view of the engine plus the evidence store.
type incidentStore struct {
	e  *incidents.Engine
	ev *evidence.Store
}

func (s incidentStore) List(f console.IncidentFilter) ([]incident.Incident, error) {
	return s.e.List(f.Engine())
}

func (s incidentStore) Get(id string) (incident.Incident, error) {
	inc, err := s.e.Get(id)
	return inc, incidentErr(err)
}

func (s incidentStore) Ack(id, by, note string) (incident.Incident, error) {
	inc, err := s.e.Ack(id, by, note)
	return inc, incidentErr(err)
}

func (s incidentStore) Resolve(id, by, note string) (incident.Incident, error) {
	inc, err := s.e.Resolve(id, by, note)
	return inc, incidentErr(err)
}

func (s incidentStore) Subscribe() (<-chan incident.Incident, func()) {
	out := make(chan incident.Incident, 64)
	f := &incidents.Follower{Name: "console", Source: s.e, Handle: func(ctx context.Context, ch incidents.Change) error {
		select {
		case out <- ch.Incident:
		case <-ctx.Done():
		}
		return nil
	}}
	if err := f.Start(context.Background()); err != nil {
		close(out)
		return out, func() {}
	}
	go func() { <-f.Done(); close(out) }() // ends with the follower
	return out, func() { f.Close() }
}

func (s incidentStore) Snapshot(id string) ([]byte, error) {
	b, err := s.ev.Snapshot(id)
	// An id the store cannot even hold is as not-found as an unknown one.
	if errors.Is(err, evidence.ErrNotFound) || errors.Is(err, evidence.ErrInvalidID) {
		return nil, console.ErrNotFound
	}
	return b, err
}

func (s incidentStore) Clip(id string) (io.ReadSeekCloser, time.Time, error) {
	p, err := s.ev.ClipPath(id)
	if err != nil {
		return nil, time.Time{}, console.ErrNotFound
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, time.Time{}, console.ErrNotFound
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, time.Time{}, err
	}
	return f, st.ModTime(), nil
}

func incidentErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, incidents.ErrNotFound):
		return console.ErrNotFound
	case errors.Is(err, incidents.ErrInvalidTransition):
		return console.ErrConflict
	case errors.Is(err, incidents.ErrNotStored):
		// Applied in memory and written when the disk has room; the
		// operator is told it is not stored yet (503), not that it failed.
		return fmt.Errorf("%w: %w", console.ErrUnavailable, err)
	}
	return err
}

// vehicleLog is the console's view of the vehicle log.
type vehicleLog struct {
	l        *vehicles.Log
	overstay time.Duration // vehicles.overstay: Inside marks longer stays
}

func (v vehicleLog) Passages(_ context.Context, q console.PassageQuery) ([]console.Passage, error) {
	ps := v.l.Passages(vehicles.Query{Plate: q.Plate, Gate: q.Gate, Since: q.Since, Until: q.Until, Limit: q.Limit})
	out := make([]console.Passage, len(ps))
	for i, p := range ps {
		out[i] = consolePassage(p)
	}
	return out, nil
}

func consolePassage(p vehicles.Passage) console.Passage {
	return console.Passage{ID: p.ID, Site: p.Site, Gate: p.Gate, Direction: string(p.Direction), Plate: p.Plate,
		Class: string(p.Class), At: p.At, EntryAt: p.EntryAt, DwellS: p.DwellS, Snapshot: p.Snapshot}
}

func (v vehicleLog) Inside(context.Context) ([]console.Inside, error) {
	in := v.l.Inside()
	out := make([]console.Inside, len(in))
	for i, x := range in {
		out[i] = console.Inside{Plate: x.Plate, Class: string(x.Class), Gate: x.Gate, EntryAt: x.EntryAt, DwellS: x.DwellS,
			Overstay: v.overstay > 0 && x.Dwell > v.overstay}
	}
	return out, nil
}

func (v vehicleLog) Visitors(context.Context) ([]console.Visitor, error) {
	vs := v.l.Visitors()
	out := make([]console.Visitor, len(vs))
	for i, x := range vs {
		out[i] = console.Visitor(x)
	}
	return out, nil
}

func (v vehicleLog) AddVisitor(_ context.Context, x console.Visitor) error {
	return vehicleErr(v.l.AddVisitor(vehicles.Visitor(x)))
}

func (v vehicleLog) RemoveVisitor(_ context.Context, plate string) error {
	return vehicleErr(v.l.RemoveVisitor(plate))
}

func vehicleErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, vehicles.ErrNotFound):
		return console.ErrNotFound
	case errors.Is(err, vehicles.ErrBadPlate), errors.Is(err, vehicles.ErrBadVisit):
		return console.ErrInvalid
	}
	return err
}

// consoleErr maps the outbox's not-found to the console's (404).
func consoleErr(err error) error {
	if errors.Is(err, outbox.ErrNotFound) {
		return console.ErrNotFound
	}
	if errors.Is(err, outbox.ErrNotSender) {
		return fmt.Errorf("%w: %v (lanewatch cluster status names it: role outbox)", console.ErrConflict, err)
	}
	return err
}
