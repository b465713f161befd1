package incidents

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/lanewatch/lanewatch/internal/storecheck"
)

// Typed errors callers branch on (errors.Is).
var (
	ErrNotFound          = errors.New("incident not found")
	ErrInvalidTransition = errors.New("invalid incident state transition")
	ErrClosed            = errors.New("incident engine closed")
	// ErrNotStored: the change is in memory (and was published) but
	// incidents.db could not take it (disk full, I/O error). The engine
	// writes it again every 200 ms until it succeeds; a process that dies
	// before then loses it, so sensor events that raised it are not
	// acknowledged to the broker meanwhile.
	ErrNotStored = errors.New("incident not stored")
)

// foldInterval bounds fold updates to subscribers: at most one change per
// second per incident, so a rule firing at 5 fps does not flood MQTT and the
// platform with near-identical tickets.
const foldInterval = time.Second

// signalQueue is how many signals may wait for the engine before Raise starts
// dropping them; rules must never stall on a slow disk.
const signalQueue = 4096

// DefaultSeverity is the severity of each type when the config does not
// override it. Life safety first (sos), then forced entry and hazards to
// people, then things a guard should look at soon, then informational ones.
var DefaultSeverity = map[incident.Type]incident.Severity{
	incident.SOS:                incident.Critical,
	incident.GateForced:         incident.High,
	incident.FallingObject:      incident.High,
	incident.BlacklistedVehicle: incident.High,
	incident.Intrusion:          incident.Medium,
	incident.CameraOffline:      incident.Medium,
	incident.CameraTamper:       incident.Medium,
	incident.FireLaneBlocked:    incident.Medium,
	incident.Tailgating:         incident.Medium,
	incident.DoorHeldOpen:       incident.Medium,
	incident.LineCrossing:       incident.Low,
	incident.Loitering:          incident.Low,
	incident.Crowd:              incident.Low,
	incident.VehicleOverstay:    incident.Low,
}

var sevRank = map[incident.Severity]int{incident.Low: 1, incident.Medium: 2, incident.High: 3, incident.Critical: 4}

// SnapshotStore keeps the JPEG of an incident; internal/evidence implements it.
type SnapshotStore interface {
	PutSnapshot(id string, jpeg []byte) error
}

// EngineConfig configures New.
type EngineConfig struct {
	Site      string
	Incidents config.Incidents
	// DataDir holds incidents.db, so acks, the API and the 24 h clearing of
	// retained state survive a restart. Required.
	DataDir string
	// Retention: resolved incidents older than this leave incidents.db;
	// default 365 days. Keep it above a few days: the MQTT state clearing
	// after restarts reads resolved incidents of the last 14 days.
	Retention time.Duration
	// PlateRetention (vehicles.retention): incidents with a plate last
	// updated longer ago are deleted when resolved, their plate blanked when
	// not; 0 keeps plates as long as the incident.
	PlateRetention time.Duration
	// Evidence stores snapshots from Signal.Snapshot; nil: snapshots are dropped.
	Evidence   SnapshotStore
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock; nil: time.Now. Tests drive escalation with it.
	Now func() time.Time
}

// ChangeKind says what happened to an incident.
type ChangeKind string

const (
	Opened          ChangeKind = "opened"
	Folded          ChangeKind = "folded"
	SeverityChanged ChangeKind = "severity_changed"
	Escalation      ChangeKind = "escalated"
	Acked           ChangeKind = "acknowledged"
	ResolvedKind    ChangeKind = "resolved"
	EvidenceAdded   ChangeKind = "evidence"
)

// Change is one new version of an incident. Subscribers receive every change
// of every incident, in the order the engine made them.
type Change struct {
	Kind     ChangeKind
	Incident incident.Incident
}

// Alert says the change goes to the patrol alerts topic (contract 2.3: opened,
// escalated or changed severity).
func (c Change) Alert() bool {
	return c.Kind == Opened || c.Kind == Escalation || c.Kind == SeverityChanged
}

// Escalated says the change also goes to the escalation topic.
func (c Change) Escalated() bool { return c.Kind == Escalation }

// Filter selects incidents for List. Zero fields match everything.
type Filter struct {
	State incident.State
	Type  incident.Type
	Since time.Time // updated at or after
	Limit int       // default 100
	// Until, Before, Camera and Gate serve the wall's history paging and
	// filters: started at or before Until, id sorting before Before (the
	// last id of the previous page), from that source camera or gate.
	Until  time.Time
	Before string
	Camera string
	Gate   string
}

