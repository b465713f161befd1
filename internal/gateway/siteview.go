package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"gocv.io/x/gocv"

	"github.com/lanewatch/lanewatch/internal/cluster"
	"github.com/lanewatch/lanewatch/internal/component"
	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/lanewatch/lanewatch/internal/siteincidents"
)

// One site from any gateway (issue 16 item 4): in a cluster, every
// gateway's incident changes go to the site's replicated bucket
// (internal/siteincidents), so that the API, the SSE feed and the wall of
// any gateway cover the whole site; acks and resolves reach the gateway
// that owns the incident, and evidence and live frames come from the
// gateway that has them, over the peer service (peer.go).
//
// When an incident's owner is dead, the gateway that now holds the
// incident's camera or gate (else the one rendezvous hashing names among
// the live ones) adopts it, within adoptEvery or at the first action on
// it: it takes the incident into its own engine at the version the bucket
// holds, claims it in the bucket (compare-and-set on the dead owner), and
// carries it on (the ack is the next version, its ticket goes from there,
// escalation runs there). A gateway that comes back finds its incidents
// claimed and lets go of them.
type siteView struct {
	g     *Gateway
	self  string
	store *siteincidents.Store
	nc    *nats.Conn
	local incidentStore
}

// startSiteIncidents opens the site's incident bucket and writes this
// gateway's changes to it: before the engine starts, so no change is missed.
func (g *Gateway) startSiteIncidents(ctx context.Context) error {
	if g.Cluster == nil {
		return nil
	}
	nc, err := g.Broker.Conn("lanewatch-site")
	if err != nil {
		return err
	}
	if err := g.owns("site connection", func() error { nc.Close(); return nil }); err != nil {
		return err
	}
	st := &siteincidents.Store{Conn: nc, Self: g.Config.GatewayID, Replicas: g.Config.Cluster.Replicas(),
		Logger: g.log, Registerer: g.Registry}
	g.siteView = &siteView{g: g, self: g.Config.GatewayID, store: st, nc: nc, local: incidentStore{g.Incidents, g.Evidence}}
	return g.use(ctx, component.Named("site incidents", st), component.Named("site incidents follow", st.Follower(g.Incidents)))
}

// startPeers answers the other gateways (peer.go), once the cameras and
// evidence it serves exist.
func (g *Gateway) startPeers(ctx context.Context) error {
	sv := g.siteView
	if sv == nil {
		return nil
	}
	stop, err := servePeers(sv.nc, sv.self, map[string]peerHandler{
		peerAck:            sv.serveChange(peerAck),
		peerResolve:        sv.serveChange(peerResolve),
		peerIncidentSnap:   sv.serveIncidentSnapshot,
		peerIncidentClip:   sv.serveIncidentClip,
		peerCameraSnapshot: sv.serveCameraSnapshot,
		peerCameraFrame:    sv.serveCameraFrame,
	}, func(msg string, args ...any) { g.log.Warn(msg, args...) })
	if err != nil {
		return err
	}
	if err := g.owns("peer service", func() error { stop(); return nil }); err != nil {
		return err
	}
	return g.use(ctx, component.Named("site incidents adoption", component.Run(func(ctx context.Context) error {
		t := time.NewTicker(adoptEvery)
		defer t.Stop()
		seeded := false
		for {
			select {
			case <-t.C:
				if !seeded {
					seeded = sv.seed(ctx)
				}
				sv.releaseClaimed()
				sv.adoptOrphans()
			case <-ctx.Done():
				return nil
			}
		}
	})))
}

// adoptEvery is how often a gateway looks for incidents to adopt or let go.
const adoptEvery = 2 * time.Second

// adoptOrphans adopts the open incidents of dead gateways this one is the
// adopter of, so that they escalate and their acks have an owner.
func (sv *siteView) adoptOrphans() {
	live := sv.g.Cluster.Live()
	if !slices.Contains(live, sv.self) {
		return // not joined, or cut off: the others decide
	}
	for _, r := range sv.store.Unresolved() {
		id := r.Incident.ID
		if r.Gateway == sv.self || slices.Contains(live, r.Gateway) || sv.g.Incidents.IsOpen(id) {
			continue
		}
		// Waits while the camera or gate is free (just after a death, or
		// JetStream stalled): its next holder adopts, not a passer-by.
		if gw, settled := adopterOf(sv.g.Cluster, r.Incident, live); !settled || gw != sv.self {
			continue
		}
		if err := sv.adoptIfOrphan(id, r, true); err != nil {
			sv.g.log.Warn("incident of a dead gateway not adopted", "incident", id, "owner", r.Gateway, "err", err)
		}
	}
}

