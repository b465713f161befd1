// Package vehicles keeps the vehicle entry/exit log (contract section 5):
// it pairs plate reads, barrier and loop events into passages, classifies the
// plate (resident, visitor, blacklisted, unknown), keeps the set of vehicles
// inside across restarts, reports overstays, exports the log and
// pseudonymises plates older than the retention period.
//
// Pairing rules, per gate (and lane when the sensor sends one):
//
//   - A plate_read makes a passage at once, so gates whose sensors send only
//     plate reads still get a complete log. Its direction is the sensor's; a
//     read without one is "out" when the plate is inside, else "in".
//   - Another read of the same plate at the same gate in the same direction
//     within DedupWindow (60 s) of the previous read is the same passage:
//     cameras read a waiting car many times.
//   - A barrier_open or loop within ConfirmWindow (10 s) after a passage on the
//     same gate/lane marks the most recent unconfirmed passage Confirmed. A
//     barrier_open that carries a plate confirms that plate's passage, or
//     makes a passage of its own when there was no read.
//   - An "in" adds the plate to the inside set (a repeated "in" without an
//     "out" in between restarts its entry time: the out was missed); an "out"
//     removes it and gets entry_at and dwell_s; an "out" of a plate not inside
//     has them null.
//
// Other event types are ignored here; gaterules looks at them.
package vehicles

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/lanewatch/lanewatch/internal/storecheck"

	"github.com/lanewatch/lanewatch/internal/component"
	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/plate"
	"github.com/lanewatch/lanewatch/internal/sensors"
)

// Defaults for zero values in Config and config.Vehicles.
const (
	DefaultOverstay      = config.DefaultOverstay
	DefaultRetention     = config.DefaultVehicleRetention
	DefaultDedupWindow   = 60 * time.Second
	DefaultConfirmWindow = 10 * time.Second
	DefaultResidentsPoll = 5 * time.Second
	DefaultQueryLimit    = 1000
	// AnonPrefix marks a pseudonymised plate.
	AnonPrefix = "anon:"
)

// Errors callers branch on.
var (
	ErrBadPlate = errors.New("vehicles: bad plate")
	ErrNotFound = errors.New("vehicles: not found")
	ErrBadVisit = errors.New("vehicles: valid_until must be after valid_from")
)

var (
	bucketMeta     = []byte("meta")
	bucketPassages = []byte("passages")
	bucketInside   = []byte("inside")
	bucketVisitors = []byte("visitors")
	// bucketEventIDs maps gate + "\x00" + event id to the time it was
	// handled (8 bytes, Unix ns); bucketEventIDsByTime holds the same pairs
	// keyed time first, so that expired ids are found without a scan.
	bucketEventIDs       = []byte("event_ids")
	bucketEventIDsByTime = []byte("event_ids_by_time")
	keySecret            = []byte("anon_secret")
	keyAnonUpTo          = []byte("anon_upto")
)

// Config configures a Log.
type Config struct {
	DataDir  string
	Site     string
	Vehicles config.Vehicles
	Location *time.Location // for exported times; nil: UTC
	Logger   *slog.Logger
	// Registerer takes the metrics; nil: a private registry.
	Registerer prometheus.Registerer
	Now        func() time.Time

	DedupWindow   time.Duration // default 60s
	ConfirmWindow time.Duration // default 10s
	ResidentsPoll time.Duration // default 5s
}

// Visitor is a temporary visitor plate (contract section 6).
type Visitor struct {
	Plate      string    `json:"plate"`
	ValidFrom  time.Time `json:"valid_from"`
	ValidUntil time.Time `json:"valid_until"`
	Unit       string    `json:"unit,omitempty"`
	Note       string    `json:"note,omitempty"`
}

// Query selects passages; zero fields do not filter.
type Query struct {
	Plate string
	Gate  string
	Since time.Time // inclusive
	Until time.Time // exclusive
	Limit int       // default 1000
}

// insideRecord is the stored form of a vehicle inside.
type insideRecord struct {
	Plate     string    `json:"plate"`
	Class     Class     `json:"class"`
	Gate      string    `json:"gate"`
	EntryAt   time.Time `json:"entry_at"`
	PassageID string    `json:"passage_id"`
	Reported  bool      `json:"overstay_reported"`
}

// recent is the last passage per gate/plate, for de-duplication and confirmation.
type recent struct {
	key    []byte
	p      Passage
	lastAt time.Time
}

