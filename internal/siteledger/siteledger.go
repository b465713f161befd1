// Package siteledger is the vehicle ledger's inside set shared by a
// cluster's gateways (issue 16 item 3): a replicated JetStream KV bucket,
// one key per plate, written by the gateway that saw the car pass and
// watched by all. A car in at a gate one gateway holds and out at a gate
// another holds is paired by the second (vehicles.SiteInside), and the
// first drops it from its own inside set when it sees the exit.
//
// Writes are asynchronous (a car takes minutes from one gate to another;
// the gate handler must not wait for a quorum per passage). Each gateway's
// passages themselves stay in its own ledger.
package siteledger

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanewatch/lanewatch/internal/sensors"
	"github.com/lanewatch/lanewatch/internal/vehicles"
)

// Bucket is the KV bucket of the site's inside set.
const Bucket = "lanewatch_inside"

// queueSize bounds the passages waiting to be written: beyond it they are
// counted and dropped (the passage stays in the gateway's own ledger).
const queueSize = 1 << 16

// record is one plate's latest passage on the site.
type record struct {
	Gateway string         `json:"gateway"`
	Plate   string         `json:"plate"`
	Gate    string         `json:"gate"`
	Class   vehicles.Class `json:"class"`
	EntryAt time.Time      `json:"entry_at,omitzero"` // zero: an out with no known entry
	OutAt   time.Time      `json:"out_at,omitzero"`   // zero: inside
}

// Inside is one gateway's part. Set the fields, Start, Close.
type Inside struct {
	Conn     *nats.Conn
	Self     string
	Replicas int
	// Leave is called when another gateway saw plate enter again or leave
	// after at: this gateway's own entry of it, if not later, is over.
	Leave      func(plate string, at time.Time)
	Logger     *slog.Logger
	Registerer prometheus.Registerer

	log        *slog.Logger
	js         jetstream.JetStream
	kv         jetstream.KeyValue
	queue      chan record
	stop       chan struct{}
	writerDone chan struct{} // closed when the writer has returned
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	written    *prometheus.CounterVec

	mu     sync.Mutex
	others map[string]record // plate -> inside, entered at another gateway
}

// Start opens the bucket (retrying while a forming cluster elects its
// meta leader) and starts the watcher and the writer.
func (s *Inside) Start(ctx context.Context) error {
	s.log = s.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "site ledger")
	s.written = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_site_inside_writes_total",
		Help: "Passages written to the site's inside set, by result (ok, failed, dropped)."}, []string{"result"})
	if s.Registerer != nil {
		if err := s.Registerer.Register(s.written); err != nil {
			return err
		}
	}
	var err error
	if s.js, err = jetstream.New(s.Conn); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		s.kv, err = s.js.CreateOrUpdateKeyValue(cctx, jetstream.KeyValueConfig{Bucket: Bucket, History: 1,
			Replicas: max(s.Replicas, 1), Storage: jetstream.FileStorage})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("site ledger: %w", err)
		}
		time.Sleep(time.Second)
	}
	s.others = map[string]record{}
	s.queue, s.stop, s.writerDone = make(chan record, queueSize), make(chan struct{}), make(chan struct{})
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	w, err := s.kv.WatchAll(runCtx)
	if err != nil {
		cancel()
		return fmt.Errorf("site ledger: watch: %w", err)
	}
	s.wg.Add(2)
	go s.watch(runCtx, w)
	go s.write(runCtx)
	return nil
}

// Close writes what is queued (at most two seconds more) and stops.
func (s *Inside) Close() error {
	if s.cancel == nil {
		return nil
	}
	close(s.stop)
	select {
	case <-s.writerDone:
	case <-time.After(2 * time.Second):
	}
	s.cancel()
	s.wg.Wait()
	return nil
}

// Record takes this gateway's new passage (Log.OnPassage); it never waits.
func (s *Inside) Record(p vehicles.Passage) {
	r := record{Gateway: s.Self, Plate: p.Plate, Gate: p.Gate, Class: p.Class}
	switch p.Direction {
	case sensors.In:
		r.EntryAt = p.At.UTC()
	case sensors.Out:
		r.OutAt = p.At.UTC()
		if p.EntryAt != nil {
			r.EntryAt = p.EntryAt.UTC()
		}
	default:
		return
	}
	// It has left or entered here: no longer inside through another gateway.
	s.mu.Lock()
	delete(s.others, p.Plate)
	s.mu.Unlock()
	select {
	case s.queue <- r:
	default:
		s.written.WithLabelValues("dropped").Inc()
	}
}

