// Package siteledger is the vehicle ledger's inside set shared by a
// cluster's gateways (issue 16 item 3): a replicated JetStream KV bucket,
// one key per plate, written by the gateway that saw the car pass and
// watched by all. A car in at a gate one gateway holds and out at a gate
// another holds is paired by the second (vehicles.SiteInside), and the
// first drops it from its own inside set when it sees the exit.
//
// Every passage also goes to the replicated stream LW_PASSAGES, which
// every gateway imports into its own ledger (Ledger): the passages list is
// the site's on any gateway and survives the loss of the one that recorded
// them; a gateway back with an empty disk imports the stream from its
// start.
//
// Writes are asynchronous (a car takes minutes from one gate to another;
// the gate handler must not wait for a quorum per passage).
package siteledger

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanewatch/lanewatch/internal/logx"
	"github.com/lanewatch/lanewatch/internal/sensors"
	"github.com/lanewatch/lanewatch/internal/vehicles"
)

// Bucket is the KV bucket of the site's inside set.
const Bucket = "lanewatch_inside"

// Stream is the site's passages; subjects cannot come from MQTT (no MQTT
// topic maps to a subject with a '$').
const (
	Stream          = "LW_PASSAGES"
	passageSubjects = "$LW.passages."
)

// Ledger is this gateway's vehicle ledger as the import needs it.
type Ledger interface {
	ImportedUpTo() (uint64, error)
	Import(self string, ps []vehicles.Imported, upTo uint64) error
}

