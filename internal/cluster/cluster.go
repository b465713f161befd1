// Package cluster shares a site's cameras and gates among its live gateways
// (contract section 12, issue 16 item 2) with JetStream's own primitives,
// no consensus of ours:
//
//   - membership: each gateway Puts its key in a KV bucket whose TTL is the
//     lease; a gateway that stops heartbeating drops out when it expires.
//   - assignment: an item (camera or gate) belongs to the gateway holding
//     its key in a second leased bucket. Keys are taken with KV Create
//     (fails if anyone holds it) and kept with Update at the last revision
//     (compare-and-set); a dead holder's key expires with the lease.
//   - placement: rendezvous (highest random weight) hashing of the item
//     over the live members with bounded loads (place.go), so each gateway
//     computes the same target, no gateway gets much more than its share
//     of the cameras' cost, and adding or losing one moves few items
//     beyond its own.
//
// Exactly one gateway at a time: a gateway starts an item only once its
// Create succeeded and stops it before its lease can have run out on the
// servers (last successful write + Lease - Margin), and hands an item over
// by stopping it first and then deleting the key at its revision. Clocks
// must agree within Margin (NTP).
//
// Gently back: a gateway gives an item to the gateway the hash now names
// only once it has seen that gateway alive for HoldDown, so a returning or
// flapping gateway gets its share back once, late, and never bounces.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Kinds of items.
const (
	KindCamera = "camera"
	KindGate   = "gate"
	// KindRole is a site-wide duty that one gateway at a time performs
	// (the outbox's sender); held and moved like any item.
	KindRole = "role"
)

// Buckets in JetStream KV.
const (
	MembersBucket = "lanewatch_members"
	AssignBucket  = "lanewatch_assign"
)

// Defaults.
const (
	DefaultLease    = 6 * time.Second
	DefaultHoldDown = 30 * time.Second
)

// Item is a unit of work: a camera, a gate or a role.
type Item struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

func (it Item) key() string { return it.Kind + "." + it.ID }

// Member is a live gateway as seen in the members bucket.
type Member struct {
	ID   string    `json:"id"`
	Held int       `json:"held"` // items it holds
	At   time.Time `json:"at"`   // its last heartbeat, its clock
}

// Assignment is an item's current holder ("" when free).
type Assignment struct {
	Item
	Gateway string `json:"gateway"`
}

// Cluster is one gateway's part. Set the fields, Start, Close.
type Cluster struct {
	Conn     *nats.Conn // to the embedded server (broker.Conn)
	Self     string     // this gateway's id
	Replicas int        // of the KV buckets
	Items    []Item     // the site's cameras and gates, the same on every gateway
	// Weight is an item's cost for placement (nil: 1 each), the same on
	// every gateway: from the site's config, never measured, so that
	// placement does not move with the load of the moment.
	Weight func(Item) float64
	// OnChange is called when this gateway gains (held) or loses an item,
	// in order for each item: one call at a time, except the losses of items
	// whose leases end together, which are reported side by side. It must
	// start/stop the item's work before returning: a loss is reported
	// before the key is released.
	OnChange func(it Item, held bool)
	Lease    time.Duration // default DefaultLease
	HoldDown time.Duration // default DefaultHoldDown
	Margin   time.Duration // default Lease/6
	Logger   *slog.Logger
	// Registerer gets lanewatch_cluster_* metrics; nil: a private registry.
	Registerer prometheus.Registerer

	log            *slog.Logger
	tick           time.Duration
	members, owner jetstream.KeyValue
	metrics        *metrics
	cancel         context.CancelFunc
	done           chan struct{}
	started        atomic.Bool // the buckets are open (Status)
	watchdog       sync.WaitGroup
	changeMu       sync.Mutex // OnChange calls, one at a time (run and watch)

	mu   sync.Mutex
	held map[Item]*lease
	seen map[string]time.Time // member -> when this gateway first saw it alive
	live []string
	// target is each item's place among the live members (a free item is
	// taken by it); settled, among the members seen alive for HoldDown and
	// this one (a held item is handed over only to it), so a newcomer's
	// arrival moves nothing until it has settled, then moves once.
	target, settled map[Item]string
	// holders is every item's holder as last read from the bucket.
	holders map[Item]string
	closed  bool
}

type lease struct {
	rev   uint64
	until time.Time // local deadline: stop before the servers expire it
}

