package cluster

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/broker"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// owners records who runs each item, as the gateways' OnChange reports
// it, and fails the test the moment two run the same one.
type owners struct {
	t  *testing.T
	mu sync.Mutex
	by map[Item]string
}

func (o *owners) change(self string) func(Item, bool) {
	return func(it Item, held bool) {
		o.mu.Lock()
		defer o.mu.Unlock()
		cur, ok := o.by[it]
		switch {
		case held && ok:
			o.t.Errorf("%s: %s started on %s while %s runs it", it.Kind, it.ID, self, cur)
		case held:
			o.by[it] = self
		case cur == self:
			delete(o.by, it)
		}
	}
}

// died forgets a killed gateway's items: a dead process runs nothing.
func (o *owners) died(self string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for it, g := range o.by {
		if g == self {
			delete(o.by, it)
		}
	}
}

func (o *owners) count() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := map[string]int{}
	for _, g := range o.by {
		n[g]++
	}
	return n
}

func (o *owners) of(it Item) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.by[it]
}

// startBroker is an embedded broker (not clustered) with the gateway's account.
func startBroker(t *testing.T) *broker.Broker {
	t.Helper()
	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0", Logger: quiet,
		Gateway: broker.Gateway{Username: "gw", Password: "gw-password-0123456789"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func items() []Item {
	var out []Item
	for i := range 12 {
		out = append(out, Item{KindCamera, fmt.Sprintf("cam-%02d", i)})
	}
	for i := range 8 {
		out = append(out, Item{KindGate, fmt.Sprintf("gate-%d", i)})
	}
	return out
}

// kill stops a member's loop without releasing anything, as kill -9 would.
func kill(c *Cluster) {
	c.cancel()
	<-c.done
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > d {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// Three members on one embedded broker (the clustered broker itself is
// tested in internal/broker; here the assignment logic): the work is
// spread, exactly one runs each item, a killed member's items move within
// the lease, and a returning member gets its share back only after the
// hold-down, without two owners at any moment.
func TestAssignmentSpreadTakeoverReturn(t *testing.T) {
	b := startBroker(t)
	own := &owners{t: t, by: map[Item]string{}}
	const lease, hold = 1500 * time.Millisecond, 4 * time.Second
	start := func(id string) *Cluster {
		nc, err := b.Conn("test-" + id)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		c := &Cluster{Conn: nc, Self: id, Items: items(), OnChange: own.change(id), Lease: lease, HoldDown: hold, Logger: quiet}
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	gws := []*Cluster{start("gw-a"), start("gw-b"), start("gw-c")}
	all := len(items())
	// gw-a started alone and took everything; after the hold-down it hands
	// the others their share.
	waitFor(t, 3*hold, "work spread over three", func() bool {
		n := own.count()
		return n["gw-a"]+n["gw-b"]+n["gw-c"] == all && n["gw-a"] < all && n["gw-b"] > 0 && n["gw-c"] > 0
	})
	place := Place(items(), nil, []string{"gw-a", "gw-b", "gw-c"})
	waitFor(t, 3*hold, "every item on its place", func() bool {
		for _, it := range items() {
			if own.of(it) != place[it] {
				return false
			}
		}
		return true
	})
	t.Logf("spread: %v", own.count())

	// Kill gw-b: its items are taken by the others within the lease and a tick or two.
	var victims []Item
	for _, it := range items() {
		if own.of(it) == "gw-b" {
			victims = append(victims, it)
		}
	}
	// Who may move when gw-b dies: its own items, and the few that the
	// load bound passes on among the others; nothing else.
	mayMove := map[Item]bool{}
	two := Place(items(), nil, []string{"gw-a", "gw-c"})
	for _, it := range items() {
		mayMove[it] = place[it] != two[it]
	}
	kill(gws[1])
	own.died("gw-b")
	took := waitFor(t, 4*lease, "gw-b's items taken over", func() bool {
		for _, it := range victims {
			if o := own.of(it); o == "" || o == "gw-b" {
				return false
			}
		}
		return true
	})
	t.Logf("gw-b killed: %d items taken over in %v (lease %v)", len(victims), took, lease)
	waitFor(t, 4*lease, "every item on its place among two", func() bool {
		for _, it := range items() {
			if own.of(it) != two[it] {
				return false
			}
		}
		return true
	})
	passed := 0
	for it, m := range mayMove {
		if m && place[it] != "gw-b" {
			passed++
		}
	}
	t.Logf("besides gw-b's %d, the load bound moved %d of %d items", len(victims), passed, len(items()))

	// gw-b returns: nothing moves before the hold-down, then its share comes back.
	back := start("gw-b")
	time.Sleep(hold / 2)
	if n := len(back.Held()); n != 0 {
		t.Fatalf("returning gw-b holds %d items before the hold-down", n)
	}
	waitFor(t, 3*hold, "gw-b's share back", func() bool {
		for _, it := range victims {
			if own.of(it) != "gw-b" {
				return false
			}
		}
		return own.count()["gw-a"]+own.count()["gw-b"]+own.count()["gw-c"] == all
	})
	// Assignments in the bucket agree with who runs what.
	as, err := gws[0].Assignments(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if o := own.of(a.Item); a.Gateway != o {
			t.Errorf("%s: bucket says %q, running on %q", a.key(), a.Gateway, o)
		}
	}
	// A graceful Close hands over at once, without waiting for the lease.
	closed := time.Now()
	gws[2].Close()
	waitFor(t, lease, "gw-c's items taken after Close", func() bool {
		n := own.count()
		return n["gw-c"] == 0 && n["gw-a"]+n["gw-b"] == all
	})
	t.Logf("gw-c closed: taken over in %v", time.Since(closed))
}

func TestRendezvousSpreadsAndMovesLittle(t *testing.T) {
	three := []string{"gw-a", "gw-b", "gw-c"}
	n := map[string]int{}
	moved := 0
	for i := range 300 {
		it := Item{KindCamera, fmt.Sprint("cam-", i)}
		g := Rendezvous(it, three)
		n[g]++
		if g2 := Rendezvous(it, []string{"gw-a", "gw-c"}); g != "gw-b" && g2 != g {
			moved++
		}
	}
	for _, g := range three {
		if n[g] < 70 || n[g] > 130 {
			t.Errorf("%s got %d of 300", g, n[g])
		}
	}
	if moved != 0 {
		t.Errorf("losing gw-b moved %d items that were not on it", moved)
	}
	if Rendezvous(Item{KindGate, "x"}, nil) != "" {
		t.Error("no members must give no owner")
	}
}

func TestPlaceBoundsLoadAndMovesLittle(t *testing.T) {
	three := []string{"gw-a", "gw-b", "gw-c"}
	for _, tc := range []struct {
		name    string
		cams    int
		weight  func(Item) float64
		maxLoad float64 // of cameras on one gateway, by weight
	}{
		{"12 equal cameras", 12, nil, 5},
		{"30 equal cameras", 30, nil, 12.5},
		{"10 cameras, two at four times the cost", 10, func(it Item) float64 {
			if it.ID == "cam-0" || it.ID == "cam-1" {
				return 4
			}
			return 1
		}, 7.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Many sites (item names), so that a lucky hash does not pass for a bound.
			for site := range 50 {
				var its []Item
				for i := range tc.cams {
					its = append(its, Item{KindCamera, fmt.Sprintf("s%d-cam-%d", site, i)})
				}
				for i := range 20 {
					its = append(its, Item{KindGate, fmt.Sprintf("s%d-gate-%d", site, i)})
				}
				w := func(it Item) float64 { return 1 }
				if tc.weight != nil {
					w = func(it Item) float64 { _, id, _ := strings.Cut(it.ID, "-"); return tc.weight(Item{it.Kind, id}) }
				}
				p := Place(its, w, three)
				load, gates := map[string]float64{}, map[string]int{}
				for it, m := range p {
					if it.Kind == KindCamera {
						load[m] += w(it)
					} else {
						gates[m]++
					}
				}
				for _, m := range three {
					if load[m] > tc.maxLoad {
						t.Fatalf("site %d: %s carries %.1f, bound %.1f: %v", site, m, load[m], tc.maxLoad, load)
					}
					if gates[m] > 8 { // 1.25 × 20/3
						t.Fatalf("site %d: %s has %d of 20 gates", site, m, gates[m])
					}
				}
				// The same on every gateway, whatever order it lists things in.
				rev := slices.Clone(its)
				slices.Reverse(rev)
				if q := Place(rev, w, []string{"gw-c", "gw-a", "gw-b"}); !maps.Equal(p, q) {
					t.Fatal("placement depends on the order of items or members")
				}
				// Losing gw-b moves its items and only a few others.
				two := Place(its, w, []string{"gw-a", "gw-c"})
				moved := 0
				for it, m := range p {
					if m != "gw-b" && two[it] != m {
						moved++
					}
				}
				if moved > len(its)/4 {
					t.Fatalf("site %d: losing gw-b moved %d of %d items it did not hold", site, moved, len(its))
				}
			}
		})
	}
	if len(Place([]Item{{KindGate, "x"}}, nil, nil)) != 0 {
		t.Error("no members must place nothing")
	}
}