// Log is the vehicle entry/exit log.
type Log struct {
	worker component.Goroutine // Start's periodic work

	// OnPassage is called (outside the Log's lock) for every new passage.
	OnPassage func(Passage)
	// OnOverstay is called once per vehicle inside longer than the overstay limit.
	OnOverstay func(InsideVehicle)

	// lastErrLog (unix ns) keeps a failing disk to one ERROR line per
	// errLogEvery; the caller retries much more often.
	lastErrLog atomic.Int64

	cfg       Config
	log       *slog.Logger
	db        *bolt.DB
	secret    []byte
	overstay  time.Duration
	retention time.Duration
	watch     map[string]bool

	site atomic.Pointer[siteBox] // the rest of a cluster's site (site.go)

	mu          sync.Mutex
	residents   map[string]Resident
	resProblems []LineError
	resStamp    fileStamp
	visitors    map[string]Visitor
	inside      map[string]insideRecord
	byPlate     map[string]*recent // gate + "\x00" + plate
	lastAtGate  map[string]*recent // gate + "\x00" + lane
	prunedAt    time.Time          // passage time of the last pruneRecentLocked

	m metrics
}

type fileStamp struct {
	mod  time.Time
	size int64
	ok   bool
}

type metrics struct {
	passages   *prometheus.CounterVec
	repeats    prometheus.Counter
	overstays  prometheus.Counter
	anon       prometheus.Counter
	residents  prometheus.Gauge
	badLines   prometheus.Gauge
	reloadErrs prometheus.Counter
}

// Open opens (or creates) data_dir/vehicles.db, loads the residents file and
// pseudonymises passages already past retention.
func Open(cfg Config) (*Log, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("vehicles: data dir is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.DedupWindow <= 0 {
		cfg.DedupWindow = DefaultDedupWindow
	}
	if cfg.ConfirmWindow <= 0 {
		cfg.ConfirmWindow = DefaultConfirmWindow
	}
	if cfg.ResidentsPoll <= 0 {
		cfg.ResidentsPoll = DefaultResidentsPoll
	}
	l := &Log{
		cfg:        cfg,
		log:        cfg.Logger,
		overstay:   cfg.Vehicles.Overstay,
		retention:  cfg.Vehicles.Retention,
		watch:      map[string]bool{},
		residents:  map[string]Resident{},
		visitors:   map[string]Visitor{},
		inside:     map[string]insideRecord{},
		byPlate:    map[string]*recent{},
		lastAtGate: map[string]*recent{},
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	l.log = l.log.With("component", "vehicles")
	if l.overstay <= 0 {
		l.overstay = DefaultOverstay
	}
	if l.retention <= 0 {
		l.retention = DefaultRetention
	}
	for _, w := range cfg.Vehicles.Watchlist {
		if p, ok := plate.NormalizePlate(w); ok {
			l.watch[p] = true
		} else {
			l.log.Warn("watchlist entry is not a valid plate; ignored", "plate", w)
		}
	}
	if err := l.registerMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("vehicles: %w", err)
	}
	db, err := storecheck.OpenBolt(filepath.Join(cfg.DataDir, "vehicles.db"), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("vehicles: open db: %w", err)
	}
	l.db = db
	if err := l.load(); err != nil {
		db.Close()
		return nil, err
	}
	if l.secret, err = l.loadKey(); err != nil {
		db.Close()
		return nil, err
	}
	if _, err := l.PruneVisitors(cfg.Now()); err != nil {
		l.log.Error("pruning expired visitors failed", "err", err)
	}
	l.reloadResidents(true)
	if _, err := l.Pseudonymise(cfg.Now()); err != nil {
		l.log.Error("pseudonymising old passages failed", "err", err)
	}
	return l, nil
}

func (l *Log) registerMetrics(reg prometheus.Registerer) error {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	l.m = metrics{
		passages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_vehicles_passages_total",
			Help: "Vehicle passages by direction and class."}, []string{"direction", "class"}),
		repeats: prometheus.NewCounter(prometheus.CounterOpts{Name: "lanewatch_vehicles_repeated_events_total",
			Help: "Gate events ignored because their (gate, id) was already in the log (redelivery after a restart)."}),
		overstays: prometheus.NewCounter(prometheus.CounterOpts{Name: "lanewatch_vehicles_overstays_total",
			Help: "Vehicles reported for staying longer than the overstay limit."}),
		anon: prometheus.NewCounter(prometheus.CounterOpts{Name: "lanewatch_vehicles_pseudonymised_total",
			Help: "Passages whose plate was pseudonymised after the retention period."}),
		residents: prometheus.NewGauge(prometheus.GaugeOpts{Name: "lanewatch_vehicles_residents",
			Help: "Resident plates loaded from the residents file."}),
		badLines: prometheus.NewGauge(prometheus.GaugeOpts{Name: "lanewatch_vehicles_residents_bad_lines",
			Help: "Lines of the residents file skipped at the last load."}),
		reloadErrs: prometheus.NewCounter(prometheus.CounterOpts{Name: "lanewatch_vehicles_residents_load_errors_total",
			Help: "Failed reads of the residents file (the previous list stays in force)."}),
	}
	insideG := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lanewatch_vehicles_inside",
		Help: "Vehicles inside now."}, func() float64 {
		l.mu.Lock()
		defer l.mu.Unlock()
		return float64(len(l.inside))
	})
	for _, c := range []prometheus.Collector{l.m.passages, l.m.repeats, l.m.overstays, l.m.anon, l.m.residents, l.m.badLines, l.m.reloadErrs, insideG} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("vehicles: register metrics: %w", err)
		}
	}
	return nil
}

