// Package gaterules turns gate and door sensor events into incidents:
// gate_forced, door_held_open, tailgating, blacklisted_vehicle,
// vehicle_overstay and sos.
//
// Event-to-event comparisons (was there an access_granted before this
// door_open?) use the sensor time stamps, which come from one clock per gate;
// the door_held_open timer compares the local receipt time with Now, so a
// sensor with a wrong clock cannot make a door look open for hours.
package gaterules

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanewatch/lanewatch/internal/component"
	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/sensors"
	"github.com/lanewatch/lanewatch/internal/vehicles"
)

// Defaults for zero values in config.Gate.
const (
	DefaultAccessWindow = config.DefaultAccessWindow
	DefaultDoorHeldOpen = config.DefaultDoorHeldOpen
	// blacklistRepeat: repeated reads of a watch-list plate at one gate within
	// this are one sighting (a waiting car is read many times a second).
	blacklistRepeat = 60 * time.Second
)

// Classifier says what class a plate is; *vehicles.Log implements it.
type Classifier interface {
	Classify(plate string, at time.Time) vehicles.Class
}

// Rules evaluates the gate rules. Set the fields, then call Handle for every
// accepted sensor event and Start for the timers. Gates not in Gates are
// evaluated with the default windows and no camera.
type Rules struct {
	Gates    []config.Gate
	Vehicles Classifier // nil: no blacklisted_vehicle rule
	Raiser   incident.Raiser
	// Snapshot returns a JPEG from the camera now; may be nil. Errors only
	// lose the snapshot, never the incident.
	Snapshot func(camera string) ([]byte, error)
	Now      func() time.Time
	Logger   *slog.Logger
	// Registerer takes the metrics; nil: a private registry.
	Registerer prometheus.Registerer

	once  sync.Once
	mu    sync.Mutex
	gates map[string]*gateState
	conf  map[string]config.Gate
	log   *slog.Logger
	fired *prometheus.CounterVec

	ticker component.Goroutine // Start's timers
}

// gateState is what the rules remember about one gate.
type gateState struct {
	lastAccess  time.Time // access_granted (sensor time)
	lastCommand time.Time // console open (local time, converted on use)
	// auths: authorisations for the barrier (plate reads by plate, access
	// grants, console commands), by key, with their time; pruned to the window.
	auths map[string]time.Time

	doorOpen     bool
	doorOpenedAt time.Time // sensor time, for the message
	doorOpenRecv time.Time // local time, for the timer
	heldRaised   bool

	barrierOpen bool
	cycleStart  time.Time
	cycleAuths  map[string]bool
	loops       int

	blacklisted map[string]time.Time // plate -> last sighting
}

func (r *Rules) init() {
	r.once.Do(func() {
		r.gates = map[string]*gateState{}
		r.conf = map[string]config.Gate{}
		for _, g := range r.Gates {
			if g.AccessWindow <= 0 {
				g.AccessWindow = DefaultAccessWindow
			}
			if g.DoorHeldOpen <= 0 {
				g.DoorHeldOpen = DefaultDoorHeldOpen
			}
			r.conf[g.ID] = g
		}
		r.log = r.Logger
		if r.log == nil {
			r.log = slog.Default()
		}
		r.log = r.log.With("component", "gaterules")
		if r.Now == nil {
			r.Now = time.Now
		}
		r.fired = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_gaterules_fired_total",
			Help: "Gate rule hits handed to the incident engine, by incident type and gate."}, []string{"type", "gate"})
		reg := r.Registerer
		if reg == nil {
			reg = prometheus.NewRegistry()
		}
		if err := reg.Register(r.fired); err != nil {
			// Rules has no constructor to fail from; the rules work without the metric.
			r.log.Error("gate rule metrics not registered", "err", err)
		}
	})
}

func (r *Rules) gate(id string) (*gateState, config.Gate) {
	g := r.gates[id]
	if g == nil {
		g = &gateState{auths: map[string]time.Time{}, blacklisted: map[string]time.Time{}}
		r.gates[id] = g
	}
	c, ok := r.conf[id]
	if !ok {
		c = config.Gate{ID: id, AccessWindow: DefaultAccessWindow, DoorHeldOpen: DefaultDoorHeldOpen}
	}
	return g, c
}

// NoteCommand records that the console opened the gate (contract 2.3), so the
// barrier or door opening that follows is authorised.
func (r *Rules) NoteCommand(gate string) {
	r.init()
	now := r.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	g, _ := r.gate(gate)
	g.lastCommand = now
	g.addAuth(fmt.Sprintf("cmd:%d", now.UnixNano()), now)
}

func (g *gateState) addAuth(key string, at time.Time) {
	if _, seen := g.auths[key]; !seen || at.After(g.auths[key]) {
		g.auths[key] = at
	}
	if g.barrierOpen {
		g.cycleAuths[key] = true
	}
}

