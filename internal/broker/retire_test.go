package broker

import (
	"os"
	"slices"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats-server/v2/server"
)

// metaPeers is every meta peer a node knows, by name.
func metaPeers(b *Broker) []string {
	jsi, err := b.server().Jsz(&server.JSzOptions{})
	if err != nil || jsi.Meta == nil {
		return nil
	}
	out := []string{jsi.Meta.Leader}
	for _, p := range jsi.Meta.Replicas {
		out = append(out, p.Name)
	}
	return out
}

// TestWipedNodeRetiresItsOldSelf: a node back with an empty store is a new
// JetStream peer (a new instance name), and it has JetStream remove its
// dead incarnation, so the site is back to three peers.
func TestWipedNodeRetiresItsOldSelf(t *testing.T) {
	if testing.Short() {
		t.Skip("three clustered brokers")
	}
	nodes := startCluster(t)
	// The system login retiring uses is for the broker's in-process
	// connection: refused over TCP even with the password.
	if _, err := client(t, nodes[1].b.URL(), "sys-over-tcp", true, func(o *paho.ClientOptions) {
		o.SetUsername(sysUser).SetPassword(nodes[1].b.auth.sysPass)
	}); err == nil {
		t.Fatal("the broker's system login was accepted over TCP")
	}
	old := nodes[0].b.server().Name()
	nodes[0].b.Close()
	if err := os.RemoveAll(nodes[0].dir); err != nil {
		t.Fatal(err)
	}
	nodes[0].start(t, 0)
	self := nodes[0].b.server().Name()
	if self == old {
		t.Fatalf("a wiped node came back as %s, its old Raft identity", self)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		peers := metaPeers(nodes[1].b)
		if !slices.Contains(peers, old) && slices.Contains(peers, self) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("meta peers seen by gw-1 after 60 s: %v (old %s, new %s)", peers, old, self)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