// load creates the buckets and reads the inside set and the visitors into
// memory.
func (l *Log) load() error {
	return l.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketPassages, bucketInside, bucketVisitors, bucketEventIDs, bucketEventIDsByTime, bucketOrigins} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("vehicles: create bucket %s: %w", b, err)
			}
		}
		if err := tx.Bucket(bucketInside).ForEach(func(k, v []byte) error {
			var r insideRecord
			if err := json.Unmarshal(v, &r); err != nil {
				l.log.Error("corrupt inside record skipped", "plate", string(k), "err", err)
				return nil
			}
			l.inside[r.Plate] = r
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bucketVisitors).ForEach(func(k, v []byte) error {
			var vis Visitor
			if err := json.Unmarshal(v, &vis); err != nil {
				l.log.Error("corrupt visitor record skipped", "plate", string(k), "err", err)
				return nil
			}
			l.visitors[vis.Plate] = vis
			return nil
		})
	})
}

// Close closes the database.
func (l *Log) Close() error {
	l.worker.Stop() // the periodic work uses the store: stopped first
	return l.db.Close()
}

// Classify says what plate is at time at: blacklisted beats resident beats
// visitor (inside its validity window) beats unknown.
func (l *Log) Classify(p string, at time.Time) Class {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.classifyLocked(p, at)
}

func (l *Log) classifyLocked(p string, at time.Time) Class {
	switch {
	case l.watch[p]:
		return ClassBlacklisted
	case l.residents[p].Plate != "":
		return ClassResident
	}
	if v, ok := l.visitors[p]; ok && !at.Before(v.ValidFrom) && at.Before(v.ValidUntil) {
		return ClassVisitor
	}
	return ClassUnknown
}

// EventIDWindow is how long the log remembers a handled event's (gate, id):
// a repeat within it (the broker redelivering an event whose acknowledgement
// was lost with a gateway restart) is ignored. It matches the sensors dedup
// window of contract 2.1, which is in memory only.
const EventIDWindow = sensors.DedupWindow

// pruneEvery is how far passage time must have moved before the
// recent-passage maps are pruned again.
const pruneEvery = time.Second

// maxPrunePerBatch bounds the expired event ids removed in one transaction.
const maxPrunePerBatch = 4096

const errLogEvery = 10 * time.Second

func (l *Log) logStoreErr(events int, err error) {
	now := time.Now().UnixNano()
	if last := l.lastErrLog.Load(); now-last >= int64(errLogEvery) && l.lastErrLog.CompareAndSwap(last, now) {
		l.log.Error("gate events not stored (at most one line every 10 s)", "events", events, "err", err)
	}
}

// Handle takes one accepted gate event; it is HandleBatch of one event.
func (l *Log) Handle(ev sensors.Event) { _ = l.HandleBatch([]sensors.Event{ev}) }

// HandleBatch takes accepted gate events in arrival order. It applies them
// one after the other with Handle's rules, but writes every resulting
// passage, confirmation, inside-set change and handled event id in ONE
// bbolt transaction, and returns only after it has been committed (fsync):
// the caller may then acknowledge the whole batch. An event whose (gate, id)
// the log has handled within EventIDWindow is ignored, also across restarts.
// OnPassage is called after the commit, outside the lock, in order.
//
// When the commit fails nothing of the batch is kept, in memory or on disk,
// and the failure is logged. The recent-passage maps (repeat reads,
// confirmations) are pruned after the commit, at the latest passage time of
// the batch, at most once per second of passage time (for Handle too): an
// entry may outlive the 60 s window by up to a second, which matters only for
// a read delivered out of order across that boundary, and makes it match as
// the symmetric window says it should.
//
// It returns an error when the batch could not be committed; nothing of the
// batch is then kept, and the caller must not acknowledge the events.
func (l *Log) HandleBatch(evs []sensors.Event) error {
	relevant := false
	for _, ev := range evs {
		if vehicleEvent(ev.Type) {
			relevant = true
			break
		}
	}
	if !relevant {
		return nil
	}
	l.mu.Lock()
	tx, err := l.db.Begin(true)
	if err != nil {
		l.mu.Unlock()
		l.logStoreErr(len(evs), err)
		return fmt.Errorf("vehicles: store gate events: %w", err)
	}
	b := &batch{tx: tx, now: l.cfg.Now()}
	err = l.applyLocked(b, evs)
	if err == nil {
		err = pruneEventIDs(tx, b.now)
	}
	if err == nil {
		err = tx.Commit()
	} else {
		_ = tx.Rollback()
	}
	if err != nil {
		for i := len(b.undo) - 1; i >= 0; i-- {
			b.undo[i]()
		}
		l.mu.Unlock()
		l.logStoreErr(len(evs), err)
		return fmt.Errorf("vehicles: store gate events: %w", err)
	}
	// Pruning walks both maps; at thousands of passages a second doing it
	// per passage cost more than the rest of the batch. Once per second of
	// passage time keeps them as small as the last minute's traffic.
	if len(b.passages) > 0 && b.latest.Sub(l.prunedAt).Abs() >= pruneEvery {
		l.pruneRecentLocked(b.latest)
		l.prunedAt = b.latest
	}
	l.mu.Unlock()
	if b.repeats > 0 {
		l.m.repeats.Add(float64(b.repeats))
	}
	for _, pas := range b.passages {
		l.m.passages.WithLabelValues(string(pas.Direction), string(pas.Class)).Inc()
	}
	if l.OnPassage != nil {
		for _, pas := range b.passages {
			l.OnPassage(l.localise(pas))
		}
	}
	return nil
}