// Match says whether inc passes the filter's conditions (all but Before and
// Limit, which are about the walk).
func (f Filter) Match(inc incident.Incident) bool {
	return (f.State == "" || inc.State == f.State) && (f.Type == "" || inc.Type == f.Type) &&
		(f.Since.IsZero() || !inc.UpdatedAt.Before(f.Since)) &&
		(f.Until.IsZero() || !inc.StartedAt.After(f.Until)) &&
		(f.Camera == "" || inc.Source.Camera == f.Camera) && (f.Gate == "" || inc.Source.Gate == f.Gate)
}

// record is what incidents.db stores: the incident plus the engine's own
// bookkeeping, which must survive a restart too.
type record struct {
	incident.Incident
	Version    int       `json:"version"`
	LastSignal time.Time `json:"last_signal"`
	OpenedAt   time.Time `json:"opened_at"`
}

type live struct {
	inc        incident.Incident
	key        string
	lastSignal time.Time
	// openedAt is the engine's clock at opening: escalation counts from it,
	// not from started_at, which is the sensor's and may be off.
	openedAt     time.Time
	dirty        bool // folded since the last change went out
	lastNotified time.Time
}

var bucketIncidents = []byte("incidents")

// Engine folds signals into incidents and runs their life cycle.
type Engine struct {
	cfg  EngineConfig
	log  *slog.Logger
	now  func() time.Time
	db   *bolt.DB
	sigs chan queued

	mu    sync.Mutex
	live  map[string]*live // every incident not yet resolved
	byKey map[string]*live // newest incident per folding key
	// unsaved holds incidents whose latest version incidents.db refused;
	// flushLocked writes them again. storeErr is the last such failure.
	unsaved  map[string]*live
	storeErr error
	// nUnsaved mirrors len(unsaved) for Flush's fast path: the gate events'
	// goroutine calls it per batch and must not wait for mu.
	nUnsaved atomic.Int64
	subs     map[*subscriber]struct{}
	// openIDs mirrors the keys of live for IsOpen, which must not take mu: the
	// evidence store calls it under its own lock, from any goroutine.
	openIDs sync.Map
	lastID  int64
	closed  bool
	// lastDropLog is the unix second of the last "signal dropped" line.
	lastDropLog atomic.Int64

	stop      chan struct{}
	loopDone  chan struct{} // closed when the signal loop has returned
	closeOnce sync.Once
	startOnce sync.Once
	started   bool // set in startOnce
	done      sync.WaitGroup
	m         engineMetrics
}

type engineMetrics struct {
	signals   *prometheus.CounterVec
	opened    *prometheus.CounterVec
	folded    prometheus.Counter
	dropped   prometheus.Counter
	escalated prometheus.Counter
	active    prometheus.Gauge
	errors    prometheus.Counter
}

