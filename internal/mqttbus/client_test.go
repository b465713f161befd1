package mqttbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lanewatch/lanewatch/internal/broker"
	"github.com/lanewatch/lanewatch/internal/broker/brokertest"
	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

var topics = Topics{Prefix: "lanewatch", Site: "test"}

func newClient(t *testing.T, url, id string, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{Broker: url, ClientID: id, Topics: topics, DataDir: t.TempDir(), Registerer: prometheus.NewRegistry()}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func start(t *testing.T, c *Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
}

// collector gathers received payloads.
type collector struct {
	mu   sync.Mutex
	msgs []Message
	ch   chan struct{}
}

func newCollector() *collector { return &collector{ch: make(chan struct{}, 1)} }

func (c *collector) handle(m Message) {
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
	select {
	case c.ch <- struct{}{}:
	default:
	}
}

// waitFor waits until pred holds over the messages so far.
func (c *collector) waitFor(t *testing.T, d time.Duration, what string, pred func([]Message) bool) {
	t.Helper()
	deadline := time.After(d)
	for {
		c.mu.Lock()
		ok := pred(c.msgs)
		n := len(c.msgs)
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-c.ch:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s (%d messages)", what, n)
		}
	}
}

// hasSeq holds when the payloads contain seq as a subsequence.
func hasSeq(seq ...string) func([]Message) bool {
	return func(msgs []Message) bool {
		i := 0
		for _, m := range msgs {
			if i < len(seq) && string(m.Payload) == seq[i] {
				i++
			}
		}
		return i == len(seq)
	}
}

func TestPublishSubscribeInOrder(t *testing.T) {
	for _, b := range brokertest.All {
		t.Run(b.Name, func(t *testing.T) {
			e := b.Start(t)
			reg := prometheus.NewRegistry()
			sub := newClient(t, e.URL, "sub", func(c *Config) { c.Registerer = reg })
			got := newCollector()
			// Subscribing before Start is allowed: OnConnect makes it.
			if err := sub.Subscribe("lanewatch/test/gates/+/events", got.handle); err != nil {
				t.Fatal(err)
			}
			start(t, sub)
			pub := newClient(t, e.URL, "pub", nil)
			start(t, pub)
			const n = 300
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				// Many in flight at once: order must still hold.
				pub.PublishAsync(topics.GateEvents("north"), false, fmt.Appendf(nil, "%d", i), func(err error) {
					if err != nil {
						t.Error(err)
					}
					wg.Done()
				})
			}
			wg.Wait()
			got.waitFor(t, 10*time.Second, "all messages", func(m []Message) bool { return len(m) >= n })
			got.mu.Lock()
			defer got.mu.Unlock()
			for i, m := range got.msgs {
				if string(m.Payload) != fmt.Sprint(i) {
					t.Fatalf("message %d is %q: out of order", i, m.Payload)
				}
			}
			if v := testutil.ToFloat64(sub.metrics.received.WithLabelValues("lanewatch/test/gates/+/events")); v != n {
				t.Errorf("received metric %v, want %d", v, n)
			}
			if v := testutil.ToFloat64(sub.metrics.connected); v != 1 {
				t.Errorf("connected gauge %v", v)
			}
		})
	}
}

// cutDialer records the connections it opens so a test can sever them the
// way a dead network would: no DISCONNECT reaches the broker, and the client
// sees a read error (not "closed by us", which paho ignores).
type cutDialer struct {
	mu    sync.Mutex
	conns []*cutConn
}

type cutConn struct {
	net.Conn
	cut atomic.Bool
}

func (c *cutConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.cut.Load() {
		return 0, io.ErrUnexpectedEOF
	}
	return n, err
}

func (d *cutDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cc := &cutConn{Conn: c}
	d.mu.Lock()
	d.conns = append(d.conns, cc)
	d.mu.Unlock()
	return cc, nil
}

func (d *cutDialer) cut() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		c.cut.Store(true)
		c.Conn.Close()
	}
	d.conns = nil
}