func vehicleEvent(t sensors.Type) bool {
	return t == sensors.PlateRead || t == sensors.BarrierOpen || t == sensors.Loop
}

// batch is one HandleBatch: its write transaction, how to undo its changes
// to the in-memory state should the commit fail, and what to report after it.
type batch struct {
	tx       *bolt.Tx
	now      time.Time
	undo     []func()
	passages []Passage
	latest   time.Time
	repeats  int
}

func (b *batch) keep(r *recent) {
	old := *r
	b.undo = append(b.undo, func() { *r = old })
}

func setUndo[K comparable, V any](b *batch, m map[K]V, k K, v V) {
	old, had := m[k]
	b.undo = append(b.undo, func() {
		if had {
			m[k] = old
		} else {
			delete(m, k)
		}
	})
	m[k] = v
}

func deleteUndo[K comparable, V any](b *batch, m map[K]V, k K) {
	old, had := m[k]
	if !had {
		return
	}
	b.undo = append(b.undo, func() { m[k] = old })
	delete(m, k)
}

func (l *Log) applyLocked(b *batch, evs []sensors.Event) error {
	for _, ev := range evs {
		if !vehicleEvent(ev.Type) {
			continue
		}
		if ev.ID != "" {
			repeat, err := seenEventID(b, ev)
			if err != nil {
				return err
			}
			if repeat {
				b.repeats++
				continue
			}
		}
		var err error
		switch ev.Type {
		case sensors.PlateRead:
			err = l.plateSeenLocked(b, ev, false)
		case sensors.BarrierOpen:
			if ev.Plate != "" {
				err = l.plateSeenLocked(b, ev, true)
			} else {
				l.confirmLocked(b, ev)
			}
		case sensors.Loop:
			l.confirmLocked(b, ev)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// eventIDKey is gate + "\x00" + id; long ids (a sender may send up to the
// 64 KiB payload limit) are replaced by their SHA-256, within bbolt's key limit.
func eventIDKey(gate, id string) []byte {
	if len(id) > 128 {
		sum := sha256.Sum256([]byte(id))
		id = "sha256:" + hex.EncodeToString(sum[:])
	}
	return []byte(gate + "\x00" + id)
}

// seenEventID reports whether (gate, id) was handled within EventIDWindow,
// and records it when not.
func seenEventID(b *batch, ev sensors.Event) (bool, error) {
	ids := b.tx.Bucket(bucketEventIDs)
	k := eventIDKey(ev.Gate, ev.ID)
	if v := ids.Get(k); len(v) == 8 {
		at := time.Unix(0, int64(binary.BigEndian.Uint64(v)))
		// A clock stepped back a little still counts as within the window.
		if d := b.now.Sub(at); d.Abs() < EventIDWindow {
			return true, nil
		}
	}
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(max(b.now.UnixNano(), 0)))
	if err := ids.Put(k, ts[:]); err != nil {
		return false, err
	}
	return false, b.tx.Bucket(bucketEventIDsByTime).Put(append(ts[:], k...), nil)
}

// pruneEventIDs forgets event ids older than EventIDWindow (at most
// maxPrunePerBatch per call; the next batch takes the rest).
func pruneEventIDs(tx *bolt.Tx, now time.Time) error {
	byTime := tx.Bucket(bucketEventIDsByTime)
	ids := tx.Bucket(bucketEventIDs)
	var cut [8]byte
	binary.BigEndian.PutUint64(cut[:], uint64(max(now.Add(-EventIDWindow).UnixNano(), 0)))
	var old [][]byte
	c := byTime.Cursor()
	for k, _ := c.First(); k != nil && len(old) < maxPrunePerBatch && bytes.Compare(k[:8], cut[:]) < 0; k, _ = c.Next() {
		old = append(old, bytes.Clone(k))
	}
	for _, k := range old {
		if err := byTime.Delete(k); err != nil {
			return err
		}
		// The id may have been handled again since: then it carries a
		// newer time and stays.
		if v := ids.Get(k[8:]); bytes.Equal(v, k[:8]) {
			if err := ids.Delete(k[8:]); err != nil {
				return err
			}
		}
	}
	return nil
}

func laneKey(ev sensors.Event) string {
	if ev.HasLane {
		return fmt.Sprintf("%s\x00%d", ev.Gate, ev.Lane)
	}
	return ev.Gate + "\x00"
}

// plateSeenLocked handles a plate read, or a barrier_open carrying a plate.
func (l *Log) plateSeenLocked(b *batch, ev sensors.Event, barrier bool) error {
	p, ok := plate.NormalizePlate(ev.Plate)
	if !ok {
		return nil
	}
	dir := ev.Direction
	if dir != sensors.In && dir != sensors.Out {
		_, elsewhere := l.siteEntered(p)
		if _, in := l.inside[p]; in || elsewhere {
			dir = sensors.Out
		} else {
			dir = sensors.In
		}
	}
	pk := ev.Gate + "\x00" + p
	// The window is symmetric: two cameras on one lane can deliver their
	// reads slightly out of order.
	if r := l.byPlate[pk]; r != nil && (r.p.Direction == dir || barrier) &&
		ev.TS.Sub(r.lastAt).Abs() <= l.cfg.DedupWindow {
		// The same car seen again (or the barrier opening for it).
		if ev.TS.After(r.lastAt) {
			b.keep(r)
			r.lastAt = ev.TS
		}
		if barrier && !r.p.Confirmed {
			l.markConfirmedLocked(b, r)
		}
		return nil
	}
	pas := Passage{Site: l.cfg.Site, Gate: ev.Gate, Direction: dir, Plate: p,
		Class: l.classifyLocked(p, ev.TS), At: ev.TS, Lane: ev.Lane, Confirmed: barrier}
	key, err := l.recordLocked(b, &pas)
	if err != nil {
		return fmt.Errorf("passage at gate %s: %w", ev.Gate, err)
	}
	r := &recent{key: key, p: pas, lastAt: ev.TS}
	setUndo(b, l.byPlate, pk, r)
	setUndo(b, l.lastAtGate, laneKey(ev), r)
	b.passages = append(b.passages, pas)
	if len(b.passages) == 1 || ev.TS.After(b.latest) {
		b.latest = ev.TS
	}
	return nil
}

// recordLocked stores a new passage and updates the inside set in the
// batch's transaction.
func (l *Log) recordLocked(b *batch, p *Passage) ([]byte, error) {
	tx := b.tx
	pb := tx.Bucket(bucketPassages)
	seq, err := pb.NextSequence()
	if err != nil {
		return nil, err
	}
	key := passageKey(p.At, seq)
	p.ID = hex.EncodeToString(key)
	ib := tx.Bucket(bucketInside)
	switch p.Direction {
	case sensors.In:
		in := insideRecord{Plate: p.Plate, Class: p.Class, Gate: p.Gate, EntryAt: p.At.UTC(), PassageID: p.ID}
		v, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		if err := ib.Put([]byte(p.Plate), v); err != nil {
			return nil, err
		}
		setUndo(b, l.inside, p.Plate, in)
	case sensors.Out:
		if prev, ok := l.inside[p.Plate]; ok {
			entry := prev.EntryAt
			dwell := max(int64(p.At.Sub(entry)/time.Second), 0)
			p.EntryAt, p.DwellS = &entry, &dwell
			if err := ib.Delete([]byte(p.Plate)); err != nil {
				return nil, err
			}
			deleteUndo(b, l.inside, p.Plate)
		} else if in, ok := l.siteEntered(p.Plate); ok {
			// In at a gate another gateway of the site holds.
			entry := in.EntryAt.UTC()
			dwell := max(int64(p.At.Sub(entry)/time.Second), 0)
			p.EntryAt, p.DwellS = &entry, &dwell
		}
	}
	sp := stored(*p)
	// A passage stamped before the retention watermark (a sensor clock far
	// behind) would never be reached by Pseudonymise, which starts there.
	if w := tx.Bucket(bucketMeta).Get(keyAnonUpTo); w != nil && bytes.Compare(key, w) < 0 {
		sp.Passage.Plate = l.pseudonym(p.Plate)
	}
	v, err := json.Marshal(sp)
	if err != nil {
		return nil, err
	}
	return key, pb.Put(key, v)
}

// passageKey orders passages by time; the sequence keeps keys unique when
// two passages share a time stamp.
func passageKey(at time.Time, seq uint64) []byte {
	k := make([]byte, 16)
	ns := at.UnixNano()
	if ns < 0 {
		ns = 0
	}
	binary.BigEndian.PutUint64(k, uint64(ns))
	binary.BigEndian.PutUint64(k[8:], seq)
	return k
}

// confirmLocked handles a barrier_open without a plate, or a loop.
func (l *Log) confirmLocked(b *batch, ev sensors.Event) {
	r := l.lastAtGate[laneKey(ev)]
	if r == nil && ev.HasLane {
		r = l.lastAtGate[ev.Gate+"\x00"] // a loop with a lane after a read without one
	}
	if r == nil || r.p.Confirmed {
		return
	}
	if d := ev.TS.Sub(r.lastAt); d < 0 || d > l.cfg.ConfirmWindow {
		return
	}
	l.markConfirmedLocked(b, r)
}

func (l *Log) markConfirmedLocked(b *batch, r *recent) {
	b.keep(r)
	r.p.Confirmed = true
	err := updatePassage(b.tx, r.key, func(p *storedPassage) { p.Confirmed = true })
	if err != nil {
		l.log.Error("passage confirmation not stored", "id", r.p.ID, "err", err)
	}
}

// updatePassage rewrites one stored passage; ErrNotFound when it is gone.
func updatePassage(tx *bolt.Tx, key []byte, change func(*storedPassage)) error {
	b := tx.Bucket(bucketPassages)
	v := b.Get(key)
	if v == nil {
		return fmt.Errorf("%w: passage %x", ErrNotFound, key)
	}
	var p storedPassage
	if err := json.Unmarshal(v, &p); err != nil {
		return err
	}
	change(&p)
	nb, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return b.Put(key, nb)
}

// storedPassage is the database form of a Passage: the contract JSON plus
// the fields it leaves out (the outer fields shadow Passage's "-" ones).
type storedPassage struct {
	Passage
	Lane      int  `json:"lane,omitempty"`
	Confirmed bool `json:"confirmed,omitempty"`
}

func stored(p Passage) storedPassage {
	return storedPassage{Passage: p, Lane: p.Lane, Confirmed: p.Confirmed}
}

func (s storedPassage) passage() Passage {
	p := s.Passage
	p.Lane, p.Confirmed = s.Lane, s.Confirmed
	return p
}

// pruneRecentLocked forgets passages too old to be repeated or confirmed, so
// the maps stay as small as the traffic of the last minute.
func (l *Log) pruneRecentLocked(now time.Time) {
	keep := max(l.cfg.DedupWindow, l.cfg.ConfirmWindow)
	for k, r := range l.byPlate {
		if now.Sub(r.lastAt) > keep {
			delete(l.byPlate, k)
		}
	}
	for k, r := range l.lastAtGate {
		if now.Sub(r.lastAt) > keep {
			delete(l.lastAtGate, k)
		}
	}
}

func (l *Log) localise(p Passage) Passage {
	p.At = p.At.In(l.cfg.Location)
	if p.EntryAt != nil {
		e := p.EntryAt.In(l.cfg.Location)
		p.EntryAt = &e
	}
	return p
}

// Inside lists the vehicles inside now, longest stay first.
func (l *Log) Inside() []InsideVehicle {
	now := l.cfg.Now()
	l.mu.Lock()
	out := make([]InsideVehicle, 0, len(l.inside))
	for _, r := range l.inside {
		out = append(out, l.insideVehicle(r, now))
	}
	l.mu.Unlock()
	if b := l.site.Load(); b != nil {
		here := make(map[string]bool, len(out))
		for _, v := range out {
			here[v.Plate] = true
		}
		for _, v := range b.s.Others() {
			if !here[v.Plate] {
				d := max(now.Sub(v.EntryAt), 0)
				v.EntryAt, v.Dwell, v.DwellS = v.EntryAt.In(l.cfg.Location), d, int64(d/time.Second)
				out = append(out, v)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].EntryAt.Equal(out[j].EntryAt) {
			return out[i].EntryAt.Before(out[j].EntryAt)
		}
		return out[i].Plate < out[j].Plate
	})
	return out
}

func (l *Log) insideVehicle(r insideRecord, now time.Time) InsideVehicle {
	d := max(now.Sub(r.EntryAt), 0)
	return InsideVehicle{Plate: r.Plate, Class: r.Class, Gate: r.Gate, EntryAt: r.EntryAt.In(l.cfg.Location),
		Dwell: d, DwellS: int64(d / time.Second)}
}

// CheckOverstay reports, once each, the vehicles inside longer than the
// overstay limit at now; a vehicle is reported again only after it has left
// and come back. It calls OnOverstay for each and returns them.
func (l *Log) CheckOverstay(now time.Time) []InsideVehicle {
	l.mu.Lock()
	var due []insideRecord
	for _, r := range l.inside {
		if !r.Reported && now.Sub(r.EntryAt) > l.overstay {
			due = append(due, r)
		}
	}
	var out []InsideVehicle
	if len(due) > 0 {
		err := l.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketInside)
			for _, r := range due {
				r.Reported = true
				v, err := json.Marshal(r)
				if err != nil {
					return err
				}
				if err := b.Put([]byte(r.Plate), v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			l.mu.Unlock()
			l.log.Error("overstay state not stored; will retry", "err", err)
			return nil
		}
		for _, r := range due {
			r.Reported = true
			l.inside[r.Plate] = r
			out = append(out, l.insideVehicle(r, now))
		}
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].EntryAt.Before(out[j].EntryAt) })
	for _, v := range out {
		l.m.overstays.Inc()
		l.log.Info("vehicle overstay", "plate", v.Plate, "gate", v.Gate, "entry_at", v.EntryAt, "dwell", v.Dwell)
		if l.OnOverstay != nil {
			l.OnOverstay(v)
		}
	}
	return out
}

