// Package broker is lanewatch's embedded MQTT broker, used when mqtt.broker is
// "embedded": a NATS server (github.com/nats-io/nats-server/v2) run inside the
// process with only its MQTT listener open. Gate controllers, patrol apps and
// the gateway itself connect to that listener like to any MQTT 3.1.1 broker.
//
// Why NATS: it is a well-kept broker with a real persistent store
// (JetStream), it keeps QoS 1 messages it acknowledged across a restart, and
// it is the engine several gateways of one site will cluster on (routes and
// MQTT.StreamReplicas go into serverOptions, the one place the server is
// configured).
//
// Persistence: with a DataDir, JetStream keeps its files in DataDir/jetstream:
// MQTT sessions (clean session false: subscriptions and queued QoS 1
// messages), retained messages and QoS 1 messages in flight. Without a
// DataDir (tests only) a temporary directory is used and removed on Close.
//
// Authentication and authorisation are in auth.go.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanewatch/lanewatch/internal/topics"
)

// Config configures the embedded broker.
type Config struct {
	// Listen is the TCP address, default 127.0.0.1:1883; port 0 picks a free one.
	Listen string
	// DataDir holds the JetStream store. Empty: nothing persists (tests only).
	DataDir string
	// Username and Password: one account with every right (mqtt.username,
	// mqtt.password). Kept for configurations written before mqtt.users.
	Username, Password string
	// Users are the accounts of mqtt.users, each held to its role
	// (contract section 9) on the site's Topics.
	Users  []User
	Topics topics.Topics
	// Gateway is the gateway's own connection.
	Gateway Gateway
	// TLSListen, with TLSCert and TLSKey: a second, TLS, listener
	// (mqtt.tls_listen; tls.go).
	TLSListen, TLSCert, TLSKey string
	// Cluster, when set, joins the site's other gateways (cluster.go).
	Cluster *Cluster
	// HoldDevices refuses every client but the gateway's own until Admit:
	// before the gateway has subscribed, a device's QoS 1 event would be
	// acknowledged with no one to deliver it to (a first start has no
	// persistent session yet), so the device is made to retry instead.
	HoldDevices bool
	Logger      *slog.Logger
	Registerer  prometheus.Registerer // nil: a private registry
}

// Gateway is the gateway's own account: every right, and its client id is
// reserved (a CONNECT with it under any other account is refused).
type Gateway struct {
	Username, Password, ClientID string
}

// Broker is a running or stopped embedded broker.
type Broker struct {
	cfg     Config
	log     *slog.Logger
	auth    *authenticator
	metrics *metrics

	retire func() // stops retiring this gateway's earlier incarnations (retire.go)

	mu     sync.Mutex
	srv    *server.Server
	tmpDir string
	lock   *os.File
	tls    *tlsFront
	addr   string
	done   bool
	// exported: the identity export is set up (identity.go).
	exported bool
	logSink  *natsLogger
}

