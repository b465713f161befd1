// Package siteincidents is the site-wide copy of every gateway's incidents
// in a cluster (contract section 12, issue 16 items 3 and 4): each gateway
// writes its incident changes to a replicated JetStream KV bucket keyed by
// incident id, with the gateway that owns it, and every gateway watches the
// bucket, so that any of them lists the whole site and a dead gateway's
// incidents (even with its disk gone) stay visible.
//
// A single box does not use it: its bbolt incidents.db stays the one store.
//
// Writes are compare-and-set on the key's revision and keep the highest
// version, so a late or repeated write never replaces a newer one (an
// incident adopted by another gateway after its owner died continues from
// the version the dead owner reached).
package siteincidents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
)

// Bucket is the JetStream KV bucket of the site's incidents.
const Bucket = "lanewatch_incidents"

// DefaultTTL bounds how long an incident nobody changes stays in the
// bucket: the engine's own retention of resolved incidents.
const DefaultTTL = 365 * 24 * time.Hour

// ErrNotReady: the bucket is not made yet (JetStream has no quorum).
var ErrNotReady = errors.New("siteincidents: the site's bucket is not ready")

// ErrStale: the bucket holds this version of the incident or a newer one.
var ErrStale = errors.New("siteincidents: stale version")

// Record is one incident as the bucket holds it.
type Record struct {
	Gateway string `json:"gateway"` // the gateway that made this version
	// Origin is the gateway that opened the incident, which keeps its
	// evidence (snapshot, clip) when another gateway carries it on.
	Origin   string            `json:"origin"`
	Version  int               `json:"version"`
	Kind     string            `json:"kind"` // the change that made it (incidents.ChangeKind)
	Incident incident.Incident `json:"incident"`
}

// Store is one gateway's side of the bucket. Set the fields, Start, Close.
type Store struct {
	Conn     *nats.Conn // to the embedded server (broker.Conn)
	Self     string     // this gateway's id
	Replicas int
	TTL      time.Duration // default DefaultTTL
	Logger   *slog.Logger
	// Registerer gets lanewatch_site_incidents_* metrics; nil: a private registry.
	Registerer prometheus.Registerer

	log    *slog.Logger
	kv     jetstream.KeyValue
	cancel context.CancelFunc
	done   chan struct{}
	m      metrics

	mu   sync.RWMutex
	view map[string]Record
	// taken is closed and replaced whenever the view takes a record (Sync).
	taken chan struct{}
	subs  map[chan Record]struct{}
	ready chan struct{} // closed once the watch has delivered the bucket's content
}

type metrics struct {
	writes   *prometheus.CounterVec
	syncLate prometheus.Counter
	known    prometheus.GaugeFunc
}

// Start starts making (or opening) the bucket and watching it, and returns
// at once; Ready says when the bucket's content is loaded.
func (s *Store) Start(ctx context.Context) error {
	if s.Conn == nil || s.Self == "" {
		return errors.New("siteincidents: needs a connection and this gateway's id")
	}
	if s.Replicas <= 0 {
		s.Replicas = 1
	}
	if s.TTL <= 0 {
		s.TTL = DefaultTTL
	}
	s.log = s.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "site incidents")
	s.view, s.subs, s.ready, s.taken = map[string]Record{}, map[chan Record]struct{}{}, make(chan struct{}), make(chan struct{})
	if err := s.initMetrics(); err != nil {
		return err
	}
	js, err := jetstream.New(s.Conn)
	if err != nil {
		return fmt.Errorf("siteincidents: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel, s.done = cancel, make(chan struct{})
	// The bucket is made in the background: a cluster that is forming has
	// no quorum for it yet, and the gateway must run meanwhile (its changes
	// wait in the follower, in order, until the bucket takes them).
	go s.run(runCtx, js)
	return nil
}

// Ready is closed once the bucket's content is loaded into the view.
func (s *Store) Ready() <-chan struct{} { return s.ready }

func (s *Store) run(ctx context.Context, js jetstream.JetStream) {
	defer close(s.done)
	for logged := false; ; {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		kv, err := js.CreateOrUpdateKeyValue(cctx, jetstream.KeyValueConfig{Bucket: Bucket, History: 1, TTL: s.TTL,
			Replicas: s.Replicas, Storage: jetstream.FileStorage})
		cancel()
		if err == nil {
			s.mu.Lock()
			s.kv = kv
			s.mu.Unlock()
			break
		}
		if !logged {
			s.log.Info("waiting for JetStream to hold the site's incidents", "err", err)
			logged = true
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return
		}
	}
	s.watch(ctx)
}

func (s *Store) initMetrics() error {
	reg := s.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s.m.writes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_site_incidents_writes_total",
		Help: "Incident changes written to the site's replicated bucket, by result (ok, stale, error)."}, []string{"result"})
	s.m.known = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lanewatch_site_incidents_known",
		Help: "Incidents of the whole site this gateway sees in the replicated bucket."}, func() float64 {
		s.mu.RLock()
		defer s.mu.RUnlock()
		return float64(len(s.view))
	})
	s.m.syncLate = prometheus.NewCounter(prometheus.CounterOpts{Name: "lanewatch_site_incidents_sync_timeouts_total",
		Help: "Waits for incident changes to reach the site's bucket that timed out (JetStream without quorum)."})
	for _, c := range []prometheus.Collector{s.m.writes, s.m.known, s.m.syncLate} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("siteincidents: register metrics: %w", err)
		}
	}
	return nil
}