// Pseudonymise replaces the plate of every passage older than the retention
// period with AnonPrefix + hex HMAC-SHA256(secret, plate): plates are personal
// data, but a keyed pseudonym still lets old statistics count repeat visits.
// It returns how many passages it changed.
func (l *Log) Pseudonymise(now time.Time) (int, error) {
	cutoff := passageKey(now.Add(-l.retention), 0)
	n := 0
	err := l.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		c := tx.Bucket(bucketPassages).Cursor()
		var k, v []byte
		// Everything below the watermark is done already; start there.
		if from := meta.Get(keyAnonUpTo); from != nil {
			k, v = c.Seek(from)
		} else {
			k, v = c.First()
		}
		for ; k != nil && string(k) < string(cutoff); k, v = c.Next() {
			var p storedPassage
			if err := json.Unmarshal(v, &p); err != nil {
				l.log.Error("corrupt passage skipped", "key", hex.EncodeToString(k), "err", err)
				continue
			}
			if strings.HasPrefix(p.Plate, AnonPrefix) {
				continue
			}
			p.Passage.Plate = l.pseudonym(p.Plate)
			nb, err := json.Marshal(p)
			if err != nil {
				return err
			}
			if err := c.Bucket().Put(k, nb); err != nil {
				return err
			}
			n++
		}
		return meta.Put(keyAnonUpTo, cutoff)
	})
	if err != nil {
		return 0, fmt.Errorf("vehicles: pseudonymise: %w", err)
	}
	l.m.anon.Add(float64(n))
	if n > 0 {
		l.log.Info("pseudonymised plates past retention", "passages", n, "retention", l.retention)
	}
	return n, nil
}

