package outbox

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
)

// Journal puts a Queue in front of a replicated JetStream stream, for a
// cluster of gateways (contract 12, issue 16): a message is accepted once
// the stream's quorum acknowledged it (PubAck), so it survives the loss
// of any one gateway with its disk; its Nats-Msg-Id is its key
// (<id>:<version>), so a repeat within the stream's duplicate window is
// dropped by the servers. Every gateway appends; only the one the cluster
// makes the sender (Queue.Hold) delivers: on taking the role it empties
// its file, replays the stream into it (today's bbolt schedule, per-key
// order and back-off unchanged) and follows the stream from there. A
// delivered or discarded message is deleted from the stream; a dead
// letter stays, with a marker that tells the next sender it is dead.
//
// A sender that dies after delivering but before the deletion reached the
// stream leaves the message for the next sender, which sends it again
// under the same key with the same body: platforms deduplicate on it.
type Journal struct {
	JS jetstream.JetStream
	// Stream is the stream's name; Subject the prefix of its subjects
	// (Subject.msg for messages, Subject.dead for dead-letter markers),
	// outside the MQTT topic tree so devices never see them.
	Stream, Subject string
	Replicas        int
	// MaxBytes caps the stream (the queue's MaxBytes): beyond it a Put
	// gets ErrFull, as on a single box.
	MaxBytes int64
	// Timeout bounds one append or deletion; default 5s.
	Timeout time.Duration
}

// ErrNotSender: a dead letter is re-sent or discarded on the gateway that
// sends (a cluster's); this one does not now.
var ErrNotSender = errors.New("this gateway does not send this queue now; use the sending gateway's console")

// Headers of the stream's messages besides Nats-Msg-Id.
const hdrKey = "Lanewatch-Key" // a dead-letter marker's message key

type journal struct {
	cfg Journal

	mu     sync.Mutex
	stream jetstream.Stream
	msgs   map[string][]uint64 // key -> stream sequences of its message (a repeat outside the window adds one)
	dead   map[string][]uint64 // key -> its dead-letter markers
	// undeleted: sequences whose deletion failed, tried again with the next.
	undeleted []uint64

	termMu sync.Mutex // Hold
	cancel context.CancelFunc
	done   chan struct{}
}

func newJournal(cfg Journal) *journal {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	return &journal{cfg: cfg, msgs: map[string][]uint64{}, dead: map[string][]uint64{}}
}

func (j *journal) msgSubject() string  { return j.cfg.Subject + ".msg" }
func (j *journal) deadSubject() string { return j.cfg.Subject + ".dead" }

// ensure creates or opens the stream. It is not done at open: a cluster
// that is forming has no meta leader yet, and the gateway must start
// meanwhile; a Put then fails as not stored and its follower retries.
func (j *journal) ensure(ctx context.Context) (jetstream.Stream, error) {
	j.mu.Lock()
	s := j.stream
	j.mu.Unlock()
	if s != nil {
		return s, nil
	}
	maxBytes := j.cfg.MaxBytes
	if maxBytes <= 0 {
		maxBytes = -1
	}
	s, err := j.cfg.JS.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: j.cfg.Stream,
		Subjects: []string{j.msgSubject(), j.deadSubject()}, Storage: jetstream.FileStorage,
		Replicas: j.cfg.Replicas, MaxBytes: maxBytes, Discard: jetstream.DiscardNew,
		Retention: jetstream.LimitsPolicy, Duplicates: 2 * time.Minute})
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", j.cfg.Stream, err)
	}
	j.mu.Lock()
	j.stream = s
	j.mu.Unlock()
	return s, nil
}

// append publishes each message and waits for its PubAck (the stream's
// quorum has it). Not atomic across messages: a failed batch is retried
// whole by the caller, and those already in are dropped as duplicates.
func (j *journal) append(ps []prepared) error {
	ctx, cancel := context.WithTimeout(context.Background(), j.cfg.Timeout)
	defer cancel()
	if _, err := j.ensure(ctx); err != nil {
		return err
	}
	for _, p := range ps {
		id, ver, _ := splitKey(p.key)
		m := nats.NewMsg(j.msgSubject())
		m.Data = p.body
		if _, err := j.cfg.JS.PublishMsg(ctx, m, jetstream.WithMsgID(KeyString(id, ver))); err != nil {
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) && strings.Contains(apiErr.Description, "maximum bytes exceeded") {
				return fmt.Errorf("%w: stream %s at its cap", ErrFull, j.cfg.Stream)
			}
			return err
		}
	}
	return nil
}

// markDead tells later senders that key is dead-lettered (with its meta,
// so they list it with the receiver's answer). If the marker is lost the
// next sender tries the message once more and dead-letters it again.
func (j *journal) markDead(o *Queue, key, mv []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), j.cfg.Timeout)
	defer cancel()
	id, ver, _ := splitKey(key)
	ks := KeyString(id, ver)
	m := nats.NewMsg(j.deadSubject())
	m.Header.Set(hdrKey, ks)
	m.Data = mv
	ack, err := j.cfg.JS.PublishMsg(ctx, m)
	if err != nil {
		o.log.Warn("dead letter not marked in the stream; the next sender will try it once more", "key", ks, "err", err)
		return
	}
	j.mu.Lock()
	j.dead[ks] = append(j.dead[ks], ack.Sequence)
	j.mu.Unlock()
}