// New opens (or creates) DataDir/incidents.db and reloads the incidents that
// are not resolved; Start starts the engine's goroutines, Close stops them.
// Signals raised before Start wait in the queue, and reads, acks and
// subscriptions work at once.
func New(cfg EngineConfig) (*Engine, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("incidents: DataDir is required")
	}
	for t, s := range cfg.Incidents.Severity {
		if _, ok := sevRank[incident.Severity(s)]; !ok {
			return nil, fmt.Errorf("incidents: severity of %s: unknown severity %q", t, s)
		}
	}
	// One source of defaults: a config not from config.Load (tests) gets
	// the escalation delays Load would give it.
	cfg.Incidents = config.ResolveIncidents(cfg.Incidents)
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("incidents: %w", err)
	}
	db, err := storecheck.OpenBolt(filepath.Join(cfg.DataDir, "incidents.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("incidents: open store: %w", err)
	}
	e := &Engine{
		cfg:      cfg,
		log:      cfg.Logger,
		now:      cfg.Now,
		db:       db,
		sigs:     make(chan queued, signalQueue),
		live:     map[string]*live{},
		byKey:    map[string]*live{},
		unsaved:  map[string]*live{},
		subs:     map[*subscriber]struct{}{},
		stop:     make(chan struct{}),
		loopDone: make(chan struct{}),
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	e.log = e.log.With("component", "incidents")
	if e.now == nil {
		e.now = time.Now
	}
	if err := e.initMetrics(cfg.Registerer); err != nil {
		db.Close()
		return nil, err
	}
	if err := e.load(); err != nil {
		db.Close()
		return nil, err
	}
	e.m.active.Set(float64(len(e.live)))
	return e, nil
}

// Start starts handling signals and the timers (escalation, folds, pruning)
// until Close. A second Start does nothing.
func (e *Engine) Start(context.Context) error {
	e.startOnce.Do(func() {
		select {
		case <-e.stop:
			return // closed before it started
		default:
		}
		e.started = true
		e.done.Add(2)
		go e.loop()
		go e.ticker()
	})
	return nil
}

func (e *Engine) initMetrics(reg prometheus.Registerer) error {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	e.m = engineMetrics{
		signals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_incidents_signals_total",
			Help: "Rule signals received, by incident type."}, []string{"type"}),
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_incidents_opened_total",
			Help: "Incidents opened, by type and severity."}, []string{"type", "severity"}),
		folded: prometheus.NewCounter(prometheus.CounterOpts{Name: "lanewatch_incidents_folded_total",
			Help: "Signals folded into an open incident."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "lanewatch_incidents_signals_dropped_total",
			Help: "Signals dropped because the engine's queue was full."}),
		escalated: prometheus.NewCounter(prometheus.CounterOpts{Name: "lanewatch_incidents_escalated_total",
			Help: "Incidents escalated for want of an acknowledgement."}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{Name: "lanewatch_incidents_active",
			Help: "Incidents not resolved."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "lanewatch_incidents_store_errors_total",
			Help: "Failed writes to incidents.db or the evidence store."}),
	}
	backlog := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lanewatch_incidents_change_backlog",
		Help: "Changes queued for subscribers (alerts, outbox, console) and not yet taken."}, e.backlog)
	for _, c := range []prometheus.Collector{e.m.signals, e.m.opened, e.m.folded, e.m.dropped, e.m.escalated, e.m.active, e.m.errors, backlog} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("incidents: register metrics: %w", err)
		}
	}
	return nil
}

func (e *Engine) load() error {
	return e.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketIncidents)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				e.log.Error("skipping unreadable incident record", "id", string(k), "err", err)
				return nil
			}
			if r.State == incident.Resolved {
				return nil
			}
			r.Incident.Version = r.Version
			l := &live{inc: r.Incident, key: foldKey(r.Type, r.Source, r.Plate), lastSignal: r.LastSignal, lastNotified: r.UpdatedAt, openedAt: r.OpenedAt}
			if l.openedAt.IsZero() {
				l.openedAt = r.StartedAt
			}
			e.live[r.ID] = l
			e.openIDs.Store(r.ID, true)
			// ids sort by time, so the last one seen per key is the newest.
			e.byKey[l.key] = l
			return nil
		})
	})
}

// foldKey is what repeats fold on. For vehicle incidents the plate is part of
// it: two different watch-list cars at one gate are two incidents to act on,
// not one with a count of two.
func foldKey(t incident.Type, s incident.Source, plate string) string {
	k := string(t) + "\x00" + s.Camera + "\x00" + s.Zone + "\x00" + s.Line + "\x00" + s.Gate
	if t == incident.BlacklistedVehicle || t == incident.VehicleOverstay {
		k += "\x00" + plate
	}
	if s.Origin != "" {
		// The camera's own line crossing is not lanewatch's: separate
		// incidents (keys without an origin stay as they were stored).
		k += "\x00origin=" + s.Origin
	}
	return k
}

// Raise queues a signal and returns at once: rules call it from the detection
// loop. When the queue is full the signal is dropped and counted.
func (e *Engine) Raise(s incident.Signal) {
	select {
	case e.sigs <- queued{Signal: s}:
	default:
		e.m.dropped.Inc()
		// At most one line a second: the caller is the detection loop.
		now := time.Now().Unix()
		if last := e.lastDropLog.Load(); now > last && e.lastDropLog.CompareAndSwap(last, now) {
			e.log.Error("incident engine overloaded: signal dropped", "type", s.Type, "camera", s.Source.Camera, "gate", s.Source.Gate)
		}
	}
}

// queued is a signal on its way to the engine's goroutine; done, if set, is
// closed once the signal is handled (its incident persisted).
type queued struct {
	incident.Signal
	done chan struct{}
	err  *error // set before done is closed
}