// Start creates (or opens) the buckets, joins and runs the assignment
// loop in the background.
func (c *Cluster) Start(ctx context.Context) error {
	if c.Conn == nil || c.Self == "" {
		return errors.New("cluster: needs a connection and this gateway's id")
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.HoldDown <= 0 {
		c.HoldDown = DefaultHoldDown
	}
	if c.Margin <= 0 {
		c.Margin = c.Lease / 6
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	c.tick = c.Lease / 6
	c.log = c.Logger
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("component", "cluster")
	c.metrics = newMetrics(c, c.Registerer)
	c.held, c.seen = map[Item]*lease{}, map[string]time.Time{}
	js, err := jetstream.New(c.Conn)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	err = WhenReady(ctx, "cluster: buckets", c.log, func(ctx context.Context) error {
		var err error
		if c.members == nil {
			c.members, err = c.bucket(ctx, js, MembersBucket)
		}
		if err == nil && c.owner == nil {
			c.owner, err = c.bucket(ctx, js, AssignBucket)
		}
		return err
	})
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel, c.done = cancel, make(chan struct{})
	c.started.Store(true)
	c.step(runCtx)
	go c.run(runCtx)
	c.watchdog.Add(1)
	go c.watch(runCtx)
	c.log.Info("joined the cluster", "gateway", c.Self, "items", len(c.Items), "lease", c.Lease, "hold_down", c.HoldDown)
	return nil
}

func (c *Cluster) bucket(ctx context.Context, js jetstream.JetStream, name string) (jetstream.KeyValue, error) {
	return js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, TTL: c.Lease, History: 1,
		Replicas: c.Replicas, Storage: jetstream.FileStorage})
}

// watch stops items at their local deadline even while a round is stuck
// on a slow or unreachable JetStream (a round can take up to twice the
// tick): the servers expire the keys at the lease whatever this gateway
// is doing, and another gateway may take them then.
func (c *Cluster) watch(ctx context.Context) {
	defer c.watchdog.Done()
	t := time.NewTicker(c.tick / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			c.expire(now)
		}
	}
}

func (c *Cluster) run(ctx context.Context) {
	defer func() { c.watchdog.Wait(); close(c.done) }()
	t := time.NewTicker(c.tick)
	defer t.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-t.C:
			c.step(ctx)
		}
	}
}

// step is one round: heartbeat, read the members, then for each item
// refresh, hand over, drop or take it.
func (c *Cluster) step(ctx context.Context) {
	// Bounded, so that a JetStream without quorum cannot stall the rounds.
	ctx, cancel := context.WithTimeout(ctx, 2*c.tick)
	defer cancel()
	now := time.Now()
	c.expire(now)
	c.mu.Lock()
	heldN := len(c.held)
	c.mu.Unlock()
	b, _ := json.Marshal(Member{ID: c.Self, Held: heldN, At: now})
	hctx, cancel := context.WithTimeout(ctx, c.tick)
	_, err := c.members.Put(hctx, c.Self, b)
	cancel()
	if err != nil {
		c.metrics.errors.Inc()
		c.log.Warn("heartbeat failed", "err", err)
	}
	live, err := c.listMembers(ctx)
	if err != nil {
		c.metrics.errors.Inc()
		c.log.Warn("reading members failed", "err", err)
		return
	}
	c.mu.Lock()
	for _, m := range live {
		if _, ok := c.seen[m]; !ok {
			c.seen[m] = now
		}
	}
	for m := range c.seen {
		if !slices.Contains(live, m) {
			delete(c.seen, m)
		}
	}
	c.live = live
	old := []string{c.Self}
	for _, m := range live {
		if m != c.Self && now.Sub(c.seen[m]) >= c.HoldDown {
			old = append(old, m)
		}
	}
	c.mu.Unlock()
	target, settled := Place(c.Items, c.Weight, live), Place(c.Items, c.Weight, old)
	c.mu.Lock()
	c.target, c.settled = target, settled
	c.mu.Unlock()
	if !slices.Contains(live, c.Self) {
		return // our own heartbeat is not visible: take nothing new
	}
	for _, it := range c.Items {
		c.stepItem(ctx, it)
	}
	c.readHolders(ctx)
}

// readHolders refreshes what Holder answers for items held elsewhere.
func (c *Cluster) readHolders(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, c.tick)
	defer cancel()
	as, err := c.Assignments(ctx)
	if err != nil {
		c.metrics.errors.Inc()
		return
	}
	m := make(map[Item]string, len(as))
	for _, a := range as {
		if a.Gateway != "" {
			m[a.Item] = a.Gateway
		}
	}
	c.mu.Lock()
	c.holders = m
	c.mu.Unlock()
}

func (c *Cluster) listMembers(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.tick)
	defer cancel()
	keys, err := c.members.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	sort.Strings(keys)
	return keys, err
}