// seed writes the incidents open here that the bucket has not seen: those
// of a box that ran alone before it joined a cluster, whose changes predate
// the follower (gate events would otherwise wait for them). A version the
// bucket holds already, or a newer one, is left as it is. It reports
// whether it is done; false: try again.
func (sv *siteView) seed(ctx context.Context) bool {
	select {
	case <-sv.store.Ready():
	default:
		return false
	}
	done := true
	for id, v := range sv.g.Incidents.LiveVersions() {
		if r, ok := sv.store.Get(id); ok && r.Version >= v {
			continue
		}
		inc, err := sv.g.Incidents.Get(id)
		if err != nil {
			continue // resolved meanwhile: the follower writes it
		}
		pctx, cancel := context.WithTimeout(ctx, siteSyncTimeout)
		err = sv.store.Put(pctx, incidents.Change{Kind: "loaded", Incident: inc})
		cancel()
		if err != nil {
			sv.g.log.Warn("open incident not yet in the site's copy", "incident", id, "err", err)
			done = false
		}
	}
	return done
}

// releaseClaimed lets go of the incidents another gateway carries on now
// (adopted while this one was away).
func (sv *siteView) releaseClaimed() {
	for id, v := range sv.g.Incidents.LiveVersions() {
		if r, ok := sv.store.Get(id); ok && r.Gateway != sv.self && r.Version >= v {
			sv.g.Incidents.Release(id)
		}
	}
}

// consoleIncidents is what the console lists and changes: this gateway's
// engine, or the whole site in a cluster.
func (g *Gateway) consoleIncidents() console.IncidentStore {
	if g.siteView != nil {
		return g.siteView
	}
	return incidentStore{g.Incidents, g.Evidence}
}

// target says which gateway acts on incident id: this one for what its
// engine has (and no other gateway carried on since), the owner when it is
// alive, else the adopter. rec is the bucket's record, ok whether there is one.
func (sv *siteView) target(id string) (gw string, rec siteincidents.Record, ok bool) {
	rec, ok = sv.store.Get(id)
	if !ok || rec.Gateway == sv.self {
		return sv.self, rec, ok
	}
	if inc, err := sv.g.Incidents.Get(id); err == nil && inc.Version > rec.Version {
		return sv.self, rec, ok // ours, and newer than the bucket says (the write is on its way)
	}
	live := sv.g.Cluster.Live()
	if slices.Contains(live, rec.Gateway) {
		return rec.Gateway, rec, ok
	}
	return adopter(sv.g.Cluster, rec.Incident, live), rec, ok
}

// adopter is the gateway that carries on a dead gateway's incident: the
// holder of its camera or gate, else the rendezvous choice among the live.
func adopter(c *cluster.Cluster, inc incident.Incident, live []string) string {
	gw, _ := adopterOf(c, inc, live)
	return gw
}

// adopterOf is adopter, and whether it is the holder of the incident's
// camera or gate (or the incident has neither): false while they are free.
func adopterOf(c *cluster.Cluster, inc incident.Incident, live []string) (string, bool) {
	sourced := false
	for _, it := range []cluster.Item{{Kind: cluster.KindCamera, ID: inc.Source.Camera}, {Kind: cluster.KindGate, ID: inc.Source.Gate}} {
		if it.ID == "" {
			continue
		}
		sourced = true
		if h := c.Holder(it.Kind, it.ID); h != "" && slices.Contains(live, h) {
			return h, true
		}
	}
	if len(live) == 0 {
		return c.Self, !sourced
	}
	return cluster.Rendezvous(cluster.Item{Kind: "incident", ID: inc.ID}, live), !sourced
}

// adoptIfOrphan takes a dead owner's incident into this gateway's engine
// before it acts on it. Nothing to do for its own or an unknown incident.
func (sv *siteView) adoptIfOrphan(id string, rec siteincidents.Record, ok bool) error {
	if !ok || rec.Gateway == sv.self || sv.g.Incidents.IsOpen(id) {
		return nil
	}
	if inc, err := sv.g.Incidents.Get(id); err == nil && inc.Version > rec.Version {
		return nil
	}
	if rec.Incident.State == incident.Resolved {
		return fmt.Errorf("%w: %s is resolved", console.ErrConflict, id)
	}
	inc := rec.Incident
	inc.Gateway = ""
	inc.Version = rec.Version
	if err := sv.g.Incidents.Adopt(inc); err != nil {
		return incidentErr(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), siteSyncTimeout)
	defer cancel()
	if err := sv.store.Claim(ctx, id, rec.Gateway); err != nil {
		// Another gateway was first, or the bucket cannot take the claim:
		// not ours to carry on.
		sv.g.Incidents.Release(id)
		return fmt.Errorf("%w: %s not adopted: %v", console.ErrUnavailable, id, err)
	}
	sv.g.log.Info("incident of a dead gateway carried on here", "incident", id, "owner", rec.Gateway)
	return nil
}

