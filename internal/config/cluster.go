package config

import (
	"net"
	"strconv"
	"time"
)

// Cluster joins this gateway to the other gateways of the site (contract
// section 12): their embedded brokers form one NATS cluster with clustered
// JetStream. Without it the gateway is a single box, as before.
type Cluster struct {
	// Name is the NATS cluster name, the same on every gateway of the site.
	Name string `yaml:"name"`
	// Listen is this gateway's cluster (route) port; default 0.0.0.0:6222.
	Listen string `yaml:"listen"`
	// Peers are the other gateways' cluster addresses (host:port). Listing
	// this gateway too is harmless (NATS drops a route to itself), so every
	// gateway of a site may carry the same list.
	Peers []string `yaml:"peers"`
	// Advertise, when set, is the cluster address the other gateways are
	// told to dial for this one (gossiped routes) instead of Listen: for a
	// port mapped by NAT, a container or a TCP proxy.
	Advertise string `yaml:"advertise"`
	// Secret, when set, must be the same on every gateway: routes log in
	// with it, so that nothing else on the network joins the cluster and
	// reads the site's bus. Strongly advised beyond a private segment.
	Secret string `yaml:"secret"`
	// Lease is how long a gateway's hold on a camera or gate outlives its
	// last renewal: a dead gateway's work moves after about this long.
	// Default 6s; at least 2s (renewals go every lease/6).
	Lease time.Duration `yaml:"lease"`
	// HoldDown is how long a returning gateway must have been seen alive
	// before work is handed back to it. Default 30s.
	HoldDown time.Duration `yaml:"hold_down"`
}

// Defaults of cluster.lease and cluster.hold_down.
const (
	DefaultClusterLease    = 6 * time.Second
	DefaultClusterHoldDown = 30 * time.Second
)

// DefaultClusterListen is cluster.listen when unset.
const DefaultClusterListen = "0.0.0.0:6222"

// Replicas is how many copies JetStream keeps of the site's streams (MQTT
// sessions, retained messages, the cluster's KV): 3 with three or more
// gateways, else one per gateway. peers are taken to be the others.
func (c *Cluster) Replicas() int {
	return min(3, len(c.Peers)+1)
}

func (c *Config) clusterDefaults() {
	if c.Cluster != nil {
		setString(&c.Cluster.Listen, DefaultClusterListen)
		setDuration(&c.Cluster.Lease, DefaultClusterLease)
		setDuration(&c.Cluster.HoldDown, DefaultClusterHoldDown)
	}
}

func (v *validator) cluster(c *Config) {
	cl := c.Cluster
	if cl == nil {
		return
	}
	v.id("cluster.name", cl.Name)
	v.hostPort("cluster.listen", cl.Listen)
	if cl.Advertise != "" {
		v.hostPort("cluster.advertise", cl.Advertise)
	}
	if c.MQTT.Broker != "embedded" {
		v.errf("cluster", "needs mqtt.broker: embedded (the gateways cluster through their embedded brokers)")
	}
	if len(cl.Peers) == 0 {
		v.errf("cluster.peers", "list the other gateways' cluster addresses (host:port)")
	}
	seen := map[string]bool{}
	for i, p := range cl.Peers {
		path := joinIdx("cluster.peers", i)
		host, port, err := net.SplitHostPort(p)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n <= 0 || n > 65535 {
			v.errf(path, "%q is not host:port with a port 1..65535", p)
			continue
		}
		if seen[p] {
			v.errf(path, "%q is listed twice", p)
		}
		seen[p] = true
	}
	if cl.Lease < 2*time.Second {
		v.errf("cluster.lease", "must be at least 2s")
	}
	v.positive("cluster.hold_down", cl.HoldDown)
	if cl.Secret != "" {
		if len(cl.Secret) < 16 {
			// The length only: the secret itself never goes into a message.
			v.errf("cluster.secret", "is %d characters, want at least 16", len(cl.Secret))
		}
	}
}