func TestWillAndOnlineStatus(t *testing.T) {
	for _, b := range brokertest.All {
		t.Run(b.Name, func(t *testing.T) {
			e := b.Start(t)
			status := topics.GatewayStatus("gw-1")
			obs := newClient(t, e.URL, "observer", nil)
			start(t, obs)
			got := newCollector()
			if err := obs.Subscribe(status, got.handle); err != nil {
				t.Fatal(err)
			}
			var d cutDialer
			gw := newClient(t, e.URL, "gateway", func(c *Config) {
				c.GatewayID = "gw-1"
				c.Dial = d.dial
				c.MaxReconnectInterval = 500 * time.Millisecond
			})
			start(t, gw)
			got.waitFor(t, 5*time.Second, "online", hasSeq("online"))
			d.cut()
			got.waitFor(t, 10*time.Second, "offline (last will)", hasSeq("online", "offline"))
			// AutoReconnect brings the gateway back, and it says so.
			got.waitFor(t, 10*time.Second, "online after reconnect", hasSeq("online", "offline", "online"))
			if v := testutil.ToFloat64(gw.metrics.reconnects); v < 1 {
				t.Errorf("reconnects = %v", v)
			}
			// A clean Close says offline too (a DISCONNECT suppresses the will).
			gw.Close()
			got.waitFor(t, 5*time.Second, "offline after Close", hasSeq("online", "offline", "online", "offline"))
			// And it is retained: a newcomer sees it.
			late := newClient(t, e.URL, "late", nil)
			start(t, late)
			lg := newCollector()
			late.Subscribe(status, lg.handle)
			lg.waitFor(t, 5*time.Second, "retained offline", func(m []Message) bool {
				return len(m) > 0 && string(m[0].Payload) == "offline" && m[0].Retained
			})
		})
	}
}

// With the broker down, Publish gives up at the caller's deadline with
// ErrQueued, and the message is delivered once the broker is back.
func TestPublishQueuedWhileBrokerDown(t *testing.T) {
	for _, b := range brokertest.All {
		t.Run(b.Name, func(t *testing.T) {
			e := b.Start(t)
			sub := newClient(t, e.URL, "sub", nil)
			got := newCollector()
			sub.Subscribe("lanewatch/test/alerts", got.handle)
			start(t, sub)
			pub := newClient(t, e.URL, "pub", func(c *Config) { c.MaxReconnectInterval = 500 * time.Millisecond })
			start(t, pub)

			e.Stop()
			deadline := time.Now().Add(5 * time.Second)
			for pub.Connected() && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			err := pub.Publish(ctx, topics.Alerts(), false, []byte("while-down"))
			cancel()
			if !errors.Is(err, ErrQueued) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Publish with broker down: %v, want ErrQueued", err)
			}
			e.Restart()
			got.waitFor(t, 15*time.Second, "queued message after restart", func(m []Message) bool {
				for _, x := range m {
					if string(x.Payload) == "while-down" {
						return true
					}
				}
				return false
			})
		})
	}
}

// An embedded broker that lost its state (no data dir) forgets our
// subscriptions; OnConnect must make them again.
func TestResubscribeAfterBrokerLostState(t *testing.T) {
	addr := testenv.FreeAddr(t)
	startBroker := func() *broker.Broker {
		b, err := broker.New(broker.Config{Listen: addr})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := startBroker()
	sub := newClient(t, "mqtt://"+addr, "sub", func(c *Config) { c.MaxReconnectInterval = 300 * time.Millisecond })
	got := newCollector()
	sub.Subscribe("lanewatch/test/alerts", got.handle)
	start(t, sub)
	b.Close()
	b = startBroker()
	defer b.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !sub.Connected() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	pub := newClient(t, "tcp://"+addr, "pub", nil)
	start(t, pub)
	// The SUBSCRIBE may trail the CONNACK a little: publish until it lands.
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := pub.Publish(ctx, topics.Alerts(), false, []byte("after")); err != nil {
			t.Fatal(err)
		}
		cancel()
		got.mu.Lock()
		n := len(got.msgs)
		got.mu.Unlock()
		if n > 0 {
			break
		}
		if i > 50 {
			t.Fatal("no message after broker restart: subscription not restored")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"no client id", Config{Broker: "tcp://127.0.0.1:1883"}, "client_id"},
		{"no broker", Config{ClientID: "a"}, "broker"},
		{"bad scheme", Config{ClientID: "a", Broker: "http://127.0.0.1:1883"}, "broker"},
		{"no port", Config{ClientID: "a", Broker: "tcp://127.0.0.1"}, "broker"},
		{"missing CA", Config{ClientID: "a", Broker: "mqtts://127.0.0.1:8883", TLS: TLS{CAFile: filepath.Join(dir, "nope.pem")}}, "tls"},
		{"cert without key", Config{ClientID: "a", Broker: "ssl://127.0.0.1:8883", TLS: TLS{CertFile: "c.pem"}}, "tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("err = %v, want ConfigError on %s", err, tt.field)
			}
		})
	}
}