// authsSince counts the authorisations at or after since.
func (g *gateState) authsSince(since time.Time) map[string]bool {
	out := map[string]bool{}
	for k, at := range g.auths {
		if !at.Before(since) {
			out[k] = true
		}
	}
	return out
}

func (g *gateState) prune(before time.Time) {
	for k, at := range g.auths {
		if at.Before(before) {
			delete(g.auths, k)
		}
	}
	for p, at := range g.blacklisted {
		if at.Before(before.Add(-blacklistRepeat)) {
			delete(g.blacklisted, p)
		}
	}
}

// Handle evaluates one sensor event.
func (r *Rules) Handle(ev sensors.Event) {
	r.init()
	at := ev.TS
	if at.IsZero() {
		at = ev.Received
	}
	recv := ev.Received
	if recv.IsZero() {
		recv = r.Now()
	}
	var sigs []incident.Signal
	r.mu.Lock()
	g, c := r.gate(ev.Gate)
	// A console command is stamped with local time; sensor times of a gate
	// with a skewed clock would never match it, so map it to the sensor's
	// timeline through this event's receipt time.
	var cmdAt time.Time
	if !g.lastCommand.IsZero() {
		cmdAt = g.lastCommand.Add(at.Sub(recv))
	}
	switch ev.Type {
	case sensors.AccessGranted:
		g.lastAccess = at
		g.addAuth(fmt.Sprintf("access:%s:%d", ev.CredentialHash, at.UnixNano()), at)
	case sensors.PlateRead:
		g.addAuth("plate:"+ev.Plate, at)
		sigs = append(sigs, r.blacklistedLocked(g, c, ev, at)...)
	case sensors.DoorOpen:
		if !g.doorOpen {
			g.doorOpen, g.doorOpenedAt, g.doorOpenRecv, g.heldRaised = true, at, recv, false
		}
		if !within(g.lastAccess, at, c.AccessWindow) && !within(cmdAt, at, c.AccessWindow) {
			sigs = append(sigs, incident.Signal{Type: incident.GateForced,
				Source: incident.Source{Gate: c.ID}, At: at,
				Title:       "Door forced at " + name(c),
				Description: fmt.Sprintf("The door at %s opened without an access grant in the %v before.", name(c), c.AccessWindow)})
		}
	case sensors.DoorClose:
		if g.doorOpen && g.heldRaised {
			sigs = append(sigs, incident.Signal{Type: incident.DoorHeldOpen, Source: incident.Source{Gate: c.ID},
				At: at, Clear: true, Title: "Door closed at " + name(c)})
		}
		g.doorOpen, g.heldRaised = false, false
	case sensors.BarrierOpen:
		if ev.Plate != "" {
			g.addAuth("plate:"+ev.Plate, at)
			sigs = append(sigs, r.blacklistedLocked(g, c, ev, at)...)
		}
		if g.barrierOpen {
			break // a repeated open within one cycle
		}
		g.barrierOpen, g.cycleStart, g.loops = true, at, 0
		g.cycleAuths = g.authsSince(at.Add(-c.AccessWindow))
		if len(g.cycleAuths) == 0 && !within(cmdAt, at, c.AccessWindow) {
			sigs = append(sigs, incident.Signal{Type: incident.GateForced,
				Source: incident.Source{Gate: c.ID}, At: at,
				Title:       "Barrier opened without authorisation at " + name(c),
				Description: fmt.Sprintf("The barrier at %s opened with no plate read, access grant or console command in the %v before.", name(c), c.AccessWindow)})
		}
	case sensors.Loop:
		if g.barrierOpen {
			g.loops++
		}
	case sensors.BarrierClose:
		if g.barrierOpen {
			allowed := max(len(g.cycleAuths), 1)
			if g.loops > allowed {
				sigs = append(sigs, incident.Signal{Type: incident.Tailgating, Source: incident.Source{Gate: c.ID}, At: at,
					Title: "Tailgating at " + name(c),
					Description: fmt.Sprintf("%d vehicles passed the barrier at %s on %d authorised opening(s) between %s and %s.",
						g.loops, name(c), len(g.cycleAuths), g.cycleStart.Format(time.TimeOnly), at.Format(time.TimeOnly))})
			}
		}
		g.barrierOpen, g.loops, g.cycleAuths = false, 0, nil
	case sensors.SOS:
		sigs = append(sigs, incident.Signal{Type: incident.SOS, Severity: incident.Critical,
			Source: incident.Source{Gate: c.ID}, At: at, Title: "SOS at " + name(c),
			Description: "The SOS button at " + name(c) + " was pressed."})
	}
	g.prune(at.Add(-2 * max(c.AccessWindow, blacklistRepeat)))
	r.mu.Unlock()
	r.raise(c, sigs)
}