func (l *Log) pseudonym(p string) string {
	m := hmac.New(sha256.New, l.secret)
	m.Write([]byte(p))
	return AnonPrefix + hex.EncodeToString(m.Sum(nil))
}

// Passages returns the passages matching q, newest first.
func (l *Log) Passages(q Query) []Passage {
	if q.Limit <= 0 {
		q.Limit = DefaultQueryLimit
	}
	if q.Plate != "" {
		if p, ok := plate.NormalizePlate(q.Plate); ok {
			q.Plate = p
		}
	}
	var out []Passage
	err := l.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketPassages).Cursor()
		var k, v []byte
		if q.Until.IsZero() {
			k, v = c.Last()
		} else {
			// Seek lands on the first key >= Until; everything from there is excluded.
			k, v = c.Seek(passageKey(q.Until, 0))
			if k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		}
		var since []byte
		if !q.Since.IsZero() {
			since = passageKey(q.Since, 0)
		}
		for ; k != nil && len(out) < q.Limit; k, v = c.Prev() {
			if since != nil && string(k) < string(since) {
				break
			}
			var p storedPassage
			if err := json.Unmarshal(v, &p); err != nil {
				continue
			}
			if (q.Plate != "" && p.Plate != q.Plate) || (q.Gate != "" && p.Gate != q.Gate) {
				continue
			}
			out = append(out, l.localise(p.passage()))
		}
		return nil
	})
	if err != nil {
		l.log.Error("passage query failed", "err", err)
	}
	return out
}

