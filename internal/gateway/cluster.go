package gateway

import (
	"github.com/lanewatch/lanewatch/internal/broker"
	"github.com/lanewatch/lanewatch/internal/config"
)

// brokerCluster is the embedded broker's part of cluster: (contract
// section 12): nil without it, so a single box runs exactly as before.
func brokerCluster(c *config.Config) *broker.Cluster {
	cl := c.Cluster
	if cl == nil {
		return nil
	}
	return &broker.Cluster{Name: cl.Name, ServerName: c.GatewayID, Listen: cl.Listen, Peers: cl.Peers,
		Secret: cl.Secret, Replicas: cl.Replicas()}
}
