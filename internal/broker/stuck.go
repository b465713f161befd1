package broker

import (
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// stuckAfter is how long a stream's follower on a live server may go
// unheard in the stream's own group before its leader steps down.
const stuckAfter = 60 * time.Second

// stuckReplica is a follower of a stream this server leads that its server,
// routed to now, never brings up to date.
type stuckReplica struct {
	account, stream, peer string
	unheard               time.Duration
}

// stuckReplicas finds them in jsi (Jsz with accounts and streams), live
// being the servers routed to now (liveServers): seen
// with nats-server 2.15.3 when a gateway came back with a wiped store, a
// new peer placed in $MQTT_msgs stayed 13,878 operations behind, unheard
// for minutes, and the stream could not lose another server. A step-down
// has the next leader start the catch-up again.
func stuckReplicas(jsi *server.JSInfo, self string, live map[string]bool) []stuckReplica {
	if jsi == nil {
		return nil
	}
	var out []stuckReplica
	for _, a := range jsi.AccountDetails {
		if a == nil {
			continue
		}
		for _, sd := range a.Streams {
			if sd.Cluster == nil || sd.Cluster.Leader != self {
				continue
			}
			for _, p := range sd.Cluster.Replicas {
				if p != nil && live[p.Name] && !p.Current && !p.Offline && p.Active >= stuckAfter {
					out = append(out, stuckReplica{account: a.Id, stream: sd.Name, peer: p.Name, unheard: p.Active})
				}
			}
		}
	}
	return out
}

// unstick steps down from leading each stream with a stuck follower, at
// most once per stuckAfter per stream.
func (b *Broker) unstick(srv *server.Server, jsi *server.JSInfo, live map[string]bool, last map[string]time.Time) {
	now := time.Now()
	for _, s := range stuckReplicas(jsi, srv.Name(), live) {
		key := s.account + " > " + s.stream
		if now.Sub(last[key]) < stuckAfter {
			continue
		}
		last[key] = now
		b.metrics.stuck.Inc()
		b.log.Warn("a stream's follower on a live gateway is not catching up; its leader steps down so that the next restarts the catch-up",
			"stream", s.stream, "follower", s.peer, "unheard", s.unheard.Round(time.Second))
		if err := srv.JetStreamStepdownStream(s.account, s.stream); err != nil {
			b.log.Warn("stream leader step-down failed", "stream", s.stream, "err", err)
		}
	}
}