// RaiseWait hands s to the engine like Raise and returns once it is handled:
// the incident it opened or updated is on disk. Sensor events use it, so
// that the broker gets its acknowledgement for an SOS only when the incident
// would survive a crash; a Raise queued in memory would not. It waits for
// room in the queue rather than dropping the signal, and returns ctx's error
// if ctx ends first (the signal may still be handled) or ErrClosed after
// Close.
func (e *Engine) RaiseWait(ctx context.Context, s incident.Signal) error {
	q := queued{Signal: s, done: make(chan struct{}), err: new(error)}
	select {
	case <-e.stop:
		return ErrClosed
	default:
	}
	select {
	case e.sigs <- q:
	case <-ctx.Done():
		return ctx.Err()
	case <-e.stop:
		return ErrClosed
	}
	select {
	case <-q.done:
		return *q.err
	case <-ctx.Done():
		return ctx.Err()
	case <-e.loopDone:
		// Queued as the engine closed: the loop's last drain may or may
		// not have taken it.
		select {
		case <-q.done:
			return *q.err
		default:
			return ErrClosed
		}
	}
}

func (e *Engine) loop() {
	defer e.done.Done()
	defer close(e.loopDone)
	for {
		select {
		case q := <-e.sigs:
			e.handleQueued(q)
		case <-e.stop:
			// Take what rules already handed over before shutting down.
			for {
				select {
				case q := <-e.sigs:
					e.handleQueued(q)
				default:
					return
				}
			}
		}
	}
}

func (e *Engine) handleQueued(q queued) {
	e.handle(q.Signal)
	if q.done != nil {
		// Waiters are told whether everything is on disk, not only this
		// signal's incident: simpler, and on one disk they fail together.
		*q.err = e.Flush()
		close(q.done)
	}
}

// Flush writes the incidents incidents.db refused before; nil when every
// change is on disk, else an error wrapping ErrNotStored.
func (e *Engine) Flush() error {
	if e.nUnsaved.Load() == 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.flushLocked()
}

func (e *Engine) flushLocked() error {
	defer func() { e.nUnsaved.Store(int64(len(e.unsaved))) }()
	for id, l := range e.unsaved {
		if err := e.persist(l); err != nil {
			e.storeErr = err
			return fmt.Errorf("%w: %d incidents waiting (%s first): %w", ErrNotStored, len(e.unsaved), id, err)
		}
		delete(e.unsaved, id)
		e.log.Info("incident stored after an earlier failure", "id", id)
	}
	e.storeErr = nil
	return nil
}

// StoreErr is nil when every change is on disk; else the last write error.
func (e *Engine) StoreErr() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.unsaved) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d incidents waiting: %w", ErrNotStored, len(e.unsaved), e.storeErr)
}

func (e *Engine) ticker() {
	defer e.done.Done()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	e.prune()
	for {
		select {
		case <-prune.C:
			e.prune()
		case <-t.C:
			e.sweep()
		case <-e.stop:
			return
		}
	}
}

func (e *Engine) cooldown(s incident.Signal) time.Duration {
	if s.Cooldown > 0 {
		return s.Cooldown
	}
	if d, ok := e.cfg.Incidents.Cooldown[string(s.Type)]; ok && d > 0 {
		return d
	}
	return config.DefaultCooldown
}

func (e *Engine) severity(t incident.Type) incident.Severity {
	if s, ok := e.cfg.Incidents.Severity[string(t)]; ok {
		return incident.Severity(s)
	}
	if s, ok := DefaultSeverity[t]; ok {
		return s
	}
	return incident.Medium
}

func (e *Engine) escalateAfter(s incident.Severity) time.Duration {
	return e.cfg.Incidents.Escalate[string(s)] // resolved in New; 0 (and low) never
}

