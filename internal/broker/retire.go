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
// of a gateway now online under a new one (staleIncarnations). A box back
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
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			old := staleIncarnations(srv)
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

// staleIncarnations lists the offline meta peers <gateway>-<instance> whose
// gateway is online under another instance: a box that came back with a
// wiped store. Only servers that saw the old one know its name (the new
// incarnation does not), so every broker looks, for every gateway.
func staleIncarnations(srv *server.Server) []string {
	jsi, err := srv.Jsz(&server.JSzOptions{})
	if err != nil || jsi == nil || jsi.Meta == nil {
		return nil
	}
	online := map[string]string{} // gateway -> its live incarnation
	note := func(name string) {
		if gw, ok := gatewayOf(name); ok {
			online[gw] = name
		}
	}
	note(srv.Name())
	note(jsi.Meta.Leader)
	// A killed server may not be flagged offline for long; not seen for a
	// while is as good, since its gateway is online under another name.
	gone := func(p *server.PeerInfo) bool { return p.Offline || p.Active > 2*retireEvery }
	for _, p := range jsi.Meta.Replicas {
		if p != nil && !gone(p) {
			note(p.Name)
		}
	}
	var out []string
	for _, p := range jsi.Meta.Replicas {
		if p == nil || !gone(p) {
			continue
		}
		if gw, ok := gatewayOf(p.Name); ok && online[gw] != "" && online[gw] != p.Name {
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