// remove deletes keys' messages (or, with markers, their dead-letter
// markers) from the stream. A deletion that fails is tried again with the
// next; if this gateway dies first, the next sender sends the message
// again under its key.
func (j *journal) remove(o *Queue, keys [][]byte, markers bool) {
	j.mu.Lock()
	seqs := j.undeleted
	j.undeleted = nil
	from := j.msgs
	if markers {
		from = j.dead
	}
	for _, k := range keys {
		id, ver, _ := splitKey(k)
		ks := KeyString(id, ver)
		seqs = append(seqs, from[ks]...)
		delete(from, ks)
	}
	s := j.stream
	j.mu.Unlock()
	if len(seqs) == 0 || s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), j.cfg.Timeout)
	defer cancel()
	// Side by side: in a cluster each deletion is a round through the
	// stream's Raft group, and one after another they would trail far
	// behind the deliveries.
	var mu sync.Mutex
	var failed []uint64
	var lastErr error
	next := make(chan uint64)
	var wg sync.WaitGroup
	for range min(len(seqs), 8) {
		wg.Go(func() {
			for seq := range next {
				err := s.DeleteMsg(ctx, seq)
				var apiErr *jetstream.APIError
				if err != nil && !(errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeMessageNotFound) {
					mu.Lock()
					failed, lastErr = append(failed, seq), err
					mu.Unlock()
				}
			}
		})
	}
	for _, seq := range seqs {
		next <- seq
	}
	close(next)
	wg.Wait()
	if len(failed) > 0 {
		o.log.Warn("messages not deleted from the stream yet; retried with the next", "count", len(failed), "err", lastErr)
		j.mu.Lock()
		j.undeleted = append(j.undeleted, failed...)
		j.mu.Unlock()
	}
}

// Hold makes this gateway the queue's sender (held) or stops it sending.
// Taking returns at once: the replay runs in the background and sending
// starts when it has caught up with the stream. Stopping returns once no
// attempt is in flight any more (they are cancelled), so that the cluster
// can release the role before another gateway takes it; the term's reader
// of the stream ends in the background (without a quorum a read can hang
// for a while) and the next term waits for it. A Queue without a Journal
// always sends and ignores Hold.
func (o *Queue) Hold(held bool) {
	j := o.j
	if j == nil {
		return
	}
	j.termMu.Lock()
	defer j.termMu.Unlock()
	if held {
		o.mu.Lock()
		closed := o.closed
		o.mu.Unlock()
		if j.cancel != nil || closed {
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		prev, done := j.done, make(chan struct{})
		j.cancel, j.done = cancel, done
		go func() {
			if prev != nil {
				<-prev // one reader of the stream at a time
			}
			o.term(ctx, done)
		}()
		return
	}
	if j.cancel == nil {
		return
	}
	j.cancel() // first: a replay that catches up now does not unpause
	j.cancel = nil
	o.pause()
	o.log.Info("stopped sending: another gateway sends now")
}

// waitTerm waits up to d for the last term's reader to end (Close).
func (j *journal) waitTerm(d time.Duration) {
	j.termMu.Lock()
	done := j.done
	j.termMu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-time.After(d):
	}
}

// pause stops sending: no new attempt starts, those in flight are
// cancelled and waited for.
func (o *Queue) pause() {
	o.mu.Lock()
	o.paused = true
	if o.stopSend != nil {
		o.stopSend()
	}
	o.mu.Unlock()
	o.inflight.Wait()
}

// unpause starts a sending term unless ctx (the term) ended already.
func (o *Queue) unpause(ctx context.Context) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if ctx.Err() != nil || o.closed {
		return
	}
	o.sendCtx, o.stopSend = context.WithCancel(o.attemptCtx)
	o.paused = false
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// term is one sending term: empty the file, replay the stream into it,
// start sending once caught up, then follow the stream until ctx ends.
func (o *Queue) term(ctx context.Context, done chan struct{}) {
	defer close(done)
	for attempt := 0; ctx.Err() == nil; attempt++ {
		err := o.replay(ctx)
		if ctx.Err() != nil {
			return
		}
		// The stream is unreachable (no quorum, a leader election): sending
		// stops until a fresh replay, since markers may have been missed.
		o.pause()
		o.log.Warn("outbox stream not readable; replaying again", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (o *Queue) replay(ctx context.Context) error {
	j := o.j
	if err := o.reset(); err != nil {
		return err
	}
	ictx, cancel := context.WithTimeout(ctx, j.cfg.Timeout)
	s, err := j.ensure(ictx)
	var cons jetstream.Consumer
	if err == nil {
		// Ordered: in stream order, without gaps (it recreates itself
		// from the last sequence it delivered when it loses its server).
		cons, err = s.OrderedConsumer(ictx, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{j.msgSubject(), j.deadSubject()}})
	}
	cancel()
	if err != nil {
		return err
	}
	msgs := make(chan jetstream.Msg, 1024)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case msgs <- m:
		case <-ctx.Done():
		}
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if ctx.Err() == nil {
			o.log.Debug("outbox stream consumer", "err", err)
		}
	}))
	if err != nil {
		return err
	}
	defer cc.Stop()
	start, replayed := time.Now(), 0
	caughtUp := false
	up := func() {
		caughtUp = true
		o.log.Info("sending: this gateway is the sender now", "replayed", replayed, "took", time.Since(start).Round(time.Millisecond))
		o.unpause(ctx)
	}
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		up() // nothing in the stream
	}
	batch := make([]jetstream.Msg, 0, 256)
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			batch = append(batch[:0], m)
		}
	more:
		for len(batch) < cap(batch) {
			select {
			case m := <-msgs:
				batch = append(batch, m)
			default:
				break more
			}
		}
		pending, err := o.apply(batch)
		if err != nil {
			return err
		}
		replayed += len(batch)
		if !caughtUp && pending == 0 {
			up() // sending starts once the stream's backlog is in the file
		}
	}
}