// handle runs on the signal loop only, one signal at a time: that is what
// lets it drop mu while a snapshot goes to disk (tens of ms on a busy SD
// card) without another signal opening the same incident meanwhile.
func (e *Engine) handle(s incident.Signal) {
	now := e.now()
	if s.At.IsZero() {
		s.At = now
	}
	e.m.signals.WithLabelValues(string(s.Type)).Inc()
	key := foldKey(s.Type, s.Source, s.Plate)

	e.mu.Lock()
	defer e.mu.Unlock()
	l := e.current(key)
	if s.Clear {
		if l != nil {
			e.setState(l, incident.Resolved, ResolvedKind, "system", "condition cleared", now)
		}
		return
	}
	if l != nil && s.At.Sub(l.lastSignal) <= e.cooldown(s) && l.inc.Evidence.Snapshot == "" && len(s.Snapshot) > 0 {
		// The first snapshot of an incident opened without one: saved
		// outside the lock, then the fold goes on if the incident still runs.
		link := e.saveSnapshotUnlocked(l.inc.ID, s.Snapshot)
		if link != "" && l.inc.Evidence.Snapshot == "" {
			l.inc.Evidence.Snapshot = link
		}
		l = e.current(key)
	}
	if l != nil && s.At.Sub(l.lastSignal) <= e.cooldown(s) {
		e.fold(l, s, now)
		return
	}
	inc := e.newIncident(s, now)
	if len(s.Snapshot) > 0 {
		// Saved before the incident is published, so every consumer of
		// Opened finds its snapshot, but without holding mu meanwhile.
		e.openIDs.Store(inc.ID, true) // the store's disk cap spares it already
		inc.Evidence.Snapshot = e.saveSnapshotUnlocked(inc.ID, s.Snapshot)
	}
	e.open(key, inc, s.At, now)
}

// current is the unresolved incident of a folding key, or nil. Called with
// e.mu held.
func (e *Engine) current(key string) *live {
	l := e.byKey[key]
	if l != nil && l.inc.State == incident.Resolved {
		return nil
	}
	return l
}

// saveSnapshotUnlocked saves a snapshot with e.mu released (the caller
// holds it and gets it back) and returns its link, empty if not saved.
func (e *Engine) saveSnapshotUnlocked(id string, jpeg []byte) string {
	if e.cfg.Evidence == nil {
		return ""
	}
	e.mu.Unlock()
	defer e.mu.Lock()
	if err := e.cfg.Evidence.PutSnapshot(id, jpeg); err != nil {
		e.m.errors.Inc()
		e.log.Error("saving snapshot", "id", id, "err", err)
		return ""
	}
	return "/api/incidents/" + id + "/snapshot.jpg"
}

func (e *Engine) fold(l *live, s incident.Signal, now time.Time) {
	e.m.folded.Inc()
	inc := &l.inc
	inc.Count++
	inc.UpdatedAt = now
	if s.At.After(l.lastSignal) {
		l.lastSignal = s.At
	}
	if len(s.Objects) > 0 {
		inc.Objects = append([]incident.Object(nil), s.Objects...)
	}
	if s.Plate != "" {
		inc.Plate = s.Plate
	}
	l.dirty = true
	if s.Severity != "" && sevRank[s.Severity] > sevRank[inc.Severity] {
		inc.Severity = s.Severity
		e.emit(l, SeverityChanged, now)
		return
	}
	if now.Sub(l.lastNotified) >= foldInterval {
		e.emit(l, Folded, now)
	}
}

// newIncident is the first version of the incident s opens. Called with
// e.mu held (the id).
func (e *Engine) newIncident(s incident.Signal, now time.Time) incident.Incident {
	sev := s.Severity
	if sev == "" {
		sev = e.severity(s.Type)
	}
	title := s.Title
	if title == "" {
		title = defaultTitle(s.Type, s.Source)
	}
	return incident.Incident{
		ID:          e.newID(now),
		Site:        e.cfg.Site,
		Type:        s.Type,
		Severity:    sev,
		State:       incident.Open,
		Title:       title,
		Description: s.Description,
		Source:      s.Source,
		StartedAt:   s.At,
		UpdatedAt:   now,
		Count:       1,
		Objects:     append([]incident.Object{}, s.Objects...),
		Plate:       s.Plate,
		Acks:        []incident.Ack{},
	}
}

// open makes inc live and publishes it. Called with e.mu held.
func (e *Engine) open(key string, inc incident.Incident, signalAt, now time.Time) {
	l := &live{inc: inc, key: key, lastSignal: signalAt, openedAt: now}
	e.live[inc.ID] = l
	e.openIDs.Store(inc.ID, true)
	e.byKey[key] = l
	e.m.opened.WithLabelValues(string(inc.Type), string(inc.Severity)).Inc()
	e.m.active.Set(float64(len(e.live)))
	e.emit(l, Opened, now)
}