func TestPublishAfterCloseFails(t *testing.T) {
	e := brokertest.Mosquitto(t)
	c := newClient(t, e.URL, "x", nil)
	start(t, c)
	c.Close()
	if err := c.Publish(context.Background(), "lanewatch/test/alerts", false, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v", err)
	}
	if err := c.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	never := newClient(t, e.URL, "never-started", nil)
	if err := never.Publish(context.Background(), "lanewatch/test/alerts", false, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish before Start: %v", err)
	}
	never.Close() // must not hang or panic without Start
}

func TestFromConfig(t *testing.T) {
	var c config.Config
	c.GatewayID, c.DataDir, c.Site.ID = "gw-1", "/var/lib/lanewatch", "zhonghua-lane"
	c.MQTT = config.MQTT{Broker: "embedded", Username: "u", Password: "p", CAFile: "ca.pem"}
	got := FromConfig(&c, "tcp://127.0.0.1:1883")
	want := Config{Broker: "tcp://127.0.0.1:1883", ClientID: "lanewatch-gw-1", Username: "u", Password: "p",
		TLS: TLS{CAFile: "ca.pem"}, Topics: Topics{Prefix: "lanewatch", Site: "zhonghua-lane"}, GatewayID: "gw-1", DataDir: "/var/lib/lanewatch"}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	c.MQTT = config.MQTT{Broker: "ssl://mq:8883", ClientID: "fixed", TopicPrefix: "acme"}
	got = FromConfig(&c, "tcp://ignored:1")
	if got.Broker != "ssl://mq:8883" || got.ClientID != "fixed" || got.Topics.Prefix != "acme" {
		t.Fatalf("%+v", got)
	}
}