// op is one queued write: a KV record or a passage.
type op struct {
	subject string
	msgID   string // Nats-Msg-Id: a repeat within the stream's window is stored once
	data    []byte
}

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
	Leave func(plate string, at time.Time)
	// Ledger, when set, gets the site's passages, and this gateway's go
	// to the stream; Retention (vehicles.retention, 0: none) ages them out.
	Ledger     Ledger
	Retention  time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer

	log        *slog.Logger
	js         jetstream.JetStream
	kv         jetstream.KeyValue
	queue      chan op
	stop       chan struct{}
	writerDone chan struct{} // closed when the writer has returned
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	written    *prometheus.CounterVec
	imported   *prometheus.CounterVec
	// syncTimeouts: Syncs that gave up (events acknowledged before their
	// passages were in the site's stream).
	syncTimeouts prometheus.Counter
	errLog       *logx.Throttle

	qmu      sync.Mutex // enqueue: a send and its count together
	enqueued uint64
	smu      sync.Mutex
	scond    *sync.Cond
	settled  uint64

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
	s.errLog = &logx.Throttle{Log: s.log, Interval: 10 * time.Second}
	s.written = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_site_inside_writes_total",
		Help: "Passages written to the site's inside set, by result (ok, failed, dropped)."}, []string{"result"})
	s.syncTimeouts = prometheus.NewCounter(prometheus.CounterOpts{Name: "lanewatch_site_ledger_sync_timeouts_total",
		Help: "Gate events acknowledged before their passages were in the site's stream (no quorum in time)."})
	s.imported = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_site_passages_imported_total",
		Help: "The site's passages taken into this gateway's ledger, by result (ok, bad, failed)."}, []string{"result"})
	if s.Registerer != nil {
		for _, c := range []prometheus.Collector{s.written, s.imported, s.syncTimeouts} {
			if err := s.Registerer.Register(c); err != nil {
				return err
			}
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
	s.queue, s.stop, s.writerDone = make(chan op, queueSize), make(chan struct{}), make(chan struct{})
	s.scond = sync.NewCond(&s.smu)
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	w, err := s.kv.WatchAll(runCtx)
	if err != nil {
		cancel()
		return fmt.Errorf("site ledger: watch: %w", err)
	}
	if s.Ledger != nil {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = s.js.CreateOrUpdateStream(cctx, jetstream.StreamConfig{Name: Stream, Subjects: []string{passageSubjects + ">"},
			Replicas: max(s.Replicas, 1), Storage: jetstream.FileStorage, MaxAge: s.Retention})
		ccancel()
		if err != nil {
			w.Stop()
			cancel()
			return fmt.Errorf("site ledger: passages stream: %w", err)
		}
		s.wg.Add(1)
		go s.importPassages(runCtx)
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
	if b, err := json.Marshal(r); err == nil {
		s.enqueue(op{subject: "$KV." + Bucket + "." + key(r.Plate), data: b})
	}
	if s.Ledger != nil {
		if b, err := json.Marshal(p); err == nil {
			s.enqueue(op{subject: passageSubjects + s.Self, msgID: s.Self + ":" + p.ID, data: b})
		}
	}
}

func (s *Inside) enqueue(o op) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	select {
	case s.queue <- o:
		s.enqueued++
	default:
		s.written.WithLabelValues("dropped").Inc()
	}
}

// done marks n queued ops as settled (acknowledged or failed).
func (s *Inside) done(n int) {
	s.smu.Lock()
	s.settled += uint64(n)
	s.smu.Unlock()
	s.scond.Broadcast()
}

// Sync waits until everything Record queued before the call is settled
// (acknowledged by the quorum, or failed), or ctx ends: the gate handler
// acknowledges its events only after it, so that a passage acknowledged is
// in the site's stream even if this gateway dies with its disk at once.
func (s *Inside) Sync(ctx context.Context) error { return s.SyncTo(ctx, s.Mark()) }

// Mark is how far Record has queued, for SyncTo.
func (s *Inside) Mark() uint64 {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return s.enqueued
}

// SyncTo waits until what Record queued up to mark is settled, or ctx ends.
func (s *Inside) SyncTo(ctx context.Context, target uint64) error {
	stop := context.AfterFunc(ctx, func() {
		s.smu.Lock()
		defer s.smu.Unlock()
		s.scond.Broadcast()
	})
	defer stop()
	s.smu.Lock()
	defer s.smu.Unlock()
	for s.settled < target {
		if ctx.Err() != nil {
			s.syncTimeouts.Inc()
			s.errLog.Logf(slog.LevelWarn, "sync", "gate events acknowledged before their passages were in the site's stream", "err", ctx.Err())
			return ctx.Err()
		}
		s.scond.Wait()
	}
	return nil
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
		var r op
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

func (s *Inside) publish(o op, inflight []jetstream.PubAckFuture) []jetstream.PubAckFuture {
	m := &nats.Msg{Subject: o.subject, Data: o.data}
	if o.msgID != "" {
		m.Header = nats.Header{jetstream.MsgIDHeader: []string{o.msgID}}
	}
	f, err := s.js.PublishMsgAsync(m)
	if err != nil {
		s.failed(err)
		s.done(1)
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
			s.done(len(inflight) - i)
			return
		case <-ctx.Done():
			s.done(len(inflight) - i)
			return
		}
		s.done(1)
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

// importPassages takes the site's passages stream into this gateway's
// ledger, from where the ledger's store left off (its start on an empty
// disk), in batches, each with the sequence it reaches.
func (s *Inside) importPassages(ctx context.Context) {
	defer s.wg.Done()
	wait := time.Second
	for ctx.Err() == nil {
		err := s.importFrom(ctx)
		if ctx.Err() != nil {
			return
		}
		s.imported.WithLabelValues("failed").Inc()
		s.log.Warn("site passages not imported; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

func (s *Inside) importFrom(ctx context.Context) error {
	from, err := s.Ledger.ImportedUpTo()
	if err != nil {
		return err
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{passageSubjects + ">"}}
	if from > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from+1
	}
	c, err := s.js.OrderedConsumer(ctx, Stream, cfg)
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		batch, err := c.Fetch(512, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return err
		}
		var ps []vehicles.Imported
		var upTo uint64
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			upTo = md.Sequence.Stream
			var p vehicles.Passage
			if json.Unmarshal(m.Data(), &p) != nil || p.ID == "" {
				s.imported.WithLabelValues("bad").Inc()
				continue
			}
			ps = append(ps, vehicles.Imported{Gateway: strings.TrimPrefix(m.Subject(), passageSubjects), Passage: p})
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
			return err
		}
		if upTo == 0 {
			continue
		}
		if err := s.Ledger.Import(s.Self, ps, upTo); err != nil {
			return err
		}
		s.imported.WithLabelValues("ok").Add(float64(len(ps)))
	}
	return ctx.Err()
}