func defaultTitle(t incident.Type, s incident.Source) string {
	where := s.Camera
	if s.Zone != "" {
		where += "/" + s.Zone
	}
	if s.Line != "" {
		where += "/" + s.Line
	}
	if s.Gate != "" {
		if where != "" {
			where += " "
		}
		where += "gate " + s.Gate
	}
	if where == "" {
		return string(t)
	}
	return string(t) + " at " + where
}

// emit makes a new version of l, persists it and hands it to subscribers.
// Called with e.mu held, which is what keeps changes in order.
func (e *Engine) emit(l *live, kind ChangeKind, now time.Time) {
	l.inc.Version++
	l.dirty = false
	l.lastNotified = now
	if err := e.persist(l); err != nil {
		e.m.errors.Inc()
		e.log.Error("persisting incident; kept in memory and written again when the disk takes it", "id", l.inc.ID, "err", err)
		e.unsaved[l.inc.ID] = l
		e.storeErr = err
	} else {
		delete(e.unsaved, l.inc.ID)
	}
	e.nUnsaved.Store(int64(len(e.unsaved)))
	c := Change{Kind: kind, Incident: cloneIncident(l.inc)}
	for s := range e.subs {
		s.push(c)
	}
	if l.inc.State == incident.Resolved {
		delete(e.live, l.inc.ID)
		e.openIDs.Delete(l.inc.ID)
		if e.byKey[l.key] == l {
			delete(e.byKey, l.key)
		}
		e.m.active.Set(float64(len(e.live)))
	}
}

func (e *Engine) persist(l *live) error {
	v, err := json.Marshal(record{Incident: l.inc, Version: l.inc.Version, LastSignal: l.lastSignal, OpenedAt: l.openedAt})
	if err != nil {
		return err
	}
	return e.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketIncidents).Put([]byte(l.inc.ID), v)
	})
}

func cloneIncident(in incident.Incident) incident.Incident {
	in.Objects = append([]incident.Object{}, in.Objects...)
	in.Acks = append([]incident.Ack{}, in.Acks...)
	if in.ResolvedAt != nil {
		t := *in.ResolvedAt
		in.ResolvedAt = &t
	}
	return in
}

// sweep sends coalesced fold updates that are due and escalates incidents
// nobody acknowledged in time.
func (e *Engine) sweep() {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	// Incidents raised while the disk was full go to disk once it has
	// room again, also those no sensor event waits for (cameras).
	_ = e.flushLocked()
	ls := make([]*live, 0, len(e.live))
	for _, l := range e.live {
		ls = append(ls, l)
	}
	// Map order is random; keep changes deterministic.
	sort.Slice(ls, func(i, j int) bool { return ls[i].inc.ID < ls[j].inc.ID })
	for _, l := range ls {
		if l.inc.State == incident.Open {
			if d := e.escalateAfter(l.inc.Severity); d > 0 && now.Sub(l.openedAt) >= d {
				l.inc.State = incident.Escalated
				l.inc.UpdatedAt = now
				e.m.escalated.Inc()
				e.emit(l, Escalation, now)
				continue
			}
		}
		if l.dirty && now.Sub(l.lastNotified) >= foldInterval {
			e.emit(l, Folded, now)
		}
	}
}

// prune deletes resolved incidents past the retention from incidents.db.
func (e *Engine) prune() {
	keep := e.cfg.Retention
	if keep <= 0 {
		keep = 365 * 24 * time.Hour
	}
	cutoff := e.now().Add(-keep)
	n := 0
	err := e.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketIncidents)
		var old [][]byte // deleting under a moving cursor would skip keys
		err := b.ForEach(func(k, v []byte) error {
			var r record
			if json.Unmarshal(v, &r) == nil && r.State == incident.Resolved && r.ResolvedAt != nil && r.ResolvedAt.Before(cutoff) {
				old = append(old, k)
			}
			return nil
		})
		for _, k := range old {
			if err == nil {
				err = b.Delete(k)
			}
		}
		n = len(old)
		return err
	})
	if err != nil {
		e.m.errors.Inc()
		e.log.Error("pruning old incidents", "err", err)
	} else if n > 0 {
		e.log.Info("old incidents pruned", "count", n, "resolved_before", cutoff)
	}
	if del, blank := e.prunePlates(e.now()); del+blank > 0 {
		e.log.Info("plates past vehicles.retention removed from incidents", "deleted", del, "blanked", blank)
	}
}

