package broker

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/lanewatch/lanewatch/internal/topics"
)

// authenticator is the NATS server's CustomClientAuthentication: it admits
// MQTT clients and hands each its permissions. It is ours rather than NATS's
// users list because we want a real loopback test for anonymous clients
// (NATS has none) and constant-time password comparison.
type authenticator struct {
	log     *slog.Logger
	metrics *metrics
	topics  topics.Topics
	legacy  *User // mqtt.username/password: every right
	users   map[string]User
	gateway Gateway
	// clustered: a loopback NATS client port is open (cluster.go).
	clustered bool
	// holding: devices are refused until Broker.Admit (Config.HoldDevices).
	holding atomic.Bool
	// sysPass logs the broker's own in-process connection into NATS's
	// system account (retire.go); made per start, never stored or shown.
	sysPass string
	srv     *server.Server // set before it starts (system)

	mu    sync.Mutex
	conns map[uint64]string // connection id -> account name, for the denied counter
}

func newAuthenticator(cfg Config, log *slog.Logger, m *metrics) *authenticator {
	a := &authenticator{log: log, metrics: m, topics: cfg.Topics, users: map[string]User{}, gateway: cfg.Gateway,
		conns: map[uint64]string{}, clustered: cfg.Cluster != nil}
	a.holding.Store(cfg.HoldDevices)
	if cfg.Username != "" {
		a.legacy = &User{Name: cfg.Username, Password: cfg.Password}
	}
	for _, u := range cfg.Users {
		a.users[u.Name] = u
	}
	return a
}

// sysUser is the broker's own system-account login (in-process only).
const sysUser = "lanewatch-broker-system"

// system enables the in-process system-account login with a fresh password.
func (a *authenticator) system(srv *server.Server) {
	var r [24]byte
	if _, err := rand.Read(r[:]); err != nil {
		return
	}
	a.sysPass, a.srv = hex.EncodeToString(r[:]), srv
}

// hasAccounts tells whether clients must log in (else: loopback only).
func (a *authenticator) hasAccounts() bool { return a.legacy != nil || len(a.users) > 0 }

// Check implements server.Authentication.
func (a *authenticator) Check(c server.ClientAuthentication) bool {
	o := c.GetOpts()
	remote := ""
	if ra := c.RemoteAddress(); ra != nil {
		remote = ra.String()
	}
	cid := mqttClientID(c)
	refuse := func(msg string) bool {
		// The password is never logged, not even a wrong one.
		a.log.Warn(msg, "remote", remote, "username", o.Username, "client_id", cid)
		return false
	}
	if a.clustered && plainNATSOverTCP(c) {
		return refuse("refused NATS client on the cluster's loopback client port")
	}
	if a.srv != nil && a.sysPass != "" && o.Username == sysUser {
		acc := a.srv.SystemAccount()
		if _, tcp := c.RemoteAddress().(*net.TCPAddr); !equal(o.Password, a.sysPass) || tcp || acc == nil {
			return refuse("refused client: bad password for the broker's system account")
		}
		c.RegisterUser(&server.User{Username: sysUser, Account: acc})
		return true
	}
	// The gateway's own connection, with the credentials generated at its
	// first start: every right. Its client id is reserved for it, so that
	// no one else can take its session over.
	if a.gateway.Username != "" && equal(o.Username, a.gateway.Username) {
		if !equal(o.Password, a.gateway.Password) {
			return refuse("refused MQTT client: bad password for the gateway's own account")
		}
		a.admitted(c, o.Username, nil)
		return true
	}
	if a.gateway.ClientID != "" && cid == a.gateway.ClientID {
		return refuse("refused MQTT client: the gateway's client id is reserved for the gateway")
	}
	if a.holding.Load() {
		a.log.Info("MQTT client refused for now: the gateway is starting (it retries)", "remote", remote, "client_id", cid)
		return false
	}
	if !a.hasAccounts() {
		if !isLoopbackAddr(c.RemoteAddress()) {
			return refuse("refused anonymous MQTT client from non-loopback address")
		}
		a.admitted(c, "anonymous", nil)
		return true
	}
	if a.legacy != nil && equal(o.Username, a.legacy.Name) {
		if !equal(o.Password, a.legacy.Password) {
			return refuse("refused MQTT client: bad username or password")
		}
		a.admitted(c, o.Username, nil)
		return true
	}
	u, ok := a.users[o.Username]
	// Compare even for an unknown name, so that timing does not tell
	// which names exist.
	if !equal(o.Password, u.Password) || !ok || o.Username == "" {
		return refuse("refused MQTT client: bad username or password")
	}
	a.admitted(c, u.Name, permissions(a.topics, u))
	return true
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// admitted registers the client's account and permissions (nil: all).
func (a *authenticator) admitted(c server.ClientAuthentication, name string, p *server.Permissions) {
	c.RegisterUser(&server.User{Username: name, Permissions: p})
	a.mu.Lock()
	a.conns[c.GetID()] = name
	a.mu.Unlock()
}

// account names the account a connection logged in as ("" if unknown).
func (a *authenticator) account(cid uint64) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.conns[cid]
}

// forget drops closed connections from the id map.
func (a *authenticator) forget(open map[uint64]bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id := range a.conns {
		if !open[id] {
			delete(a.conns, id)
		}
	}
}

func (a *authenticator) size() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.conns)
}

func isLoopbackAddr(a net.Addr) bool {
	if a == nil {
		return false
	}
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.IsLoopback()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	return isLoopbackHost(host)
}
