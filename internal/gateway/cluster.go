package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/lanewatch/lanewatch/internal/broker"
	"github.com/lanewatch/lanewatch/internal/camera"
	"github.com/lanewatch/lanewatch/internal/cluster"
	"github.com/lanewatch/lanewatch/internal/component"
	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/mqttbus"
	"github.com/lanewatch/lanewatch/internal/sensors"
	"github.com/lanewatch/lanewatch/internal/topics"
)

// brokerCluster is the embedded broker's part of cluster: (contract
// section 12): nil without it, so a single box runs exactly as before.
func brokerCluster(c *config.Config) *broker.Cluster {
	cl := c.Cluster
	if cl == nil {
		return nil
	}
	return &broker.Cluster{Name: cl.Name, ServerName: c.GatewayID, Listen: cl.Listen, Peers: cl.Peers, Advertise: cl.Advertise,
		Secret: cl.Secret, Replicas: cl.Replicas()}
}

// startCluster prepares this gateway's part of the site's assignment of
// cameras and gates (internal/cluster) when cluster: is set; joinCluster,
// the last step, joins once the cameras and gates exist. A camera runs
// (ingest, analysis, recording, clips, camera_offline) only on the gateway
// that holds it; a gate's events become incidents and ledger entries only
// there. The others show the camera with its holder's retained status.
func (g *Gateway) startCluster(ctx context.Context) error {
	cl := g.Config.Cluster
	if cl == nil || g.Broker == nil {
		return nil
	}
	nc, err := g.Broker.Conn("lanewatch-cluster")
	if err != nil {
		return err
	}
	if err := g.owns("cluster connection", func() error { nc.Close(); return nil }); err != nil {
		return err
	}
	var items []cluster.Item
	cost := map[string]float64{}
	for _, c := range g.Config.Cameras {
		items = append(items, cluster.Item{Kind: cluster.KindCamera, ID: c.ID})
		cost[c.ID] = cameraCost(c)
	}
	for _, gt := range g.Config.Gates {
		items = append(items, cluster.Item{Kind: cluster.KindGate, ID: gt.ID})
	}
	items = append(items, g.senderRoles()...) // outbox_cluster.go
	// Set here, before anything runs that asks holds: it never changes after.
	g.Cluster = &cluster.Cluster{Conn: nc, Self: g.Config.GatewayID, Replicas: cl.Replicas(), Items: items,
		Lease: cl.Lease, HoldDown: cl.HoldDown, OnChange: g.assignmentChanged, Logger: g.log, Registerer: g.Registry,
		Weight: func(it cluster.Item) float64 {
			if it.Kind == cluster.KindCamera {
				return cost[it.ID]
			}
			return 1
		}}
	return nil
}

// cameraCost is a camera's share of a gateway for placement, 1 for the
// defaults: analysis grows with frames per second and pixels analysed.
// From the config, the same on every gateway of the site.
func cameraCost(c config.Camera) float64 {
	fps, w := c.Detect.FPS, float64(c.Detect.Width)
	if fps <= 0 {
		fps = config.DefaultDetectFPS
	}
	if w <= 0 {
		w = config.DefaultDetectWidth
	}
	return fps / config.DefaultDetectFPS * (w / config.DefaultDetectWidth) * (w / config.DefaultDetectWidth)
}

func (g *Gateway) joinCluster(ctx context.Context) error {
	c := g.Cluster
	if c == nil {
		return nil
	}
	g.Cameras.camMu.Lock()
	g.Cameras.remote = map[string]console.CameraStatus{}
	g.Cameras.camMu.Unlock()
	if err := g.Bus.Subscribe(g.Topics.CameraStatus("+"), g.Cameras.remoteUpdate); err != nil {
		return err
	}
	a, err := newAuditStream(c.Conn, g.Config.GatewayID, g.Config.Cluster.Replicas(), g.Config.Vehicles.Retention, g.log, g.Registry)
	if err != nil {
		return err
	}
	if err := g.use(ctx, component.Named("site audit", a)); err != nil {
		return err
	}
	g.siteAudit.Store(a)
	if err := g.joinSiteLedger(ctx, c); err != nil {
		return err
	}
	// Started last, so it closes first: its cameras stop and its items
	// are released (taken by the others at once) before the rest stops.
	return g.use(ctx, component.Named("cluster", c))
}

// clusterStatus is GET /api/cluster and `lanewatch cluster status`.
func (g *Gateway) clusterStatus(ctx context.Context) (any, error) {
	st, err := g.Cluster.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", console.ErrUnavailable, err)
	}
	return st, nil
}

