// Package siteledger is the vehicle ledger shared by a cluster's gateways
// (issue 16 item 3). Every passage goes to the replicated stream
// LW_PASSAGES, which every gateway follows from its start:
//
//   - the inside set: the latest passage of each plate recorded by another
//     gateway says whether that car is inside through it. A car in at a gate
//     one gateway holds and out at a gate another holds is paired by the
//     second (vehicles.SiteInside), and the first drops it from its own
//     inside set when it sees the exit.
//   - the passages list: each gateway imports the stream into its own ledger
//     (Ledger), from where its store left off; the list is the site's on any
//     gateway and survives the loss of the one that recorded them. A gateway
//     back with an empty disk imports the stream from its start.
//
// One replicated write per passage: the inside set was a KV bucket written
// beside the stream, which doubled the quorum's work for what the stream
// already says. Writes are asynchronous (a car takes minutes from one gate
// to another; the gate handler must not wait for a quorum per passage).
package siteledger

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanewatch/lanewatch/internal/cluster"
	"github.com/lanewatch/lanewatch/internal/logx"
	"github.com/lanewatch/lanewatch/internal/sensors"
	"github.com/lanewatch/lanewatch/internal/vehicles"
)

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

// op is one queued write: a passage.
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
	// Ledger, when set, gets the site's passages. Retention
	// (vehicles.retention, 0: none) ages them out of the stream.
	Ledger     Ledger
	Retention  time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer

	log        *slog.Logger
	js         jetstream.JetStream
	queue      chan op
	stop       chan struct{}
	writerDone chan struct{} // closed when the writer has returned
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	written    *prometheus.CounterVec
	imported   *prometheus.CounterVec
	// syncTimeouts: Syncs that gave up (their gate events are given back).
	syncTimeouts prometheus.Counter
	errLog       *logx.Throttle

	qmu      sync.Mutex // enqueue: a send and its count together
	enqueued uint64
	smu      sync.Mutex
	scond    *sync.Cond
	settled  uint64

	mu     sync.Mutex
	others map[string]record // plate -> inside, entered at another gateway
	seen   uint64            // the stream's sequence applied to others
}

// Start opens the stream (retrying while a forming cluster elects its
// meta leader) and starts following it and the writer.
func (s *Inside) Start(ctx context.Context) error {
	s.log = s.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "site ledger")
	s.errLog = &logx.Throttle{Log: s.log, Interval: 10 * time.Second}
	s.written = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_site_inside_writes_total",
		Help: "Passages written to the site's passages stream, by result (ok; failed: an attempt, written again; dropped: the queue was full)."}, []string{"result"})
	s.syncTimeouts = prometheus.NewCounter(prometheus.CounterOpts{Name: "lanewatch_site_ledger_sync_timeouts_total",
		Help: "Waits for the site's stream that gave up (no quorum in time): their gate events were given back, to come again."})
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
	err = cluster.WhenReady(ctx, "site ledger: passages stream", s.log, func(ctx context.Context) error {
		_, err := s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: Stream, Subjects: []string{passageSubjects + ">"},
			Replicas: max(s.Replicas, 1), Storage: jetstream.FileStorage, MaxAge: s.Retention})
		return err
	})
	if err != nil {
		return err
	}
	s.others = map[string]record{}
	s.queue, s.stop, s.writerDone = make(chan op, queueSize), make(chan struct{}), make(chan struct{})
	s.scond = sync.NewCond(&s.smu)
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.wg.Add(2)
	go s.follow(runCtx)
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
	if _, ok := recordOf(s.Self, p); !ok {
		return
	}
	// It has left or entered here: no longer inside through another gateway.
	s.mu.Lock()
	delete(s.others, p.Plate)
	s.mu.Unlock()
	if b, err := json.Marshal(p); err == nil {
		s.enqueue(op{subject: passageSubjects + s.Self, msgID: s.Self + ":" + p.ID, data: b})
	}
}

