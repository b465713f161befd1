package broker

import (
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// retireEvery is how often a clustered broker looks for its earlier
// incarnations among JetStream's peers.
const retireEvery = 5 * time.Second

// startRetiring removes the JetStream peers that were earlier incarnations
// of a gateway now online under a new one (staleIncarnations), and steps
// down from leading a stream whose copy on a live server is stuck
// (unstick). A box back
// with a wiped store is a new peer (instance.go); without this the dead one
// stays in every stream's peer set, which then never becomes current and
// loses its quorum with the next box (operations.md "Replacing a dead box").
// Only the meta leader acts on the request; every broker asks, so whichever
// leads does it. The returned func stops it.
func (b *Broker) startRetiring(srv *server.Server) func() {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var nc *nats.Conn
		defer func() {
			if nc != nil {
				nc.Close()
			}
		}()
		t := time.NewTicker(retireEvery)
		defer t.Stop()
		stepdowns := map[string]time.Time{}
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			live := liveServers(srv)
			// One look serves both: streams for unstick, peers for retiring.
			jsi, err := srv.Jsz(&server.JSzOptions{Accounts: true, Streams: true})
			if err != nil {
				continue
			}
			b.unstick(srv, jsi, live, stepdowns)
			old := staleIncarnations(jsi, live)
			if len(old) == 0 {
				continue
			}
			if nc == nil {
				c, err := nats.Connect("", nats.InProcessServer(srv), nats.UserInfo(sysUser, b.auth.sysPass), nats.Name("lanewatch-retire"))
				if err != nil {
					b.log.Warn("cannot retire a gateway's earlier JetStream peer", "err", err)
					continue
				}
				nc = c
			}
			for _, name := range old {
				req, _ := json.Marshal(server.JSApiMetaServerRemoveRequest{Server: name})
				msg, err := nc.Request("$JS.API.SERVER.REMOVE", req, 3*time.Second)
				if err != nil {
					continue // not answered: not the leader, or it is busy; asked again
				}
				var resp struct {
					Success bool `json:"success"`
					Error   *struct {
						Description string `json:"description"`
					} `json:"error"`
				}
				if json.Unmarshal(msg.Data, &resp) == nil && resp.Success {
					b.log.Warn("removed a gateway's earlier incarnation from JetStream's peers (its store was lost)", "peer", name)
				} else if resp.Error != nil {
					b.log.Warn("JetStream refused to remove a gateway's earlier peer", "peer", name, "err", resp.Error.Description)
				}
			}
		}
	}()
	return func() {
		close(stop)
		wg.Wait()
	}
}

// liveServers is this server and those it has a route to now: a server
// killed drops its routes at once, whereas JetStream's own view of its
// peers is only reliable on the meta leader (a follower reports no
// contact time for the others, and a new meta leader none for a peer
// dead since before its election).
func liveServers(srv *server.Server) map[string]bool {
	live := map[string]bool{srv.Name(): true}
	if rz, err := srv.Routez(nil); err == nil {
		for _, r := range rz.Routes {
			if r != nil && r.RemoteName != "" {
				live[r.RemoteName] = true
			}
		}
	}
	return live
}

// staleIncarnations lists the meta peers <gateway>-<instance> that are not
// live while their gateway is, under another instance: a box that came
// back with a wiped store. Only servers that saw the old one know its name
// (the new incarnation does not), so every broker looks, for every gateway.
func staleIncarnations(jsi *server.JSInfo, live map[string]bool) []string {
	if jsi == nil || jsi.Meta == nil {
		return nil
	}
	online := map[string]bool{} // gateways live under some instance
	for name := range live {
		if gw, ok := gatewayOf(name); ok {
			online[gw] = true
		}
	}
	var out []string
	for _, p := range jsi.Meta.Replicas {
		if p == nil || live[p.Name] || p.Name == jsi.Meta.Leader {
			continue
		}
		if gw, ok := gatewayOf(p.Name); ok && online[gw] {
			out = append(out, p.Name)
		}
	}
	return out
}

// gatewayOf splits a server name <gateway>-<instance>.
func gatewayOf(name string) (string, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 || !instancePattern.MatchString(name[i+1:]) {
		return "", false
	}
	return name[:i], true
}