// Entered implements vehicles.SiteInside.
func (s *Inside) Entered(plate string) (vehicles.InsideVehicle, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.others[plate]
	if !ok {
		return vehicles.InsideVehicle{}, false
	}
	return vehicles.InsideVehicle{Plate: r.Plate, Class: r.Class, Gate: r.Gate, EntryAt: r.EntryAt}, true
}

// Others implements vehicles.SiteInside.
func (s *Inside) Others() []vehicles.InsideVehicle {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]vehicles.InsideVehicle, 0, len(s.others))
	for _, r := range s.others {
		out = append(out, vehicles.InsideVehicle{Plate: r.Plate, Class: r.Class, Gate: r.Gate, EntryAt: r.EntryAt})
	}
	return out
}

func key(plate string) string { return hex.EncodeToString([]byte(plate)) }

// write publishes the queued records without waiting for each PubAck: a
// window of them is in flight, then settled together.
func (s *Inside) write(ctx context.Context) {
	defer s.wg.Done()
	defer close(s.writerDone)
	var inflight []jetstream.PubAckFuture
	for {
		var r record
		select {
		case r = <-s.queue:
		case <-s.stop:
			for {
				select {
				case r := <-s.queue:
					inflight = s.publish(r, inflight)
				default:
					s.settle(ctx, inflight)
					return
				}
			}
		}
		inflight = s.publish(r, inflight)
		if len(s.queue) == 0 || len(inflight) >= 1024 {
			s.settle(ctx, inflight)
			inflight = inflight[:0]
		}
	}
}

func (s *Inside) publish(r record, inflight []jetstream.PubAckFuture) []jetstream.PubAckFuture {
	b, err := json.Marshal(r)
	if err != nil {
		s.failed(err)
		return inflight
	}
	f, err := s.js.PublishAsync("$KV."+Bucket+"."+key(r.Plate), b)
	if err != nil {
		s.failed(err)
		return inflight
	}
	return append(inflight, f)
}

// settle waits for each PubAck in flight, five seconds in all.
func (s *Inside) settle(ctx context.Context, inflight []jetstream.PubAckFuture) {
	timeout := time.After(5 * time.Second)
	for i, f := range inflight {
		select {
		case <-f.Ok():
			s.written.WithLabelValues("ok").Inc()
		case err := <-f.Err():
			s.failed(err)
		case <-timeout:
			s.written.WithLabelValues("failed").Add(float64(len(inflight) - i))
			s.log.Warn("passages not in the site's inside set", "n", len(inflight)-i, "err", errors.New("no acknowledgement within 5 s"))
			return
		case <-ctx.Done():
			return
		}
	}
}

func (s *Inside) failed(err error) {
	s.written.WithLabelValues("failed").Inc()
	s.log.Warn("passage not in the site's inside set", "err", err)
}

// watch follows the bucket: entries made at other gateways are kept for
// Entered; an exit or a later entry elsewhere ends this gateway's own.
func (s *Inside) watch(ctx context.Context, w jetstream.KeyWatcher) {
	defer s.wg.Done()
	defer w.Stop()
	for {
		var e jetstream.KeyValueEntry
		var ok bool
		select {
		case <-ctx.Done():
			return
		case e, ok = <-w.Updates():
			if !ok {
				return
			}
		}
		if e == nil || e.Operation() != jetstream.KeyValuePut {
			continue // the end of the initial values; deletes are not used
		}
		var r record
		if json.Unmarshal(e.Value(), &r) != nil || r.Plate == "" {
			s.log.Warn("bad entry in the site's inside set", "key", e.Key())
			continue
		}
		if r.Gateway == s.Self {
			continue
		}
		s.mu.Lock()
		if r.OutAt.IsZero() {
			s.others[r.Plate] = r
		} else {
			delete(s.others, r.Plate)
		}
		s.mu.Unlock()
		if s.Leave != nil && !r.EntryAt.IsZero() {
			s.Leave(r.Plate, r.EntryAt)
		}
	}
}
