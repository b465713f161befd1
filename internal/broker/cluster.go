package broker

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Cluster joins the embedded server to the site's other gateways: NATS
// routes between the servers and clustered JetStream, so that MQTT
// sessions, retained messages and QoS 1 messages in flight are replicated
// and any gateway's listener serves the whole site (contract section 12).
type Cluster struct {
	Name       string   // NATS cluster name, the same on every gateway
	ServerName string   // this server's name in the cluster: the gateway id, unique
	Listen     string   // route listener host:port (port 0: a free one, tests)
	Peers      []string // the other servers' route addresses
	Advertise  string   // host:port the others are told to dial for this one; "": Listen
	Secret     string   // routes log in with it when set
	// Replicas of the MQTT streams and consumers. Left at NATS's default
	// (which follows the number of servers it has seen, possibly 1 at the
	// first start) the loss of one node stops publishing and loses resumed
	// sessions; set on purpose it does not. Default min(3, 1+len(Peers)).
	Replicas int
}

const routeUser = "lanewatch-route"

func (c *Cluster) check() error {
	if c.Name == "" || c.ServerName == "" {
		return fmt.Errorf("cluster needs a name and a server name")
	}
	if _, _, err := splitListen(c.Listen); err != nil {
		return fmt.Errorf("cluster listen %q: %w", c.Listen, err)
	}
	for _, p := range c.Peers {
		if _, _, err := splitListen(p); err != nil {
			return fmt.Errorf("cluster peer %q: %w", p, err)
		}
	}
	return nil
}

func (c *Cluster) replicas() int {
	if c.Replicas > 0 {
		return c.Replicas
	}
	return min(3, 1+len(c.Peers))
}

// clusterOptions adds routes and clustered JetStream to o.
func (c *Cluster) options(o *server.Options) {
	host, port, _ := splitListen(c.Listen)
	if port == 0 {
		port = -1
	}
	o.ServerName = c.ServerName
	// NATS starts routing only once its client listener is up, so a
	// clustered server needs one: an ephemeral loopback port, on which
	// the authenticator refuses every TCP client (only MQTT and the
	// gateway's in-process connections get in).
	o.DontListen = false
	o.Host, o.Port = "127.0.0.1", -1
	o.Cluster = server.ClusterOpts{
		Name:      c.Name,
		Host:      host,
		Port:      port,
		Advertise: c.Advertise,
	}
	if c.Secret != "" {
		o.Cluster.Username, o.Cluster.Password = routeUser, c.Secret
	}
	for _, p := range c.Peers {
		u := &url.URL{Scheme: "nats-route", Host: p}
		if c.Secret != "" {
			u.User = url.UserPassword(routeUser, c.Secret)
		}
		o.Routes = append(o.Routes, u)
	}
	o.MQTT.StreamReplicas = c.replicas()
	o.MQTT.ConsumerReplicas = c.replicas()
	// JetStream's first meta leader election waits for the peers; MQTT
	// clients connecting meanwhile wait this long for the session streams.
	o.MQTT.JSAPITimeout = 10 * time.Second
}

// ClusterAddr is the bound route listener (host:port), "" when not clustered.
func (b *Broker) ClusterAddr() string {
	srv := b.server()
	if srv == nil || b.cfg.Cluster == nil {
		return ""
	}
	a := srv.ClusterAddr()
	if a == nil {
		return ""
	}
	host, _, _ := splitListen(b.cfg.Cluster.Listen)
	return net.JoinHostPort(host, strconv.Itoa(a.Port))
}

// plainNATSOverTCP tells a NATS protocol client that came over TCP (the
// loopback client port a clustered server must open) from MQTT clients and
// the gateway's in-process connections.
func plainNATSOverTCP(c server.ClientAuthentication) bool {
	if c.Kind() != server.CLIENT || isMQTTConn(c) {
		return false
	}
	_, tcp := c.RemoteAddress().(*net.TCPAddr)
	return tcp
}

// Healthy is nil when this server's JetStream is current: a meta leader
// is known and every stream and consumer replica it holds (MQTT sessions,
// retained messages, the cluster's KV) has caught up. After a node comes
// back, losing another before all are healthy can leave a stream without
// a quorum for a while.
func (b *Broker) Healthy() error {
	srv := b.server()
	if srv == nil {
		return errors.New("broker: not started")
	}
	h := srv.Healthz(&server.HealthzOptions{})
	if h.Status == "ok" {
		return nil
	}
	return fmt.Errorf("broker: %s", h.Error)
}

// Conn is an in-process NATS connection under the gateway's account, for
// the gateway's own use of JetStream (the cluster's KV). The caller closes it.
func (b *Broker) Conn(name string) (*nats.Conn, error) {
	srv := b.server()
	if srv == nil {
		return nil, errors.New("broker: not started")
	}
	if b.cfg.Gateway.Username == "" {
		return nil, errors.New("broker: Conn needs the gateway's account")
	}
	return nats.Connect("", nats.InProcessServer(srv), nats.UserInfo(b.cfg.Gateway.Username, b.cfg.Gateway.Password),
		nats.Name(name), nats.MaxReconnects(-1))
}