// A publish the broker has not acknowledged survives a restart of the
// gateway process: it is in the file store under DataDir and goes out when
// the new process connects with the same client id.
func TestQueuedPublishSurvivesGatewayRestart(t *testing.T) {
	e := brokertest.Mosquitto(t)
	sub := newClient(t, e.URL, "patrol-app", nil)
	got := newCollector()
	sub.Subscribe("lanewatch/test/alerts", got.handle)
	start(t, sub)

	dir := t.TempDir()
	gw := gatewayBrokerGone(t, e, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := gw.Publish(ctx, topics.Alerts(), false, []byte("incident-1")); !errors.Is(err, ErrQueued) {
		t.Fatalf("err = %v", err)
	}
	gw.Close() // the process goes away with the message unsent

	e.Restart()
	gw2 := newClient(t, e.URL, "gateway", func(c *Config) { c.DataDir = dir })
	start(t, gw2)
	got.waitFor(t, 15*time.Second, "message from the previous gateway process", hasSeq("incident-1"))
}

// gatewayBrokerGone starts a gateway client with its store in dir, then
// stops the broker and waits until the client noticed.
func gatewayBrokerGone(t *testing.T, e *brokertest.Env, dir string) *Client {
	t.Helper()
	gw := newClient(t, e.URL, "gateway", func(c *Config) { c.DataDir = dir })
	start(t, gw)
	e.Stop()
	for gw.Connected() {
		time.Sleep(20 * time.Millisecond)
	}
	return gw
}

func TestSplitStoreKeepsOnlyOutboundOnDisk(t *testing.T) {
	dir := t.TempDir()
	s := newSplitStore(NewFileStore(dir), []string{"feed"})
	s.Open()
	pub := func(topic string, id uint16) *packets.PublishPacket {
		p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
		p.TopicName, p.Qos, p.MessageID = topic, 1, id
		return p
	}
	s.Put("o.7", pub("a", 7))
	s.Put("i.9", pub("a", 9))
	s.Put("o.8", pub("feed", 8)) // volatile: in memory, still resent after a reconnect
	s.Put("o.10", pub("feed", 10))
	if s.Get("o.7") == nil || s.Get("i.9") == nil || s.Get("o.8") == nil {
		t.Fatal("lost a key")
	}
	if keys := s.All(); len(keys) != 4 {
		t.Fatalf("All = %v, want the 4 keys", keys)
	}
	s.Del("o.8")
	if s.Get("o.8") != nil {
		t.Fatal("a volatile packet outlived its Del")
	}
	s.Put("o.10", pub("a", 10)) // the id reused for a durable packet
	if files, _ := os.ReadDir(dir); len(files) != 2 {
		t.Fatalf("%d files on disk, want 2 (o.7, o.10): a volatile publish was written", len(files))
	}
	s.Close()
	s2 := newSplitStore(NewFileStore(dir), nil)
	s2.Open()
	defer s2.Close()
	keys := s2.All()
	slices.Sort(keys)
	if fmt.Sprint(keys) != "[o.10 o.7]" {
		t.Fatalf("after reopen: %v, want only the durable outbound keys", keys)
	}
	if p, ok := s2.Get("o.10").(*packets.PublishPacket); !ok || p.TopicName != "a" {
		t.Fatalf("o.10 after reopen: %v, want the durable packet", s2.Get("o.10"))
	}
}

func TestCloseDoesNotWaitForeverForAStuckHandler(t *testing.T) {
	e := brokertest.Mosquitto(t)
	c := newClient(t, e.URL, "stuck", func(c *Config) { c.CloseTimeout = 300 * time.Millisecond })
	entered := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	c.Subscribe("lanewatch/test/alerts", func(Message) { close(entered); <-release })
	start(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Publish(ctx, topics.Alerts(), false, []byte("x")); err != nil {
		t.Fatal(err)
	}
	<-entered
	t0 := time.Now()
	c.Close()
	if d := time.Since(t0); d > 3*time.Second {
		t.Fatalf("Close took %v", d)
	}
}

// After Detach nothing more reaches the handler, and what arrives meanwhile
// is not acknowledged: the next process with the same client id gets it.
func TestDetachLeavesMessagesForTheNextSession(t *testing.T) {
	e := brokertest.Mosquitto(t)
	first := newCollector()
	c := newClient(t, e.URL, "gateway", nil)
	c.Subscribe("lanewatch/test/gates/+/events", first.handle)
	start(t, c)
	pub := newClient(t, e.URL, "gate", nil)
	start(t, pub)
	send := func(p string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := pub.Publish(ctx, topics.GateEvents("north"), false, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	send("before")
	first.waitFor(t, 5*time.Second, "before", hasSeq("before"))
	c.Detach("lanewatch/test/gates/+/events")
	for i := range 5 {
		send(fmt.Sprint("after-", i))
	}
	time.Sleep(300 * time.Millisecond)
	c.Close()
	first.mu.Lock()
	n := len(first.msgs)
	first.mu.Unlock()
	if n != 1 {
		t.Fatalf("handler got %d messages, want only the one before Detach", n)
	}
	next := newCollector()
	c2 := newClient(t, e.URL, "gateway", nil)
	c2.Subscribe("lanewatch/test/gates/+/events", next.handle)
	start(t, c2)
	next.waitFor(t, 10*time.Second, "messages left by the detached session",
		hasSeq("after-0", "after-1", "after-2", "after-3", "after-4"))
}