// Get returns the passage with id; ErrNotFound when there is none.
func (l *Log) Get(id string) (Passage, error) {
	key, err := hex.DecodeString(id)
	if err != nil || len(key) != 16 {
		return Passage{}, fmt.Errorf("%w: passage %q", ErrNotFound, id)
	}
	var p storedPassage
	err = l.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketPassages).Get(key)
		if v == nil {
			return fmt.Errorf("%w: passage %q", ErrNotFound, id)
		}
		return json.Unmarshal(v, &p)
	})
	if err != nil {
		return Passage{}, err
	}
	return l.localise(p.passage()), nil
}

// SnapshotPath is the console URL of a passage's snapshot (contract 5).
func SnapshotPath(id string) string { return "/api/vehicles/passages/" + id + "/snapshot.jpg" }

// SetSnapshot records that a snapshot of passage id has been stored (the
// gateway grabs it from the gate camera in OnPassage) and returns the link
// now carried in the passage's snapshot field.
func (l *Log) SetSnapshot(id string) (string, error) {
	key, err := hex.DecodeString(id)
	if err != nil || len(key) != 16 {
		return "", fmt.Errorf("%w: passage %q", ErrNotFound, id)
	}
	link := SnapshotPath(id)
	err = l.db.Update(func(tx *bolt.Tx) error {
		return updatePassage(tx, key, func(p *storedPassage) { p.Snapshot = link })
	})
	if err != nil {
		return "", err
	}
	return link, nil
}