func (r *Rules) blacklistedLocked(g *gateState, c config.Gate, ev sensors.Event, at time.Time) []incident.Signal {
	if r.Vehicles == nil || r.Vehicles.Classify(ev.Plate, at) != vehicles.ClassBlacklisted {
		return nil
	}
	if last, ok := g.blacklisted[ev.Plate]; ok && at.Sub(last) >= 0 && at.Sub(last) <= blacklistRepeat {
		g.blacklisted[ev.Plate] = at
		return nil
	}
	g.blacklisted[ev.Plate] = at
	return []incident.Signal{{Type: incident.BlacklistedVehicle,
		Source: incident.Source{Gate: c.ID}, At: at, Plate: ev.Plate,
		Title:       "Watch-list vehicle " + ev.Plate + " at " + name(c),
		Description: fmt.Sprintf("Plate %s, on the watch list, was read at %s (direction %s).", ev.Plate, name(c), dirText(ev.Direction))}}
}

// within reports whether ref is in [at-window, at].
func within(ref, at time.Time, window time.Duration) bool {
	if ref.IsZero() {
		return false
	}
	d := at.Sub(ref)
	return d >= 0 && d <= window
}

func name(c config.Gate) string {
	if c.Name != "" {
		return c.Name
	}
	return "gate " + c.ID
}

func dirText(d sensors.Direction) string {
	if d == "" {
		return "unknown"
	}
	return string(d)
}

// Overstay raises vehicle_overstay; wire it to vehicles.Log.OnOverstay.
func (r *Rules) Overstay(v vehicles.InsideVehicle) {
	r.init()
	r.mu.Lock()
	_, c := r.gate(v.Gate)
	r.mu.Unlock()
	r.raise(c, []incident.Signal{{Type: incident.VehicleOverstay, Source: incident.Source{Gate: c.ID},
		At: r.Now(), Plate: v.Plate,
		Title: "Vehicle " + v.Plate + " overstaying",
		Description: fmt.Sprintf("Vehicle %s (%s) entered at %s on %s and has been inside for %s.",
			v.Plate, v.Class, name(c), v.EntryAt.Format(time.RFC3339), v.Dwell.Round(time.Minute))}})
}

// Tick raises door_held_open for doors open longer than their limit at now;
// Run calls it every second.
func (r *Rules) Tick(now time.Time) {
	r.init()
	var sigs []incident.Signal
	var confs []config.Gate
	r.mu.Lock()
	for id, g := range r.gates {
		_, c := r.gate(id)
		if g.doorOpen && !g.heldRaised && now.Sub(g.doorOpenRecv) > c.DoorHeldOpen {
			g.heldRaised = true
			open := now.Sub(g.doorOpenRecv).Round(time.Second)
			sigs = append(sigs, incident.Signal{Type: incident.DoorHeldOpen, Source: incident.Source{Gate: c.ID},
				At: g.doorOpenedAt.Add(open), Title: "Door held open at " + name(c),
				Description: fmt.Sprintf("The door at %s has been open for %s (limit %s).", name(c), open, c.DoorHeldOpen)})
			confs = append(confs, c)
		}
	}
	r.mu.Unlock()
	for i := range sigs {
		r.raise(confs[i], sigs[i:i+1])
	}
}

// Start ticks the timers every second on a goroutine of its own until Close.
func (r *Rules) Start(ctx context.Context) error {
	r.init()
	r.ticker.Go(ctx, func(ctx context.Context) error {
		return component.Every(ctx, time.Second, func() { r.Tick(r.Now()) })
	})
	return nil
}

// Close stops the timers' goroutine and waits for it.
func (r *Rules) Close() error { return r.ticker.Stop() }

// RaiseTimeout bounds how long Handle waits for the incident engine to store
// a signal.
var RaiseTimeout = 10 * time.Second

// raise attaches a snapshot from the gate's first camera and hands the
// signals on. It runs without the lock: a snapshot can take a while.
func (r *Rules) raise(c config.Gate, sigs []incident.Signal) {
	for _, s := range sigs {
		if !s.Clear && r.Snapshot != nil && len(c.Cameras) > 0 {
			jpg, err := r.Snapshot(c.Cameras[0])
			if err != nil {
				r.log.Warn("no snapshot for gate incident", "gate", c.ID, "camera", c.Cameras[0], "err", err)
			} else {
				s.Snapshot = jpg
			}
		}
		r.log.Info("gate rule fired", "type", s.Type, "gate", c.ID, "clear", s.Clear)
		if !s.Clear {
			r.fired.WithLabelValues(string(s.Type), c.ID).Inc()
		}
		if wr, ok := r.Raiser.(incident.WaitRaiser); ok {
			// Handle runs before the event is acknowledged to the broker:
			// wait until the incident is on disk, so that an SOS acknowledged
			// is an SOS that survives a crash.
			ctx, cancel := context.WithTimeout(context.Background(), RaiseTimeout)
			if err := wr.RaiseWait(ctx, s); err != nil {
				r.log.Error("gate incident not confirmed stored", "type", s.Type, "gate", c.ID, "err", err)
			}
			cancel()
		} else if r.Raiser != nil {
			r.Raiser.Raise(s)
		}
	}
}
