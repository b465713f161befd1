package broker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanewatch/lanewatch/internal/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func startBroker(t *testing.T, cfg Config) *Broker {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// client is a plain paho client, standing in for an external device.
func client(t *testing.T, url, id string, clean bool, mod func(*paho.ClientOptions)) (paho.Client, error) {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(clean).SetAutoReconnect(false)
	o.SetConnectTimeout(5 * time.Second)
	if mod != nil {
		mod(o)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, nil
}

func mustClient(t *testing.T, url, id string, clean bool) paho.Client {
	t.Helper()
	c, err := client(t, url, id, clean, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wait(t *testing.T, tok paho.Token) {
	t.Helper()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("token: %v", tok.Error())
	}
}

// receive subscribes and collects payloads.
// The returned func waits up to d for n messages.
func receive(t *testing.T, c paho.Client, filter string) func(n int, d time.Duration) []string {
	var mu sync.Mutex
	var got []string
	wait(t, c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		mu.Lock()
		got = append(got, string(m.Payload()))
		mu.Unlock()
	}))
	return func(n int, d time.Duration) []string {
		t.Helper()
		deadline := time.Now().Add(d)
		for {
			mu.Lock()
			out := append([]string(nil), got...)
			mu.Unlock()
			if len(out) >= n || time.Now().After(deadline) {
				return out
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func TestRetainedSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	addr := testenv.FreeAddr(t)
	b := startBroker(t, Config{Listen: addr, DataDir: dir})
	pub := mustClient(t, b.URL(), "gate-north", true)
	wait(t, pub.Publish("lanewatch/s/gateway/gw-1/status", 1, true, "online"))
	wait(t, pub.Publish("lanewatch/s/cameras/lawn/status", 1, true, `{"state":"online"}`))
	pub.Disconnect(100)
	b.Close()

	b2 := startBroker(t, Config{Listen: addr, DataDir: dir})
	// NATS rebuilds its index of retained messages from their stream
	// asynchronously after a restart: on a loaded machine a subscription
	// made in the first moments finds none (measured: the next one, a
	// second later, gets them). So: a new subscriber each second, up to 10.
	var got []string
	for try := 0; try < 10 && len(got) != 2; try++ {
		sub := mustClient(t, b2.URL(), fmt.Sprintf("console-%d", try), true)
		got = receive(t, sub, "lanewatch/s/#")(2, time.Second)
		sub.Disconnect(10)
	}
	if len(got) != 2 {
		t.Fatalf("after restart got %q, want both retained messages", got)
	}
}

func TestWithoutDataDirNothingPersists(t *testing.T) {
	addr := testenv.FreeAddr(t)
	b := startBroker(t, Config{Listen: addr})
	pub := mustClient(t, b.URL(), "p", true)
	wait(t, pub.Publish("x/retained", 1, true, "v"))
	pub.Disconnect(100)
	b.Close()
	b2 := startBroker(t, Config{Listen: addr})
	sub := mustClient(t, b2.URL(), "s", true)
	// Retained messages come right after SUBACK; a second is plenty.
	if got := receive(t, sub, "x/#")(1, time.Second); len(got) != 0 {
		t.Fatalf("got %q from a broker without a data dir", got)
	}
}

// A persistent session's subscription and the QoS 1 messages queued for it
// while the client was away survive a broker restart.
func TestPersistentSessionSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	addr := testenv.FreeAddr(t)
	b := startBroker(t, Config{Listen: addr, DataDir: dir})
	patrol := mustClient(t, b.URL(), "patrol-07", false)
	wait(t, patrol.Subscribe("lanewatch/s/alerts", 1, func(paho.Client, paho.Message) {}))
	patrol.Disconnect(100)

	pub := mustClient(t, b.URL(), "gw", true)
	for i := range 5 {
		wait(t, pub.Publish("lanewatch/s/alerts", 1, false, fmt.Sprint(i)))
	}
	pub.Disconnect(100)
	b.Close()

	b2 := startBroker(t, Config{Listen: addr, DataDir: dir})
	var mu sync.Mutex
	var got []string
	_, err := client(t, b2.URL(), "patrol-07", false, func(o *paho.ClientOptions) {
		// Messages of the stored session arrive without a new SUBSCRIBE.
		o.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			mu.Lock()
			got = append(got, string(m.Payload()))
			mu.Unlock()
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	// Every one arrives, in the order published.
	if fmt.Sprint(got) != "[0 1 2 3 4]" {
		t.Fatalf("queued messages after restart: %q", got)
	}
}

func TestAuth(t *testing.T) {
	b := startBroker(t, Config{Listen: "127.0.0.1:0", Username: "lanewatch", Password: "s3cret"})
	tests := []struct {
		name, user, pass string
		ok               bool
	}{
		{"right", "lanewatch", "s3cret", true},
		{"wrong password", "lanewatch", "nope", false},
		{"wrong user", "admin", "s3cret", false},
		{"anonymous", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client(t, b.URL(), "c-"+tt.name, true, func(o *paho.ClientOptions) {
				o.SetUsername(tt.user)
				o.SetPassword(tt.pass)
			})
			if (err == nil) != tt.ok {
				t.Fatalf("connect err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// fakeClient is what the NATS server hands the authenticator.
type fakeClient struct {
	server.ClientAuthentication
	opts   server.ClientOpts
	remote net.Addr
	user   *server.User
}

func (f *fakeClient) GetOpts() *server.ClientOpts { return &f.opts }
func (f *fakeClient) RemoteAddress() net.Addr     { return f.remote }
func (f *fakeClient) RegisterUser(u *server.User) { f.user = u }
func (f *fakeClient) GetID() uint64               { return 1 }
func (f *fakeClient) Kind() int                   { return server.CLIENT }

// Without credentials only loopback clients are admitted. Remote addresses
// cannot be produced on a test machine's loopback, so the authenticator is
// checked with the address NATS would hand it.
func TestAnonymousLoopbackOnly(t *testing.T) {
	b, err := New(Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		remote net.Addr
		ok     bool
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 50000}, true},
		{&net.TCPAddr{IP: net.ParseIP("127.8.9.1"), Port: 50000}, true},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 50000}, true},
		{&net.TCPAddr{IP: net.ParseIP("10.0.0.21"), Port: 50000}, false},
		{&net.TCPAddr{IP: net.ParseIP("192.168.1.5"), Port: 1883}, false},
		{&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 50000}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := b.auth.Check(&fakeClient{remote: tt.remote}); got != tt.ok {
			t.Errorf("%v: admitted=%v, want %v", tt.remote, got, tt.ok)
		}
	}
	// And a real loopback client gets in.
	b2 := startBroker(t, Config{Listen: "127.0.0.1:0"})
	mustClient(t, b2.URL(), "anon", true)
}

func TestStartErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b, _ := New(Config{Listen: ln.Addr().String(), Logger: quiet})
	if err := b.Start(context.Background()); err == nil {
		b.Close()
		t.Fatal("Start on a busy port succeeded")
	}
	if _, err := New(Config{Password: "x"}); err == nil {
		t.Fatal("password without username accepted")
	}
	b2 := startBroker(t, Config{Listen: "127.0.0.1:0"})
	if err := b2.Start(context.Background()); err == nil {
		t.Fatal("second Start succeeded")
	}
}

// The same data dir cannot be served twice: the second broker fails fast
// instead of hanging on JetStream's store lock.
func TestDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	startBroker(t, Config{Listen: "127.0.0.1:0", DataDir: dir})
	b, _ := New(Config{Listen: "127.0.0.1:0", DataDir: dir, Logger: quiet})
	start := time.Now()
	if err := b.Start(context.Background()); err == nil {
		b.Close()
		t.Fatal("second broker on the same data dir started")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := startBroker(t, Config{Listen: "127.0.0.1:0", Registerer: reg})
	c := mustClient(t, b.URL(), "m", true)
	for range 3 {
		wait(t, c.Publish("x/y", 1, true, "v"))
	}
	if v := gathered(t, reg, "lanewatch_broker_messages_received_total"); v != 3 {
		t.Errorf("messages received %v", v)
	}
	if v := gathered(t, reg, "lanewatch_broker_clients_connected"); v != 1 {
		t.Errorf("clients connected %v", v)
	}
	b.Close()
	if v := gathered(t, reg, "lanewatch_broker_clients_connected"); v != 0 {
		t.Errorf("after Close: %v", v)
	}
}

// gathered reads one registered metric by name.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.Gauge != nil {
				return m.Gauge.GetValue()
			}
			return m.Counter.GetValue()
		}
	}
	t.Fatalf("%s not registered", name)
	return 0
}

// TestHoldDevicesUntilAdmit: with HoldDevices, only the gateway's own
// account gets in before Admit; a device is refused (and retries), so none
// of its events is acknowledged before the gateway has subscribed.
func TestHoldDevicesUntilAdmit(t *testing.T) {
	gw := Gateway{Username: "gw", Password: "gw-secret", ClientID: "lanewatch-gw"}
	b := startBroker(t, Config{Listen: "127.0.0.1:0", Gateway: gw, HoldDevices: true})
	if _, err := client(t, b.URL(), "gate-north", true, nil); err == nil {
		t.Fatal("a device got in before Admit")
	}
	own, err := client(t, b.URL(), gw.ClientID, false, func(o *paho.ClientOptions) { o.SetUsername(gw.Username).SetPassword(gw.Password) })
	if err != nil {
		t.Fatalf("the gateway's own connection before Admit: %v", err)
	}
	got := receive(t, own, "gates/+/events")
	b.Admit()
	dev := mustClient(t, b.URL(), "gate-north", true)
	wait(t, dev.Publish("gates/north/events", 1, false, "e1"))
	if m := got(1, 5*time.Second); len(m) != 1 || m[0] != "e1" {
		t.Fatalf("after Admit the gateway got %v, want [e1]", m)
	}
}
