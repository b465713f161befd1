package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Status is the cluster as one gateway sees it, for `lanewatch cluster
// status` and GET /api/cluster: who is alive, where each replicated
// stream's leader is and how far its replicas lag, and who holds what.
type Status struct {
	Gateway     string         `json:"gateway"` // the gateway answering
	Members     []Member       `json:"members"`
	Streams     []StreamStatus `json:"streams"`
	Assignments []Assignment   `json:"assignments"`
}

// StreamStatus is one JetStream stream (MQTT sessions and retained
// messages, the cluster's KV buckets, ...) and its Raft group.
type StreamStatus struct {
	Name     string          `json:"name"`
	Messages uint64          `json:"messages"`
	Leader   string          `json:"leader"` // "" while none is elected
	Replicas []ReplicaStatus `json:"replicas"`
}

// ReplicaStatus is a follower of a stream.
type ReplicaStatus struct {
	Name    string        `json:"name"`
	Current bool          `json:"current"`
	Offline bool          `json:"offline,omitempty"`
	Lag     uint64        `json:"lag"`    // operations behind the leader
	Active  time.Duration `json:"active"` // since last heard from
	// Pending: placed on this server but not yet in the stream's group
	// (a new peer, such as a box back with a wiped store).
	Pending bool `json:"pending,omitempty"`
}

// Status reads the members, the streams and the assignments now.
func (c *Cluster) Status(ctx context.Context) (Status, error) {
	if !c.started.Load() {
		return Status{}, errors.New("cluster: not started")
	}
	st := Status{Gateway: c.Self}
	keys, err := c.members.Keys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return st, err
	}
	sort.Strings(keys)
	for _, k := range keys {
		e, err := c.members.Get(ctx, k)
		if err != nil {
			continue // expired since the listing
		}
		var m Member
		if json.Unmarshal(e.Value(), &m) != nil {
			m = Member{ID: k}
		}
		st.Members = append(st.Members, m)
	}
	js, err := jetstream.New(c.Conn)
	if err != nil {
		return st, err
	}
	l := js.ListStreams(ctx)
	for si := range l.Info() {
		s := StreamStatus{Name: si.Config.Name, Messages: si.State.Msgs}
		if ci := si.Cluster; ci != nil {
			s.Leader = ci.Leader
			for _, p := range ci.Replicas {
				s.Replicas = append(s.Replicas, ReplicaStatus{Name: p.Name, Current: p.Current, Offline: p.Offline, Lag: p.Lag, Active: p.Active, Pending: p.Pending})
			}
		}
		if s.Leader == "" && len(s.Replicas) == 0 {
			s.Leader = c.Self // a server that is not clustered (tests): it is the only copy
		}
		st.Streams = append(st.Streams, s)
	}
	if err := l.Err(); err != nil {
		return st, err
	}
	sort.Slice(st.Streams, func(i, j int) bool { return st.Streams[i].Name < st.Streams[j].Name })
	st.Assignments, err = c.Assignments(ctx)
	return st, err
}