// recordOf is a passage as the inside set keeps it; false: neither in nor out.
func recordOf(gateway string, p vehicles.Passage) (record, bool) {
	r := record{Gateway: gateway, Plate: p.Plate, Gate: p.Gate, Class: p.Class}
	switch p.Direction {
	case sensors.In:
		r.EntryAt = p.At.UTC()
	case sensors.Out:
		r.OutAt = p.At.UTC()
		if p.EntryAt != nil {
			r.EntryAt = p.EntryAt.UTC()
		}
	default:
		return r, false
	}
	return r, true
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
			s.errLog.Logf(slog.LevelWarn, "sync", "passages not yet in the site's stream: their gate events come again", "err", ctx.Err())
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

// write publishes the queued passages in windows of up to 1024 in flight,
// without waiting for each PubAck.
func (s *Inside) write(ctx context.Context) {
	defer s.wg.Done()
	defer close(s.writerDone)
	batch := make([]op, 0, 1024)
	for {
		select {
		case o := <-s.queue:
			batch = append(batch, o)
		case <-s.stop:
			for {
				select {
				case o := <-s.queue:
					batch = append(batch, o)
					continue
				default:
				}
				break
			}
			s.flush(ctx, batch)
			return
		}
	fill:
		for len(batch) < cap(batch) {
			select {
			case o := <-s.queue:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		s.flush(ctx, batch)
		batch = batch[:0]
	}
}

// flush publishes ops in order and waits for their PubAcks. From the first
// that fails (a stream electing its leader after a kill, no quorum) it
// publishes again, in order, after a pause, until all are in or ctx ends:
// a passage dropped here would be acknowledged to its gate and missing
// from the site (the takeover soak lost 126 of 5,363 that way); in order,
// so that an exit never lands before its entry. Those already in are
// dropped by the stream as duplicates (Nats-Msg-Id).
func (s *Inside) flush(ctx context.Context, ops []op) {
	wait := 100 * time.Millisecond
	for len(ops) > 0 {
		fs := make([]jetstream.PubAckFuture, 0, len(ops))
		var err error
		for _, o := range ops {
			m := &nats.Msg{Subject: o.subject, Data: o.data, Header: nats.Header{jetstream.MsgIDHeader: []string{o.msgID}}}
			f, perr := s.js.PublishMsgAsync(m)
			if perr != nil {
				err = perr
				break
			}
			fs = append(fs, f)
		}
		ok := 0
		timeout := time.After(5 * time.Second)
	acks:
		for _, f := range fs {
			select {
			case <-f.Ok():
				ok++
			case err = <-f.Err():
				break acks
			case <-timeout:
				err = errors.New("no acknowledgement within 5 s")
				break acks
			case <-ctx.Done():
				break acks
			}
		}
		s.written.WithLabelValues("ok").Add(float64(ok))
		s.done(ok)
		ops = ops[ok:]
		if len(ops) == 0 {
			return
		}
		if ctx.Err() != nil {
			s.done(len(ops)) // shutting down: Sync gives up on them
			return
		}
		s.written.WithLabelValues("failed").Add(float64(len(ops)))
		s.errLog.Logf(slog.LevelWarn, "write", "passages not yet in the site's stream; writing them again", "n", len(ops), "err", err, "in", wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// apply takes a passage from the stream into the inside set: an entry
// made at another gateway is kept for Entered; an exit or a later entry
// anywhere ends it, and ends this gateway's own entry (Leave) when it was
// made elsewhere.
func (s *Inside) apply(gateway string, p vehicles.Passage) {
	r, ok := recordOf(gateway, p)
	if !ok || r.Plate == "" {
		return
	}
	s.mu.Lock()
	if r.Gateway != s.Self && r.OutAt.IsZero() {
		s.others[r.Plate] = r
	} else {
		delete(s.others, r.Plate)
	}
	s.mu.Unlock()
	if r.Gateway != s.Self && s.Leave != nil && !r.EntryAt.IsZero() {
		s.Leave(r.Plate, r.EntryAt)
	}
}

// follow reads the site's passages stream, retrying after a failure.
func (s *Inside) follow(ctx context.Context) {
	defer s.wg.Done()
	wait := time.Second
	for ctx.Err() == nil {
		progressed, err := s.followFrom(ctx)
		if ctx.Err() != nil {
			return
		}
		if progressed {
			wait = time.Second // a stream leader moved: not a long outage
		}
		s.imported.WithLabelValues("failed").Inc()
		s.log.Warn("site passages not followed; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// followFrom follows the stream until an error: from its start into the
// inside set (built again at each start), and into the ledger from where
// its store left off, in batches, each with the sequence it reaches.
// progressed says it took some.
func (s *Inside) followFrom(ctx context.Context) (progressed bool, err error) {
	var upTo uint64
	if s.Ledger != nil {
		if upTo, err = s.Ledger.ImportedUpTo(); err != nil {
			return false, err
		}
	}
	s.mu.Lock()
	seen := s.seen
	s.mu.Unlock()
	if s.Ledger == nil {
		upTo = seen
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{passageSubjects + ">"}}
	if from := min(seen, upTo); from > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from+1
	}
	c, err := s.js.OrderedConsumer(ctx, Stream, cfg)
	if err != nil {
		return false, err
	}
	for ctx.Err() == nil {
		batch, err := c.Fetch(512, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return progressed, err
		}
		var ps []vehicles.Imported
		var last uint64
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			last = md.Sequence.Stream
			var p vehicles.Passage
			if json.Unmarshal(m.Data(), &p) != nil || p.ID == "" {
				s.imported.WithLabelValues("bad").Inc()
				continue
			}
			gw := strings.TrimPrefix(m.Subject(), passageSubjects)
			// At once, not at the batch's end: a car may be at the other
			// gate within the second.
			s.apply(gw, p)
			if s.Ledger != nil && last > upTo {
				ps = append(ps, vehicles.Imported{Gateway: gw, Passage: p})
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
			return progressed, err
		}
		if last == 0 {
			continue
		}
		s.mu.Lock()
		s.seen = max(s.seen, last)
		s.mu.Unlock()
		progressed = true
		if s.Ledger == nil || last <= upTo {
			continue
		}
		if err := s.Ledger.Import(s.Self, ps, last); err != nil {
			return progressed, err
		}
		upTo = last
		s.imported.WithLabelValues("ok").Add(float64(len(ps)))
	}
	return progressed, ctx.Err()
}
