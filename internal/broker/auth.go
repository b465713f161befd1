package broker

import (
	"crypto/subtle"
	"log/slog"
	"net"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
)

// authenticator is the NATS server's CustomClientAuthentication: it admits
// MQTT clients and hands each its permissions. It is ours rather than NATS's
// users list because we want a real loopback test for anonymous clients
// (NATS has none) and constant-time password comparison.
type authenticator struct {
	log     *slog.Logger
	metrics *metrics
	user    string
	pass    string

	mu    sync.Mutex
	conns map[uint64]string // connection id -> account name, for the denied counter
}

func newAuthenticator(cfg Config, log *slog.Logger, m *metrics) *authenticator {
	return &authenticator{log: log, metrics: m, user: cfg.Username, pass: cfg.Password, conns: map[uint64]string{}}
}

// hasAccounts tells whether clients must log in (else: loopback only).
func (a *authenticator) hasAccounts() bool { return a.user != "" }

// Check implements server.Authentication.
func (a *authenticator) Check(c server.ClientAuthentication) bool {
	o := c.GetOpts()
	remote := ""
	if ra := c.RemoteAddress(); ra != nil {
		remote = ra.String()
	}
	if !a.hasAccounts() {
		if !isLoopbackAddr(c.RemoteAddress()) {
			a.log.Warn("refused anonymous MQTT client from non-loopback address", "remote", remote)
			return false
		}
		a.admitted(c, "anonymous", nil)
		return true
	}
	u := subtle.ConstantTimeCompare([]byte(a.user), []byte(o.Username))
	p := subtle.ConstantTimeCompare([]byte(a.pass), []byte(o.Password))
	if u&p != 1 {
		// The password is never logged, not even a wrong one.
		a.log.Warn("refused MQTT client: bad username or password", "remote", remote, "username", o.Username)
		return false
	}
	a.admitted(c, o.Username, nil)
	return true
}

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
