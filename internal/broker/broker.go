// Package broker is lanewatch's embedded MQTT broker (mochi-mqtt v2), used
// when mqtt.broker is "embedded". Gate controllers, patrol apps and the
// gateway itself connect to its TCP listener like to any MQTT 3.1.1/5 broker.
//
// Persistence: with a DataDir, retained messages, persistent sessions (clean
// session false: subscriptions and queued QoS 1 messages) and QoS 1 in-flight
// messages are kept in DataDir/broker.bolt (mochi's bolt storage hook on
// bbolt) and survive a restart. Limits of mochi v2.7.9, measured in
// docs/perf-sensors.md: about 150-250 persisted QoS 1 messages/s (a bolt
// commit per message), QoS 1 messages in flight during a restart or a
// session takeover can be lost, and a session's queued messages are resent
// out of order. Sites where that matters run Mosquitto.
//
// Authentication: when Username is set every client must present it and the
// password (compared in constant time). Without a username the broker admits
// anonymous clients from loopback addresses only, so that a gateway with the
// default config is not an open relay on the compound's network; a listener
// on a non-loopback address without credentials is allowed but logged as a
// warning because remote clients will all be refused.
package broker

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/bbolt"
)

// Config configures the embedded broker.
type Config struct {
	// Listen is the TCP address, default 127.0.0.1:1883; port 0 picks a free one.
	Listen string
	// DataDir holds broker.bolt. Empty: nothing persists (tests only).
	DataDir            string
	Username, Password string
	Logger             *slog.Logger
	Registerer         prometheus.Registerer // nil: a private registry
}

// Broker is a running or stopped embedded broker.
type Broker struct {
	cfg Config
	log *slog.Logger
	srv *mqtt.Server

	mu   sync.Mutex
	ln   net.Listener
	done bool
}

// New checks cfg; Start opens the store and the listener.
func New(cfg Config) (*Broker, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:1883"
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, errors.New("broker: password without username")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	b := &Broker{cfg: cfg, log: log.With("component", "broker")}
	b.registerMetrics(cfg.Registerer)
	return b, nil
}

// Start opens the persistent store (restoring retained messages and
// sessions), binds the listener and serves in the background. A second
// Start is an error; make a new Broker to restart.
func (b *Broker) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil || b.done {
		return errors.New("broker: already started")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	srv := mqtt.New(&mqtt.Options{
		Logger: slog.New(quietHandler{b.log.Handler()}),
		// The $SYS tree is not used by lanewatch; a rare refresh keeps the
		// store's sysinfo writes out of the way.
		SysTopicResendInterval: 60,
	})
	if err := srv.AddHook(&authHook{user: b.cfg.Username, pass: b.cfg.Password}, nil); err != nil {
		return fmt.Errorf("broker: auth hook: %w", err)
	}
	if b.cfg.DataDir != "" {
		if err := os.MkdirAll(b.cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("broker: %w", err)
		}
		path := filepath.Join(b.cfg.DataDir, "broker.bolt")
		err := srv.AddHook(&boltStore{new(bolt.Hook)}, &bolt.Options{
			Path: path,
			// Fail instead of hanging when another process holds the file.
			Options: &bbolt.Options{Timeout: 2 * time.Second},
		})
		if err != nil {
			return fmt.Errorf("broker: store %s: %w", path, err)
		}
	}
	ln, err := net.Listen("tcp", b.cfg.Listen)
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("broker: listen: %w", err)
	}
	if b.cfg.Username == "" && !isLoopback(ln.Addr()) {
		b.log.Warn("broker listens beyond loopback without credentials: only local clients can connect; set mqtt.username and mqtt.password", "addr", ln.Addr().String())
	}
	if err := srv.AddListener(listeners.NewNet("tcp", ln)); err != nil {
		ln.Close()
		_ = srv.Close()
		return fmt.Errorf("broker: %w", err)
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return fmt.Errorf("broker: serve: %w", err)
	}
	b.srv, b.ln = srv, ln
	b.log.Info("embedded MQTT broker listening", "addr", ln.Addr().String(), "persistent", b.cfg.DataDir != "", "auth", b.cfg.Username != "")
	return nil
}

// Addr is the bound listener address (host:port), "" before Start.
func (b *Broker) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ln == nil {
		return ""
	}
	return b.ln.Addr().String()
}

// URL is the tcp:// URL clients use.
func (b *Broker) URL() string { return "tcp://" + b.Addr() }

// Close disconnects every client (sending wills of those that did not
// disconnect, as a real broker shutdown would) and closes the store.
func (b *Broker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
	if b.srv == nil {
		return nil
	}
	err := b.srv.Close()
	b.srv = nil
	return err
}

func isLoopback(a net.Addr) bool {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.IsLoopback()
	}
	return false
}

// authHook admits clients per the package comment. mochi's ledger hook is
// not used: it compares passwords with == and matches remote addresses as
// strings, while we want constant-time comparison and a real loopback test.
type authHook struct {
	mqtt.HookBase
	user, pass string
}

func (h *authHook) ID() string { return "lanewatch-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	if h.user == "" {
		host, _, err := net.SplitHostPort(cl.Net.Remote)
		ip := net.ParseIP(host)
		ok := err == nil && ip != nil && ip.IsLoopback()
		if !ok {
			h.Log.Warn("refused anonymous MQTT client from non-loopback address", "remote", cl.Net.Remote, "client_id", cl.ID)
		}
		return ok
	}
	u := subtle.ConstantTimeCompare([]byte(h.user), pk.Connect.Username)
	p := subtle.ConstantTimeCompare([]byte(h.pass), pk.Connect.Password)
	if u&p != 1 {
		// The password is never logged, not even a wrong one.
		h.Log.Warn("refused MQTT client: bad username or password", "remote", cl.Net.Remote, "client_id", cl.ID, "username", string(pk.Connect.Username))
		return false
	}
	return true
}

// OnACLCheck allows every topic to admitted clients: lanewatch has one trust
// level on its bus.
func (h *authHook) OnACLCheck(*mqtt.Client, string, bool) bool { return true }