// AddVisitor adds or replaces a temporary visitor plate.
func (l *Log) AddVisitor(v Visitor) error {
	p, ok := plate.NormalizePlate(v.Plate)
	if !ok {
		return fmt.Errorf("%w: %q", ErrBadPlate, v.Plate)
	}
	if !v.ValidUntil.After(v.ValidFrom) {
		return ErrBadVisit
	}
	v.Plate = p
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketVisitors).Put([]byte(p), b) }); err != nil {
		return fmt.Errorf("vehicles: store visitor: %w", err)
	}
	l.visitors[p] = v
	return nil
}

// Visitors lists the visitor plates, by plate.
func (l *Log) Visitors() []Visitor {
	l.mu.Lock()
	out := make([]Visitor, 0, len(l.visitors))
	for _, v := range l.visitors {
		v.ValidFrom, v.ValidUntil = v.ValidFrom.In(l.cfg.Location), v.ValidUntil.In(l.cfg.Location)
		out = append(out, v)
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Plate < out[j].Plate })
	return out
}

// RemoveVisitor removes a visitor plate; ErrNotFound when there is none.
func (l *Log) RemoveVisitor(p string) error {
	if np, ok := plate.NormalizePlate(p); ok {
		p = np
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.visitors[p]; !ok {
		return fmt.Errorf("%w: visitor %q", ErrNotFound, p)
	}
	if err := l.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketVisitors).Delete([]byte(p)) }); err != nil {
		return fmt.Errorf("vehicles: remove visitor: %w", err)
	}
	delete(l.visitors, p)
	return nil
}

// Residents returns how many residents are loaded and the lines of the
// residents file skipped at the last load.
func (l *Log) Residents() (int, []LineError) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.residents), append([]LineError(nil), l.resProblems...)
}

// reloadResidents reads the residents file when its mtime or size changed (or
// always when force). A file that cannot be read keeps the previous list: a
// half-copied file must not turn every resident into "unknown".
func (l *Log) reloadResidents(force bool) {
	path := l.cfg.Vehicles.ResidentsFile
	if path == "" {
		return
	}
	st, err := os.Stat(path)
	if err != nil {
		l.mu.Lock()
		was := l.resStamp.ok
		l.resStamp = fileStamp{}
		l.mu.Unlock()
		if force || was {
			l.m.reloadErrs.Inc()
			l.log.Warn("residents file not readable; keeping the current list", "file", path, "err", err)
		}
		return
	}
	stamp := fileStamp{mod: st.ModTime(), size: st.Size(), ok: true}
	l.mu.Lock()
	same := l.resStamp == stamp
	l.mu.Unlock()
	if same && !force {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		l.m.reloadErrs.Inc()
		l.log.Warn("residents file not readable; keeping the current list", "file", path, "err", err)
		return
	}
	res, bad, err := ParseResidents(f)
	f.Close()
	if err != nil {
		l.m.reloadErrs.Inc()
		l.log.Warn("residents file not readable; keeping the current list", "file", path, "err", err)
		return
	}
	for i, e := range bad {
		if i == 20 {
			l.log.Warn("more bad lines in residents file", "file", path, "count", len(bad)-i)
			break
		}
		l.log.Warn("residents file: line skipped", "file", path, "line", e.Line, "problem", e.Msg)
	}
	l.mu.Lock()
	l.residents, l.resProblems, l.resStamp = res, bad, stamp
	l.mu.Unlock()
	l.m.residents.Set(float64(len(res)))
	l.m.badLines.Set(float64(len(bad)))
	l.log.Info("residents loaded", "file", path, "residents", len(res), "bad_lines", len(bad))
}
