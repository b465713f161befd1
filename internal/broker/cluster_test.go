package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"

	"github.com/lanewatch/lanewatch/internal/testenv"
)

// node is one of three embedded brokers clustered on loopback.
type node struct {
	route, dir string
	peers      []string
	b          *Broker
}

func (n *node) start(t *testing.T, i int) {
	t.Helper()
	b, err := New(Config{Listen: "127.0.0.1:0", DataDir: n.dir, Logger: quiet,
		Cluster: &Cluster{Name: "site", ServerName: fmt.Sprintf("gw-%d", i), Listen: n.route, Peers: n.peers,
			Secret: "route-secret-0123456789"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	n.b = b
	t.Cleanup(func() { b.Close() })
}

func startCluster(t *testing.T) []*node {
	t.Helper()
	nodes := make([]*node, 3)
	for i := range nodes {
		nodes[i] = &node{route: testenv.FreeAddr(t), dir: t.TempDir()}
	}
	for i, n := range nodes {
		for j, m := range nodes {
			if i != j {
				n.peers = append(n.peers, m.route)
			}
		}
	}
	for i, n := range nodes {
		n.start(t, i)
	}
	for _, n := range nodes {
		waitCurrent(t, n.b)
	}
	return nodes
}

// waitCurrent waits until the node has routes to the others and every
// JetStream replica it holds has caught up (Healthy).
func waitCurrent(t *testing.T, b *Broker) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		srv := b.server()
		err := b.Healthy()
		if srv.NumRoutes() > 0 && err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: routes %d, not healthy after 30 s: %v", srv.Name(), srv.NumRoutes(), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// connect retries: while the cluster elects leaders for the MQTT streams
// a CONNECT may be refused for a moment.
func connect(t *testing.T, url, id string, clean bool) paho.Client {
	t.Helper()
	var err error
	for range 20 {
		var c paho.Client
		if c, err = client(t, url, id, clean, nil); err == nil {
			return c
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("connect %s to %s: %v", id, url, err)
	return nil
}

// Contract section 12 / issue 16 item 1: QoS 1 published on one node is
// received on another; and with each node in turn shut down, publishes are
// still acknowledged and a persistent session resumed on a surviving node
// gets every message queued for it. Without MQTT stream and consumer
// replicas set on purpose (Cluster.Replicas) the latter fails.
func TestClusterSurvivesLossOfEachNode(t *testing.T) {
	if testing.Short() {
		t.Skip("three-node cluster")
	}
	nodes := startCluster(t)

	// The loopback NATS client port routing needs lets no TCP client in.
	if nc, err := nats.Connect(nodes[0].b.server().ClientURL(), nats.Timeout(5*time.Second)); err == nil {
		nc.Close()
		t.Fatal("a NATS client connected over TCP to a clustered broker")
	}

	sub := connect(t, nodes[1].b.URL(), "console", true)
	got := receive(t, sub, "lanewatch/s/gates/+/events")
	pub := connect(t, nodes[0].b.URL(), "gate-north", true)
	for i := range 10 {
		wait(t, pub.Publish("lanewatch/s/gates/north/events", 1, false, fmt.Sprint(i)))
	}
	if g := got(10, 10*time.Second); len(g) != 10 {
		t.Fatalf("node 1 received %d of 10 published on node 0", len(g))
	}
	pub.Disconnect(100)

	const n = 100
	for k := range nodes {
		a, c := nodes[(k+1)%3], nodes[(k+2)%3]
		id := fmt.Sprintf("patrol-%d", k)
		topic := fmt.Sprintf("lanewatch/s/alerts/%d", k)
		// The patrol app's session lives on the node about to go.
		patrol := connect(t, nodes[k].b.URL(), id, false)
		wait(t, patrol.Subscribe(topic, 1, func(paho.Client, paho.Message) {}))
		patrol.Disconnect(100)
		nodes[k].b.Close()

		pub := connect(t, a.b.URL(), fmt.Sprintf("pub-%d", k), true)
		start := time.Now()
		for i := range n {
			tok := pub.Publish(topic, 1, false, fmt.Sprint(i))
			// The first may wait for JetStream to elect new leaders for the
			// streams the closed node led (seconds; longer on a loaded box).
			wait := 10 * time.Second
			if i == 0 {
				wait = 30 * time.Second
			}
			if !tok.WaitTimeout(wait) || tok.Error() != nil {
				t.Fatalf("node %d down: publish %d on node %d not acknowledged: %v", k, i, (k+1)%3, tok.Error())
			}
		}
		t.Logf("node %d down: %d QoS 1 publishes acknowledged in %v", k, n, time.Since(start))
		pub.Disconnect(100)

		resumed := make(chan string, n)
		o := paho.NewClientOptions().AddBroker(c.b.URL()).SetClientID(id).SetCleanSession(false).
			SetAutoReconnect(false).SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { resumed <- string(m.Payload()) })
		// A device retries its CONNECT: while the streams that lost their
		// leader with the node elect a new one (a few seconds) it may time out.
		var rc paho.Client
		for try := 1; ; try++ {
			rc = paho.NewClient(o)
			tok := rc.Connect()
			if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
				t.Logf("node %d down: resumed on node %d at try %d, session present %v", k, (k+2)%3, try, tok.(*paho.ConnectToken).SessionPresent())
				break
			}
			rc.Disconnect(0)
			if try == 3 {
				t.Fatalf("node %d down: resume %s on node %d: %v", k, id, (k+2)%3, tok.Error())
			}
		}
		seen := map[string]bool{}
		timeout := time.After(20 * time.Second)
	collect:
		for len(seen) < n {
			select {
			case p := <-resumed:
				seen[p] = true
			case <-timeout:
				break collect
			}
		}
		rc.Disconnect(100)
		if len(seen) != n {
			t.Fatalf("node %d down: session resumed on node %d got %d of %d", k, (k+2)%3, len(seen), n)
		}

		nodes[k].start(t, k)
		for _, m := range nodes {
			waitCurrent(t, m.b)
		}
	}
}