// change applies an ack or resolve here, adopting the incident if its owner is dead.
func (sv *siteView) change(op, id, by, note string) (incident.Incident, error) {
	_, rec, ok := sv.target(id)
	if err := sv.adoptIfOrphan(id, rec, ok); err != nil {
		return incident.Incident{}, err
	}
	do := sv.local.Resolve
	if op == peerAck {
		do = sv.local.Ack
	}
	inc, err := do(id, by, note)
	if err != nil {
		return inc, err
	}
	// Answered once the site's copy has it: an ack the operator saw
	// succeed survives this gateway dying with its disk.
	ctx, cancel := context.WithTimeout(context.Background(), siteSyncTimeout)
	defer cancel()
	if err := sv.store.Sync(ctx, map[string]int{id: inc.Version}); err != nil {
		return inc, fmt.Errorf("%w: applied by gateway %s, not yet in the site's copy: %v", console.ErrUnavailable, sv.self, err)
	}
	return inc, nil
}

// siteSyncTimeout bounds a wait for the site's bucket: JetStream without
// quorum (a gateway cut off from the others) must not stall the gateway.
const siteSyncTimeout = 3 * time.Second

// act routes an ack or resolve to the gateway that acts on the incident.
func (sv *siteView) act(op, id, by, note string) (incident.Incident, error) {
	gw, _, _ := sv.target(id)
	if gw == sv.self {
		inc, err := sv.change(op, id, by, note)
		inc.Gateway = sv.self
		return inc, err
	}
	body, _, err := askPeer(context.Background(), sv.nc, gw, peerRequest{Op: op, ID: id, By: by, Note: note}, 10*time.Second)
	if err != nil {
		return incident.Incident{}, err
	}
	var inc incident.Incident
	if err := json.Unmarshal(body, &inc); err != nil {
		return incident.Incident{}, fmt.Errorf("%w: gateway %s: %v", console.ErrUnavailable, gw, err)
	}
	return inc, nil
}

func (sv *siteView) Ack(id, by, note string) (incident.Incident, error) {
	return sv.act(peerAck, id, by, note)
}
func (sv *siteView) Resolve(id, by, note string) (incident.Incident, error) {
	return sv.act(peerResolve, id, by, note)
}

// mqttCommandHere says whether this gateway applies an MQTT ack/resolve of
// the incident in topic: every gateway receives it (the site's bus is one),
// and only the one that acts on the incident applies it, adopting it first
// when its owner is dead.
func (g *Gateway) mqttCommandHere(topic string) bool {
	sv := g.siteView
	if sv == nil {
		return true
	}
	rest, _ := strings.CutPrefix(topic, g.Topics.Base()+"/incidents/")
	id, _, _ := strings.Cut(rest, "/")
	gw, rec, ok := sv.target(id)
	if gw != sv.self {
		return false
	}
	if err := sv.adoptIfOrphan(id, rec, ok); err != nil {
		g.log.Warn("MQTT command for a dead gateway's incident not applied", "incident", id, "err", err)
	}
	return true
}