// assignmentChanged starts or stops what this gateway does for an item.
// A gate's events are pulled from JetStream by its holder only (gatejs.go).
func (g *Gateway) assignmentChanged(it cluster.Item, held bool) {
	if it.Kind == cluster.KindCamera {
		g.Cameras.hold(it.ID, held)
	}
	if it == senderRole {
		g.holdSender(held) // outbox_cluster.go
	}
	if it.Kind == cluster.KindGate && g.gateSource != nil {
		g.gateSource.Hold(it.ID, held)
	}
}

// holds tells whether this gateway acts on the camera or gate: always on a
// single box.
func (g *Gateway) holds(kind, id string) bool {
	return g.Cluster == nil || g.Cluster.Assigned(kind, id)
}

// holder names the gateway running a camera in a cluster ("" on a single box).
func (g *Gateway) holder(camera string) string {
	if g.Cluster == nil {
		return ""
	}
	return g.Cluster.Holder(cluster.KindCamera, camera)
}

// heldGateEvents keeps the events of gates this gateway holds. With the
// events from JetStream it keeps all: only the holder pulls a gate's, and
// a batch being handled while its gate is released must be stored, not
// dropped and acknowledged.
func (g *Gateway) heldGateEvents(evs []sensors.Event) []sensors.Event {
	if g.Cluster == nil || g.gateSource != nil {
		return evs
	}
	out := evs[:0:0]
	for _, ev := range evs {
		if g.Cluster.Assigned(cluster.KindGate, ev.Gate) {
			out = append(out, ev)
		}
	}
	return out
}

// hold starts the camera here (a fresh ingest, loop and recorder: the
// stopped ones cannot restart) or stops it. It returns once the camera
// runs or has stopped: the cluster frees the camera only after that, so
// two gateways never analyse it at once.
func (cs *Cameras) hold(id string, held bool) {
	old, ok := cs.cam(id)
	if !ok || (old.ing != nil) == held {
		return
	}
	g := cs.g
	if !held {
		cs.swap(&cam{cfg: old.cfg}) // first: its last "stopped" status is not published
		old.offline.Close()
		old.ing.Close()
		if old.sub != nil {
			old.sub.Close()
		}
		old.latest.Close()
		if old.loopDone != nil {
			<-old.loopDone // the loop closes itself once its frames end
		}
		if old.rec != nil {
			old.rec.Close()
		}
		g.log.Info("camera stopped: held by another gateway now", "camera", id)
		return
	}
	rec, err := g.newRecorder(cs.ctx, old.cfg)
	if err != nil {
		g.log.Error("camera not recorded", "camera", id, "err", err)
	}
	var sinks []camera.Sink
	if rec != nil {
		sinks = []camera.Sink{rec}
	}
	c := cs.newCam(old.cfg, sinks)
	c.rec = rec
	cs.swap(c)
	if err := cs.run(cs.ctx, c); err != nil {
		g.log.Error("camera not started", "camera", id, "err", err)
	}
	g.log.Info("camera started: held by this gateway", "camera", id)
}

func (cs *Cameras) swap(c *cam) {
	cs.camMu.Lock()
	defer cs.camMu.Unlock()
	cs.byID[c.cfg.ID] = c
	for i, o := range cs.list {
		if o.cfg.ID == c.cfg.ID {
			cs.list[i] = c
		}
	}
}

// remoteUpdate keeps the retained status the holders publish (contract
// 2.3), for cameras run elsewhere.
func (cs *Cameras) remoteUpdate(m mqttbus.Message) {
	rest, ok := strings.CutPrefix(m.Topic, cs.g.Topics.Base()+"/cameras/")
	id, ok2 := strings.CutSuffix(rest, "/status")
	var st topics.CameraStatus
	if !ok || !ok2 || json.Unmarshal(m.Payload, &st) != nil {
		return
	}
	cs.camMu.Lock()
	defer cs.camMu.Unlock()
	if _, known := cs.byID[id]; !known {
		return
	}
	cs.remote[id] = console.CameraStatus{ID: id, State: st.State, FPSIn: st.FPSIn, FPSAnalyzed: st.FPSAnalyzed, Since: timePtr(st.Since)}
}

// remoteStatus is a camera run elsewhere as its holder last published it.
func (cs *Cameras) remoteStatus(cc config.Camera) console.CameraStatus {
	cs.camMu.RLock()
	st, ok := cs.remote[cc.ID]
	cs.camMu.RUnlock()
	if !ok {
		st = console.CameraStatus{ID: cc.ID, State: camera.StateOffline, Reason: "not run by this gateway; no status from its holder yet"}
	}
	st.Name = cc.Name
	if cc.Name == "" {
		st.Name = cc.ID
	}
	st.Gateway = cs.g.holder(cc.ID)
	return st
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