// apply puts stream messages into the file, in stream order: messages in
// batches, a dead-letter marker moves its message to the dead letters.
// It returns how many messages the stream held after the last one.
func (o *Queue) apply(ms []jetstream.Msg) (pending uint64, err error) {
	j := o.j
	var last uint64
	var ps []prepared
	flush := func() error {
		if len(ps) == 0 {
			return nil
		}
		var total int64
		for _, p := range ps {
			total += p.size
		}
		err := o.store(ps, total, false)
		ps = ps[:0]
		return err
	}
	for _, m := range ms {
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		last, pending = md.Sequence.Stream, md.NumPending
		switch m.Subject() {
		case j.deadSubject():
			if err := flush(); err != nil {
				return pending, err
			}
			ks := m.Headers().Get(hdrKey)
			j.mu.Lock()
			j.dead[ks] = append(j.dead[ks], last)
			j.mu.Unlock()
			if k, err := parseKeyString(ks); err == nil {
				if err := o.markDeadLocal(k, m.Data()); err != nil {
					return pending, err
				}
			}
		default:
			ks := m.Headers().Get(jetstream.MsgIDHeader)
			k, err := parseKeyString(ks)
			if err != nil {
				o.log.Warn("outbox stream: message without a key skipped", "seq", last)
				continue
			}
			id, ver, _ := splitKey(k)
			j.mu.Lock()
			j.msgs[ks] = append(j.msgs[ks], last)
			j.mu.Unlock()
			ps = append(ps, prepare1(id, ver, bytes.Clone(m.Data()), md.Timestamp))
		}
	}
	return pending, flush()
}

// markDeadLocal moves a queued message to the dead letters as a marker in
// the stream says (the previous sender dead-lettered it). Its key's later
// messages wait behind it, as on the sender that saw the refusal.
func (o *Queue) markDeadLocal(key, mv []byte) error {
	found := false
	err := o.db.Update(func(tx *bolt.Tx) error {
		q := tx.Bucket(bucketQueue)
		if q.Get(key) == nil {
			return nil // delivered, discarded, or this sender's own marker
		}
		found = true
		if err := q.Delete(key); err != nil {
			return err
		}
		return tx.Bucket(bucketDead).Put(key, mv)
	})
	if err != nil || !found {
		return err
	}
	id, _, _ := splitKey(key)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pending--
	o.dead++
	o.blocked[id] = true
	if h := o.heads[id]; h != nil {
		if h.idx >= 0 {
			heap.Remove(&o.sched, h.idx)
		}
		delete(o.heads, id)
	}
	o.syncGauges()
	return nil
}

// reset empties the file and the schedule: a new term rebuilds them from
// the stream, the only place of record in a cluster.
func (o *Queue) reset() error {
	o.flushRemoved() // the last term's deliveries leave the stream first
	o.flushMu.Lock()
	defer o.flushMu.Unlock()
	err := o.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketQueue, bucketDead, bucketBodies} {
			if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
				return err
			}
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox: reset %s: %w", o.cfg.Path, err)
	}
	o.mu.Lock()
	o.heads, o.blocked, o.removed = map[string]*head{}, map[string]bool{}, map[string]int{}
	o.sched = nil
	o.used, o.pending, o.dead = 0, 0, 0
	o.syncGauges()
	o.mu.Unlock()
	o.j.mu.Lock()
	o.j.msgs, o.j.dead = map[string][]uint64{}, map[string][]uint64{}
	o.j.mu.Unlock()
	return nil
}

// notSending is ErrNotSender when this queue has a Journal and does not
// send now: its file is not the site's outbox then.
func (o *Queue) notSending() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.j != nil && o.paused {
		return ErrNotSender
	}
	return nil
}

// mustKey is parseKeyString for a key already checked.
func mustKey(ks string) []byte {
	k, _ := parseKeyString(ks)
	return k
}