// List merges this gateway's incidents with the rest of the site's, newest first.
func (sv *siteView) List(f console.IncidentFilter) ([]incident.Incident, error) {
	local, err := sv.local.List(f)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]incident.Incident, len(local))
	for _, inc := range local {
		inc.Gateway = sv.self
		byID[inc.ID] = inc
	}
	for _, r := range sv.store.List(f.Engine()) {
		id := r.Incident.ID
		// At the same version the bucket's record wins when another gateway
		// made it: that gateway claimed the incident from this one.
		if cur, ok := byID[id]; ok && (cur.Version > r.Version || (cur.Version == r.Version && r.Gateway == sv.self)) {
			continue
		}
		if r.Gateway == sv.self {
			// Ours: the engine is newer than the bucket (which lags it a
			// little); it only is missing from the page for not matching.
			if inc, err := sv.g.Incidents.Get(id); err == nil && inc.Version >= r.Version {
				continue
			}
		}
		inc := r.Incident
		inc.Gateway = r.Gateway
		byID[id] = inc
	}
	out := make([]incident.Incident, 0, len(byID))
	for _, inc := range byID {
		out = append(out, inc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// Get is the newest of this gateway's copy and the site's.
func (sv *siteView) Get(id string) (incident.Incident, error) {
	inc, err := sv.local.Get(id)
	r, ok := sv.store.Get(id)
	switch {
	case err == nil && (!ok || inc.Version > r.Version || (inc.Version == r.Version && r.Gateway == sv.self)):
		inc.Gateway = sv.self
		return inc, nil
	case ok:
		inc = r.Incident
		inc.Gateway = r.Gateway
		return inc, nil
	}
	return inc, err
}

// Subscribe delivers this gateway's changes as its engine makes them and
// the other gateways' as the bucket receives them.
func (sv *siteView) Subscribe() (<-chan incident.Incident, func()) {
	local, cancelLocal := sv.local.Subscribe()
	remote, cancelRemote := sv.store.Subscribe()
	out := make(chan incident.Incident, 64)
	done := make(chan struct{})
	go func() {
		defer close(out)
		for local != nil || remote != nil {
			var inc incident.Incident
			select {
			case i, ok := <-local:
				if !ok {
					local = nil
					continue
				}
				inc = i
				inc.Gateway = sv.self
			case r, ok := <-remote:
				if !ok {
					remote = nil
					continue
				}
				if r.Gateway == sv.self {
					continue // came from the engine already
				}
				inc = r.Incident
				inc.Gateway = r.Gateway
			case <-done:
				return
			}
			select {
			case out <- inc:
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return out, func() {
		once.Do(func() {
			close(done)
			cancelLocal()
			cancelRemote()
		})
	}
}

// evidenceHolder is the gateway to ask for an incident's evidence this one
// does not have: the one that opened it.
func (sv *siteView) evidenceHolder(id string) (string, bool) {
	r, ok := sv.store.Get(id)
	if !ok {
		return "", false
	}
	origin := r.Origin
	if origin == "" {
		origin = r.Gateway
	}
	return origin, origin != sv.self
}

func (sv *siteView) Snapshot(id string) ([]byte, error) {
	b, err := sv.local.Snapshot(id)
	if !errors.Is(err, console.ErrNotFound) {
		return b, err
	}
	gw, ok := sv.evidenceHolder(id)
	if !ok {
		return nil, err
	}
	b, _, err = askPeer(context.Background(), sv.nc, gw, peerRequest{Op: peerIncidentSnap, ID: id}, 10*time.Second)
	return b, err
}

func (sv *siteView) Clip(id string) (io.ReadSeekCloser, time.Time, error) {
	f, mod, err := sv.local.Clip(id)
	if !errors.Is(err, console.ErrNotFound) {
		return f, mod, err
	}
	gw, ok := sv.evidenceHolder(id)
	if !ok {
		return nil, time.Time{}, err
	}
	b, hdr, err := askPeer(context.Background(), sv.nc, gw, peerRequest{Op: peerIncidentClip, ID: id}, 60*time.Second)
	if err != nil {
		return nil, time.Time{}, err
	}
	mod, _ = time.Parse(time.RFC3339Nano, hdr.Get(hdrTime))
	return nopSeekCloser{bytes.NewReader(b)}, mod, nil
}

type nopSeekCloser struct{ *bytes.Reader }

func (nopSeekCloser) Close() error { return nil }

// The peer service's handlers: what this gateway does for the others.

func (sv *siteView) serveChange(op string) peerHandler {
	return func(_ context.Context, r peerRequest) (peerReply, error) {
		if r.ID == "" || r.By == "" {
			return peerReply{}, fmt.Errorf("%w: incident and operator required", console.ErrInvalid)
		}
		inc, err := sv.change(op, r.ID, r.By, r.Note)
		if err != nil {
			return peerReply{}, err
		}
		inc.Gateway = sv.self
		b, err := json.Marshal(inc)
		return peerReply{body: b}, err
	}
}

func (sv *siteView) serveIncidentSnapshot(_ context.Context, r peerRequest) (peerReply, error) {
	b, err := sv.local.Snapshot(r.ID)
	return peerReply{body: b}, err
}

func (sv *siteView) serveIncidentClip(_ context.Context, r peerRequest) (peerReply, error) {
	f, mod, err := sv.local.Clip(r.ID)
	if err != nil {
		return peerReply{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, peerMaxReply+1))
	if err != nil {
		return peerReply{}, err
	}
	if len(b) > peerMaxReply {
		return peerReply{}, fmt.Errorf("%w: clip larger than %d bytes", console.ErrUnavailable, peerMaxReply)
	}
	return peerReply{body: b, hdr: map[string]string{hdrTime: mod.UTC().Format(time.RFC3339Nano)}}, nil
}

// heldHere refuses a camera this gateway does not run (any more).
func (sv *siteView) heldHere(id string) error {
	if sv.g.Cameras == nil || !sv.g.holds(cluster.KindCamera, id) {
		return fmt.Errorf("%w: camera %s is not run by gateway %s", console.ErrUnavailable, id, sv.self)
	}
	return nil
}

func (sv *siteView) serveCameraSnapshot(ctx context.Context, r peerRequest) (peerReply, error) {
	if err := sv.heldHere(r.Camera); err != nil {
		return peerReply{}, err
	}
	b, err := sv.g.Cameras.Snapshot(ctx, r.Camera)
	return peerReply{body: b}, err
}

// serveCameraFrame is the camera's latest annotated wall frame, scaled and
// encoded as the console's MJPEG would be.
func (sv *siteView) serveCameraFrame(_ context.Context, r peerRequest) (peerReply, error) {
	if err := sv.heldHere(r.Camera); err != nil {
		return peerReply{}, err
	}
	img := gocv.NewMat()
	defer img.Close()
	if !sv.g.Cameras.Annotated(r.Camera, &img) {
		return peerReply{}, fmt.Errorf("%w: no frame yet", console.ErrUnavailable)
	}
	b, err := encodeWallFrame(img, sv.g.Config.Console.MJPEG)
	return peerReply{body: b}, err
}

// encodeWallFrame scales a frame to the wall's width and encodes it.
func encodeWallFrame(img gocv.Mat, m config.MJPEG) ([]byte, error) {
	width, quality := m.Width, m.Quality
	if width <= 0 {
		width = config.DefaultMJPEGWidth
	}
	if quality <= 0 || quality > 100 {
		quality = config.DefaultMJPEGQuality
	}
	if img.Empty() || img.Cols() < 2 || img.Rows() < 2 {
		return nil, fmt.Errorf("%w: empty frame", console.ErrUnavailable)
	}
	src := img
	if img.Cols() > width {
		scaled := gocv.NewMat()
		defer scaled.Close()
		h := max(1, img.Rows()*width/img.Cols())
		gocv.Resize(img, &scaled, image.Pt(width, h), 0, 0, gocv.InterpolationArea)
		src = scaled
	}
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, src, []int{gocv.IMWriteJpegQuality, quality})
	if err != nil {
		return nil, err
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...), nil
}

// remoteSnapshot is the snapshot of a camera run by another gateway, taken there.
func (g *Gateway) remoteSnapshot(ctx context.Context, id string) ([]byte, error) {
	gw, err := g.remoteHolder(id)
	if err != nil {
		return nil, err
	}
	b, _, err := askPeer(ctx, g.siteView.nc, gw, peerRequest{Op: peerCameraSnapshot, Camera: id}, 10*time.Second)
	return b, err
}

// remoteFrame fills dst with the latest wall frame of a camera run by
// another gateway; false when there is none (the console keeps the last).
func (g *Gateway) remoteFrame(id string, dst *gocv.Mat) bool {
	gw, err := g.remoteHolder(id)
	if err != nil {
		return false
	}
	b, _, err := askPeer(context.Background(), g.siteView.nc, gw, peerRequest{Op: peerCameraFrame, Camera: id}, 2*time.Second)
	if err != nil {
		return false
	}
	img, err := gocv.IMDecode(b, gocv.IMReadColor)
	if err != nil || img.Empty() {
		img.Close()
		return false
	}
	defer img.Close()
	img.CopyTo(dst)
	return true
}

func (g *Gateway) remoteHolder(id string) (string, error) {
	if g.siteView == nil {
		return "", fmt.Errorf("%w: camera not run here", console.ErrUnavailable)
	}
	gw := g.holder(id)
	if gw == "" || gw == g.Config.GatewayID {
		return "", fmt.Errorf("%w: camera %s is not run by any gateway now", console.ErrUnavailable, id)
	}
	return gw, nil
}