// Ack records an acknowledgement. Acknowledging an escalated incident
// de-escalates it; acknowledging a resolved one is ErrInvalidTransition.
func (e *Engine) Ack(id, by, note string) (incident.Incident, error) {
	return e.transition(id, by, note, incident.Acknowledged, Acked)
}

// Resolve closes an incident from any state but resolved.
func (e *Engine) Resolve(id, by, note string) (incident.Incident, error) {
	return e.transition(id, by, note, incident.Resolved, ResolvedKind)
}

func (e *Engine) transition(id, by, note string, to incident.State, kind ChangeKind) (incident.Incident, error) {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	l, err := e.find(id)
	if err != nil {
		return incident.Incident{}, err
	}
	inc := e.setState(l, to, kind, by, note, now)
	if _, bad := e.unsaved[id]; bad {
		// Applied and kept, but not yet on disk: the caller must not
		// report success (it is written when the disk takes it).
		return inc, fmt.Errorf("%w: %s: %w", ErrNotStored, id, e.storeErr)
	}
	return inc, nil
}

// setState records who moved l to state to; the resolution is recorded like
// an ack, so the ticket says who closed the incident. Called with e.mu held.
func (e *Engine) setState(l *live, to incident.State, kind ChangeKind, by, note string, now time.Time) incident.Incident {
	l.inc.Acks = append(l.inc.Acks, incident.Ack{By: by, At: now, Note: note})
	l.inc.State = to
	l.inc.UpdatedAt = now
	if to == incident.Resolved {
		l.inc.ResolvedAt = &now
	}
	e.emit(l, kind, now)
	return cloneIncident(l.inc)
}

// find returns the live incident id, or the typed error for a resolved or
// unknown one. Called with e.mu held.
func (e *Engine) find(id string) (*live, error) {
	if e.closed {
		return nil, ErrClosed
	}
	if l, ok := e.live[id]; ok {
		return l, nil
	}
	if _, err := e.getStored(id); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: %s is resolved", ErrInvalidTransition, id)
}

func (e *Engine) getStored(id string) (incident.Incident, error) {
	var r record
	err := e.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketIncidents).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		return json.Unmarshal(v, &r)
	})
	r.Incident.Version = r.Version
	return r.Incident, err
}

// IsOpen says whether the incident is not resolved yet. It never waits for
// the engine, so the evidence store may call it from anywhere.
func (e *Engine) IsOpen(id string) bool {
	_, ok := e.openIDs.Load(id)
	return ok
}

// AttachClip records that the incident's clip is stored and sends the
// change; the gateway calls it when evidence.PutClip succeeded.
func (e *Engine) AttachClip(id string) (incident.Incident, error) {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	l, err := e.find(id)
	if err != nil {
		return incident.Incident{}, err
	}
	l.inc.Evidence.Clip = "/api/incidents/" + id + "/clip.mp4"
	l.inc.UpdatedAt = now
	e.emit(l, EvidenceAdded, now)
	return cloneIncident(l.inc), nil
}

// Get returns one incident, including folds not yet sent to subscribers.
func (e *Engine) Get(id string) (incident.Incident, error) {
	e.mu.Lock()
	if l, ok := e.live[id]; ok {
		inc := cloneIncident(l.inc)
		e.mu.Unlock()
		return inc, nil
	}
	e.mu.Unlock()
	return e.getStored(id)
}

// List returns incidents matching f, newest first.
func (e *Engine) List(f Filter) ([]incident.Incident, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	e.mu.Lock()
	cur := make(map[string]incident.Incident, len(e.live))
	for id, l := range e.live {
		cur[id] = cloneIncident(l.inc)
	}
	e.mu.Unlock()
	out := []incident.Incident{}
	err := e.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketIncidents).Cursor()
		k, v := c.Last()
		if f.Before != "" {
			// Ids sort by time, so the page after Before starts just below it.
			if k, v = c.Seek([]byte(f.Before)); k == nil {
				k, v = c.Last()
			}
			for k != nil && string(k) >= f.Before {
				k, v = c.Prev()
			}
		}
		for ; k != nil && len(out) < f.Limit; k, v = c.Prev() {
			inc, ok := cur[string(k)]
			if !ok {
				var r record
				if err := json.Unmarshal(v, &r); err != nil {
					continue
				}
				r.Incident.Version = r.Version
				inc = r.Incident
			}
			if f.Match(inc) {
				out = append(out, inc)
			}
		}
		return nil
	})
	return out, err
}