// watch keeps the view, restarting the watcher if JetStream drops it.
func (s *Store) watch(ctx context.Context) {
	var readyOnce sync.Once
	for ctx.Err() == nil {
		w, err := s.bucket().WatchAll(ctx)
		if err != nil {
			s.log.Warn("watching the site's incidents", "err", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
			continue
		}
		for e := range w.Updates() {
			if e == nil { // the bucket's content so far is delivered
				readyOnce.Do(func() { close(s.ready) })
				continue
			}
			if e.Operation() != jetstream.KeyValuePut {
				s.mu.Lock()
				delete(s.view, e.Key())
				s.mu.Unlock()
				continue
			}
			var r Record
			if err := json.Unmarshal(e.Value(), &r); err != nil || r.Incident.ID != e.Key() {
				s.log.Warn("unreadable site incident record skipped", "key", e.Key(), "err", err)
				continue
			}
			r.Incident.Version = r.Version
			s.take(r)
		}
		_ = w.Stop()
	}
}

// take keeps r if it is newer than what the view holds and tells the subscribers.
func (s *Store) take(r Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A newer version replaces; so does a claim (the same version, another
	// gateway), which the stream orders after the record it replaced.
	if old, ok := s.view[r.Incident.ID]; ok && (old.Version > r.Version || (old.Version == r.Version && old.Gateway == r.Gateway)) {
		return
	}
	s.view[r.Incident.ID] = r
	close(s.taken)
	s.taken = make(chan struct{})
	for ch := range s.subs {
		select {
		case ch <- r:
		default:
			// A reader that does not keep up misses changes rather than
			// stalling the watch; the wall reloads the list on reconnect.
		}
	}
}

// Put writes one change of this gateway's engine. It returns nil when the
// bucket holds it (or a newer version already), an error worth retrying
// otherwise.
func (s *Store) Put(ctx context.Context, c incidents.Change) error {
	r := Record{Gateway: s.Self, Origin: s.Self, Version: c.Incident.Version, Kind: string(c.Kind), Incident: c.Incident}
	err := s.put(ctx, &r)
	switch {
	case errors.Is(err, ErrStale):
		s.m.writes.WithLabelValues("stale").Inc()
		return nil
	case err != nil:
		s.m.writes.WithLabelValues("error").Inc()
		return err
	}
	s.m.writes.WithLabelValues("ok").Inc()
	s.take(r)
	return nil
}

func (s *Store) put(ctx context.Context, r *Record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	id := r.Incident.ID
	kv := s.bucket()
	if kv == nil {
		return ErrNotReady
	}
	for attempt := 0; attempt < 5; attempt++ {
		e, err := kv.Get(ctx, id)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			_, err = kv.Create(ctx, id, data)
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue // written meanwhile: compare with it
			}
			return err
		case err != nil:
			return err
		}
		var old Record
		err = json.Unmarshal(e.Value(), &old)
		if err == nil && old.Origin != "" && old.Origin != r.Origin {
			r.Origin = old.Origin
			if data, err = json.Marshal(r); err != nil {
				return err
			}
		}
		if err == nil && old.Version >= r.Version {
			if old.Gateway != r.Gateway {
				s.log.Warn("incident carried on by another gateway; this copy is older", "incident", id,
					"version", r.Version, "bucket_version", old.Version, "by", old.Gateway)
			}
			return ErrStale
		}
		_, err = kv.Update(ctx, id, data, e.Revision())
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return err // nil: written
		}
	}
	return fmt.Errorf("siteincidents: %s: too many concurrent writers", id)
}

