package cluster

import (
	"context"
	"slices"
	"testing"
	"time"
)

// Status lists the live members, the KV buckets' streams with their
// leader, and every item with its holder; Holder agrees with it.
func TestStatusAndHolder(t *testing.T) {
	b := startBroker(t)
	own := &owners{t: t, by: map[Item]string{}}
	var gws []*Cluster
	for _, id := range []string{"gw-a", "gw-b"} {
		nc, err := b.Conn("test-" + id)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		c := &Cluster{Conn: nc, Self: id, Items: items(), OnChange: own.change(id), Lease: 1500 * time.Millisecond,
			HoldDown: time.Second, Logger: quiet}
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		gws = append(gws, c)
	}
	waitFor(t, 10*time.Second, "items on their rendezvous targets", func() bool {
		for _, it := range items() {
			if own.of(it) != Place(items(), nil, []string{"gw-a", "gw-b"})[it] {
				return false
			}
		}
		return true
	})
	st, err := gws[1].Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Gateway != "gw-b" || len(st.Members) != 2 || st.Members[0].ID != "gw-a" || st.Members[1].ID != "gw-b" {
		t.Fatalf("gateway %q members %+v", st.Gateway, st.Members)
	}
	var names []string
	for _, s := range st.Streams {
		names = append(names, s.Name)
		if s.Leader == "" {
			t.Errorf("stream %s without a leader", s.Name)
		}
	}
	for _, want := range []string{"KV_" + MembersBucket, "KV_" + AssignBucket} {
		if !slices.Contains(names, want) {
			t.Errorf("streams %v lack %s", names, want)
		}
	}
	if len(st.Assignments) != len(items()) {
		t.Fatalf("%d assignments, want %d", len(st.Assignments), len(items()))
	}
	waitFor(t, 5*time.Second, "Holder read by both", func() bool {
		for _, a := range st.Assignments {
			if a.Gateway != own.of(a.Item) || gws[0].Holder(a.Kind, a.ID) != a.Gateway || gws[1].Holder(a.Kind, a.ID) != a.Gateway {
				return false
			}
		}
		return true
	})
}