func (e *Engine) backlog() float64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var n int64
	for s := range e.subs {
		n += s.backlog.Load()
	}
	return float64(n)
}

// Subscribe returns a channel that receives every change from now on, in
// order. The engine never waits for a subscriber: changes queue per
// subscriber until read. cancel stops the subscription and closes the channel.
func (e *Engine) Subscribe() (<-chan Change, func()) {
	s := newSubscriber()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		s.close()
		return s.out, func() {}
	}
	e.subs[s] = struct{}{}
	e.mu.Unlock()
	var once sync.Once
	return s.out, func() {
		once.Do(func() {
			e.mu.Lock()
			delete(e.subs, s)
			e.mu.Unlock()
			s.cancel()
		})
	}
}

// Closing is closed when Close begins: a Follower closed after it drains the
// changes still owed instead of dropping them.
func (e *Engine) Closing() <-chan struct{} { return e.stop }

// Close stops taking signals, handles those already queued, sends pending
// folds, and closes the store. Subscribers get what was queued, then their
// channels close.
func (e *Engine) Close() error {
	first := false
	e.closeOnce.Do(func() { first = true })
	if !first {
		return nil
	}
	close(e.stop)
	e.startOnce.Do(func() {}) // no Start from now on
	if !e.started {
		close(e.loopDone)
	}
	e.done.Wait()
	e.mu.Lock()
	now := e.now()
	for _, l := range e.live {
		if l.dirty {
			e.emit(l, Folded, now)
		}
	}
	if err := e.flushLocked(); err != nil {
		e.log.Error("incidents lost at shutdown: incidents.db refused them", "err", err)
	}
	e.closed = true
	subs := e.subs
	e.subs = map[*subscriber]struct{}{}
	e.mu.Unlock()
	for s := range subs {
		s.close()
	}
	return e.db.Close()
}

// newID makes `inc_` + 10 base32 characters of milliseconds + 10 random ones:
// unique across restarts and gateways, and sorted by time, which is what lets
// List walk the store newest first.
func (e *Engine) newID(now time.Time) string {
	ms := now.UnixMilli()
	if ms <= e.lastID {
		ms = e.lastID + 1
	}
	e.lastID = ms
	const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	var b [24]byte
	copy(b[:], "inc_")
	for i := 13; i >= 4; i-- {
		b[i] = alphabet[ms&31]
		ms >>= 5
	}
	var r [10]byte
	_, _ = rand.Read(r[:])
	for i := range r {
		b[14+i] = alphabet[r[i]&31]
	}
	return string(b[:])
}

// subscriber is an unbounded in-order queue: the engine appends under its
// lock without ever blocking; a goroutine hands changes to the reader.
type subscriber struct {
	mu     sync.Mutex
	queue  []Change
	wake   chan struct{}
	out    chan Change
	ctx    context.Context
	stop   context.CancelFunc
	closed bool
	// backlog counts changes pushed but not yet read, for the metric that
	// shows a stuck subscriber before its queue eats the memory.
	backlog atomic.Int64
}

func newSubscriber() *subscriber {
	ctx, stop := context.WithCancel(context.Background())
	s := &subscriber{wake: make(chan struct{}, 1), out: make(chan Change), ctx: ctx, stop: stop}
	go s.pump()
	return s
}

func (s *subscriber) push(c Change) {
	s.mu.Lock()
	s.queue = append(s.queue, c)
	s.mu.Unlock()
	s.backlog.Add(1)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// close delivers what is queued, then closes out.
func (s *subscriber) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// cancel drops what is queued and closes out.
func (s *subscriber) cancel() { s.stop() }

func (s *subscriber) pump() {
	defer close(s.out)
	for {
		s.mu.Lock()
		q, closed := s.queue, s.closed
		s.queue = nil
		s.mu.Unlock()
		for _, c := range q {
			select {
			case s.out <- c:
				s.backlog.Add(-1)
			case <-s.ctx.Done():
				return
			}
		}
		if len(q) > 0 {
			continue
		}
		if closed {
			return
		}
		select {
		case <-s.wake:
		case <-s.ctx.Done():
			return
		}
	}
}