func (c *Cluster) stepItem(ctx context.Context, it Item) {
	ctx, cancel := context.WithTimeout(ctx, c.tick)
	defer cancel()
	c.mu.Lock()
	l := c.held[it]
	target, settled := c.target[it], c.settled[it]
	c.mu.Unlock()
	if l != nil {
		if settled != c.Self && settled != "" {
			// Hand over: stop first, then free the key at our revision.
			c.lose(it, "handover")
			if err := c.owner.Delete(ctx, it.key(), jetstream.LastRevision(l.rev)); err != nil {
				c.log.Warn("releasing", "item", it.key(), "err", err)
			}
			return
		}
		start := time.Now()
		rev, err := c.owner.Update(ctx, it.key(), []byte(c.Self), l.rev)
		if err != nil {
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
				c.lose(it, "lost") // expired on the servers, or taken
				return
			}
			c.metrics.errors.Inc()
			return // keep it until its local deadline (expire)
		}
		c.mu.Lock()
		if cur := c.held[it]; cur != nil {
			cur.rev, cur.until = rev, start.Add(c.Lease-c.Margin)
		}
		c.mu.Unlock()
		return
	}
	if target != c.Self {
		return
	}
	start := time.Now()
	rev, err := c.owner.Create(ctx, it.key(), []byte(c.Self))
	if err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) {
			c.metrics.errors.Inc()
		}
		return // someone holds it; it expires if they are dead
	}
	c.changeMu.Lock()
	defer c.changeMu.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.held[it] = &lease{rev: rev, until: start.Add(c.Lease - c.Margin)}
	c.mu.Unlock()
	c.metrics.acquired.Inc()
	c.log.Info("took", "item", it.key())
	if c.OnChange != nil {
		c.OnChange(it, true)
	}
}

// expire drops items whose lease may have run out on the servers.
func (c *Cluster) expire(now time.Time) {
	c.mu.Lock()
	var gone []Item
	for it, l := range c.held {
		if now.After(l.until) {
			gone = append(gone, it)
		}
	}
	c.mu.Unlock()
	if len(gone) == 0 {
		return
	}
	// All at once: Assigned turns false for every one before any is
	// stopped, and the stops (a camera's takes a few hundred ms) run side
	// by side, so that a gateway losing many items at the same deadline
	// has them all stopped within Margin, before the servers expire them.
	c.changeMu.Lock()
	defer c.changeMu.Unlock()
	c.mu.Lock()
	for _, it := range gone {
		delete(c.held, it)
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, it := range gone {
		c.metrics.released.WithLabelValues("lease ran out").Inc()
		c.log.Info("gave up", "item", it.key(), "why", "lease ran out")
		if c.OnChange != nil {
			wg.Go(func() { c.OnChange(it, false) })
		}
	}
	wg.Wait()
}

func (c *Cluster) lose(it Item, why string) {
	c.changeMu.Lock()
	defer c.changeMu.Unlock()
	c.mu.Lock()
	_, ok := c.held[it]
	delete(c.held, it)
	c.mu.Unlock()
	if !ok {
		return
	}
	c.metrics.released.WithLabelValues(why).Inc()
	c.log.Info("gave up", "item", it.key(), "why", why)
	if c.OnChange != nil {
		c.OnChange(it, false)
	}
}

// Assigned tells whether this gateway holds the item now.
func (c *Cluster) Assigned(kind, id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.held[Item{kind, id}]
	return ok
}

// Holder names the gateway holding the item: this one for what it holds,
// else the holder last read from the bucket (at most a round old), "" when
// free.
func (c *Cluster) Holder(kind, id string) string {
	it := Item{kind, id}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.held[it]; ok {
		return c.Self
	}
	if h := c.holders[it]; h != c.Self {
		return h
	}
	return "" // released here since the last read
}

// Held lists the items this gateway holds, sorted.
func (c *Cluster) Held() []Item {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Item, 0, len(c.held))
	for it := range c.held {
		out = append(out, it)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out
}

// Live lists the members seen alive in the last round.
func (c *Cluster) Live() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.live)
}

// Assignments reads every item's holder from the bucket.
func (c *Cluster) Assignments(ctx context.Context) ([]Assignment, error) {
	out := make([]Assignment, 0, len(c.Items))
	for _, it := range c.Items {
		a := Assignment{Item: it}
		e, err := c.owner.Get(ctx, it.key())
		switch {
		case err == nil:
			a.Gateway = string(e.Value())
		case !errors.Is(err, jetstream.ErrKeyNotFound):
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// Close stops every held item, frees its key (so that the others take it
// at once rather than after the lease) and leaves the membership.
func (c *Cluster) Close() error {
	if c.cancel == nil {
		return nil
	}
	c.cancel()
	<-c.done
	c.mu.Lock()
	c.closed = true
	held := c.held
	c.held = map[Item]*lease{}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for it, l := range held {
		if c.OnChange != nil {
			c.OnChange(it, false)
		}
		c.metrics.released.WithLabelValues("close").Inc()
		_ = c.owner.Delete(ctx, it.key(), jetstream.LastRevision(l.rev))
	}
	_ = c.members.Delete(ctx, c.Self)
	return nil
}

// Rendezvous names the member with the highest hash of (member, item);
// "" without members.
func Rendezvous(it Item, members []string) string {
	best, bestScore := "", uint64(0)
	for _, m := range members {
		s := hrw(it, m)
		if best == "" || s > bestScore || (s == bestScore && m < best) {
			best, bestScore = m, s
		}
	}
	return best
}

// mix is splitmix64's finaliser: FNV alone spreads short similar keys badly.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