// New checks cfg; Start opens the store and the listener.
func New(cfg Config) (*Broker, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:1883"
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, errors.New("broker: password without username")
	}
	for _, u := range cfg.Users {
		if u.Name == "" || u.Password == "" {
			return nil, errors.New("broker: a user needs a name and a password")
		}
		if u.Role != RoleGate && u.Role != RolePatrol && u.Role != RoleViewer {
			return nil, fmt.Errorf("broker: user %s: unknown role %q", u.Name, u.Role)
		}
	}
	if cfg.TLSListen != "" && len(cfg.Users) == 0 && cfg.Username == "" {
		// TLS clients reach the broker from loopback (tls.go): without
		// accounts they would pass the loopback rule.
		return nil, errors.New("broker: a TLS listener needs users")
	}
	if len(cfg.Users) > 0 && (cfg.Topics.Prefix == "" || cfg.Topics.Site == "") {
		return nil, errors.New("broker: users without the site's topics")
	}
	if _, _, err := splitListen(cfg.Listen); err != nil {
		return nil, fmt.Errorf("broker: listen %q: %w", cfg.Listen, err)
	}
	if cfg.Cluster != nil {
		if err := cfg.Cluster.check(); err != nil {
			return nil, fmt.Errorf("broker: %w", err)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	b := &Broker{cfg: cfg, log: log.With("component", "broker")}
	b.metrics = newMetrics(b, cfg.Registerer)
	b.auth = newAuthenticator(cfg, b.log, b.metrics)
	return b, nil
}

func splitListen(s string) (string, int, error) {
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return host, port, nil
}

// serverOptions is the one place the NATS server is configured.
func (b *Broker) serverOptions(storeDir string) *server.Options {
	host, port, _ := splitListen(b.cfg.Listen)
	if port == 0 {
		port = -1 // NATS: a free port
	}
	o := &server.Options{
		ServerName: "lanewatch-broker",
		// No NATS client port: MQTT is the only way in from outside. The
		// gateway's in-process NATS connection does not need a port.
		DontListen: true,
		NoSigs:     true,
		JetStream:  true,
		StoreDir:   storeDir,
		MQTT: server.MQTTOpts{
			Host: host,
			Port: port,
			// A device that keeps many QoS 1 messages unacknowledged must not
			// stall the others for long; 30 s is NATS's default.
			AckWait: 30 * time.Second,
		},
		CustomClientAuthentication: b.auth,
	}
	if b.cfg.Cluster != nil {
		b.cfg.Cluster.options(o)
	}
	return o
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
	storeDir := ""
	if b.cfg.DataDir != "" {
		storeDir = filepath.Join(b.cfg.DataDir, "jetstream")
		if err := os.MkdirAll(storeDir, 0o700); err != nil {
			return fmt.Errorf("broker: %w", err)
		}
	} else {
		d, err := os.MkdirTemp("", "lanewatch-broker-")
		if err != nil {
			return fmt.Errorf("broker: %w", err)
		}
		storeDir, b.tmpDir = d, d
	}
	lock, err := lockDir(storeDir)
	if err != nil {
		if b.tmpDir != "" {
			os.RemoveAll(b.tmpDir)
			b.tmpDir = ""
		}
		return fmt.Errorf("broker: %w", err)
	}
	fail := func(err error) error {
		lock.Close()
		if b.tmpDir != "" {
			os.RemoveAll(b.tmpDir)
			b.tmpDir = ""
		}
		return err
	}
	opts := b.serverOptions(storeDir)
	if b.cfg.Cluster != nil {
		inst, err := instanceID(storeDir)
		if err != nil {
			return fail(fmt.Errorf("broker: %w", err))
		}
		opts.ServerName = b.cfg.Cluster.ServerName + "-" + inst
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fail(fmt.Errorf("broker: %w", err))
	}
	if b.cfg.Cluster != nil {
		b.auth.system(srv) // retire.go's login
	}
	sink := &natsLogger{log: b.log, auth: b.auth, metrics: b.metrics}
	srv.SetLoggerV2(sink, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		if err := sink.fatal(); err != nil {
			return fail(fmt.Errorf("broker: %w", err))
		}
		return fail(errors.New("broker: not ready after 10 s"))
	}
	if err := sink.fatal(); err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fail(fmt.Errorf("broker: %w", err))
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fail(fmt.Errorf("broker: JetStream did not start on %s", storeDir))
	}
	host, _, _ := splitListen(b.cfg.Listen)
	if b.cfg.TLSListen != "" {
		target := net.JoinHostPort(host, strconv.Itoa(opts.MQTT.Port))
		if host == "" || host == "0.0.0.0" || host == "::" {
			target = net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.MQTT.Port))
		}
		f, err := startTLSFront(b.cfg.TLSListen, b.cfg.TLSCert, b.cfg.TLSKey, target)
		if err != nil {
			srv.Shutdown()
			srv.WaitForShutdown()
			return fail(fmt.Errorf("broker: %w", err))
		}
		b.tls = f
		b.log.Info("embedded MQTT broker TLS listener", "addr", f.addr())
	}
	b.srv, b.logSink, b.lock = srv, sink, lock
	// NATS writes the bound port back into the options it was given (it
	// has no accessor for the MQTT address).
	b.addr = net.JoinHostPort(host, strconv.Itoa(opts.MQTT.Port))
	if !b.auth.hasAccounts() && !isLoopbackHost(host) {
		b.log.Warn("broker listens beyond loopback without credentials: only local clients can connect; set mqtt.users", "addr", b.addr)
	}
	b.log.Info("embedded MQTT broker listening", "addr", b.addr, "persistent", b.cfg.DataDir != "", "auth", b.auth.hasAccounts())
	if b.cfg.Cluster != nil {
		b.retire = b.startRetiring(srv)
	}
	return nil
}

// Addr is the bound listener address (host:port), "" before Start.
func (b *Broker) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addr
}

// TLSAddr is the bound TLS listener address, "" without one.
func (b *Broker) TLSAddr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tls == nil {
		return ""
	}
	return b.tls.addr()
}

// Admit lets devices in (Config.HoldDevices): call it once the gateway's
// own subscriptions are in place.
func (b *Broker) Admit() {
	if b.auth.holding.Swap(false) {
		b.log.Info("embedded MQTT broker admits devices")
	}
}

// URL is the tcp:// URL clients use.

func (b *Broker) URL() string { return "tcp://" + b.Addr() }

// server returns the running NATS server or nil.
func (b *Broker) server() *server.Server {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.srv
}

// Close disconnects every client (sending wills of those that did not
// disconnect, as a real broker shutdown would) and closes the store.
func (b *Broker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
	if b.srv == nil {
		return nil
	}
	if b.tls != nil {
		b.tls.close()
		b.tls = nil
	}
	if b.retire != nil {
		b.retire()
		b.retire = nil
	}
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
	b.srv = nil
	b.lock.Close()
	if b.tmpDir != "" {
		os.RemoveAll(b.tmpDir)
		b.tmpDir = ""
	}
	return nil
}

func isLoopbackHost(h string) bool {
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