// Claim makes this gateway the owner of an incident whose owner was
// deadOwner (dead: the caller adopted it), at the version the bucket holds.
// It fails with ErrStale when the bucket no longer names deadOwner (another
// gateway claimed it first, or the owner came back and changed it): the
// caller must let go of the incident.
func (s *Store) Claim(ctx context.Context, id, deadOwner string) error {
	kv := s.bucket()
	if kv == nil {
		return ErrNotReady
	}
	e, err := kv.Get(ctx, id)
	if err != nil {
		return err
	}
	var r Record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return err
	}
	if r.Gateway == s.Self {
		return nil
	}
	if r.Gateway != deadOwner {
		return fmt.Errorf("%w: %s is carried on by %s", ErrStale, id, r.Gateway)
	}
	if r.Origin == "" {
		r.Origin = r.Gateway
	}
	r.Gateway, r.Kind = s.Self, "adopted"
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := kv.Update(ctx, id, data, e.Revision()); err != nil {
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return fmt.Errorf("%w: %s changed meanwhile", ErrStale, id)
		}
		return err
	}
	r.Incident.Version = r.Version
	s.take(r)
	return nil
}

// Follower is the incidents.Follower that writes this gateway's changes,
// retrying while JetStream cannot take them (a leader election).
func (s *Store) Follower(src incidents.Source) *incidents.Follower {
	return &incidents.Follower{Name: "site incidents", Source: src, Logger: s.log,
		Handle: func(ctx context.Context, c incidents.Change) error {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			return s.Put(cctx, c)
		},
		Retry: func(error) bool { return true }}
}

func (s *Store) bucket() jetstream.KeyValue {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.kv
}

// Sync waits until the bucket holds at least the given version of each
// incident (by id), or ctx ends (then it fails with ctx's error).
func (s *Store) Sync(ctx context.Context, versions map[string]int) error {
	for {
		s.mu.RLock()
		taken, behind := s.taken, ""
		for id, v := range versions {
			if r, ok := s.view[id]; !ok || r.Version < v {
				behind = id
				break
			}
		}
		s.mu.RUnlock()
		if behind == "" {
			return nil
		}
		select {
		case <-taken:
		case <-ctx.Done():
			s.m.syncLate.Inc()
			return fmt.Errorf("siteincidents: %s not in the site's bucket yet: %w", behind, ctx.Err())
		}
	}
}

// Get is the incident as the bucket last said.
func (s *Store) Get(id string) (Record, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.view[id]
	return r, ok
}

// List returns the records whose incidents match f, newest first (ids
// sort by time), after f.Before and at most f.Limit (default 100).
func (s *Store) List(f incidents.Filter) []Record {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	s.mu.RLock()
	out := make([]Record, 0, min(len(s.view), f.Limit))
	for id, r := range s.view {
		if (f.Before == "" || id < f.Before) && f.Match(r.Incident) {
			out = append(out, r)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Incident.ID > out[j].Incident.ID })
	if len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out
}

// Unresolved lists the records of incidents not resolved, in no order.
func (s *Store) Unresolved() []Record {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Record
	for _, r := range s.view {
		if r.Incident.State != incident.Resolved {
			out = append(out, r)
		}
	}
	return out
}

// Subscribe delivers every newer record the bucket receives (from any
// gateway, this one included) until cancel.
func (s *Store) Subscribe() (<-chan Record, func()) {
	ch := make(chan Record, 256)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.subs, ch)
			close(ch)
			s.mu.Unlock()
		})
	}
}

// Close stops the watch.
func (s *Store) Close() error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	<-s.done
	return nil
}
