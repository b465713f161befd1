package gateway

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/lanewatch/lanewatch/internal/cluster"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/onvif"
)

// OriginCamera marks incidents the camera's own analytics reported.
const OriginCamera = "camera"

// startONVIF subscribes to the events of every camera with onvif.events
// (contract 11): line crossing, field detection, tamper and signal loss
// become incidents through the engine like any rule's; motion alarms wake
// the camera's decoding from idle instead.
func (g *Gateway) startONVIF(ctx context.Context) error {
	// All at once: each may wait up to 2 s for its camera to take the
	// Unsubscribe, and a site has dozens of cameras. Added before they start,
	// so that one failing stops those started before it.
	err := g.owns("onvif events", func() error {
		var wg sync.WaitGroup
		for _, s := range g.ONVIF {
			wg.Add(1)
			go func() { defer wg.Done(); s.Close() }()
		}
		wg.Wait()
		return nil
	})
	if err != nil {
		return err
	}
	for _, cc := range g.Config.Cameras {
		if cc.ONVIF == nil || !cc.ONVIF.Events {
			continue
		}
		user, pass := cc.ONVIF.Credentials()
		h := &onvifEvents{g: g, camera: cc.ID}
		s := &onvif.Subscriber{Camera: cc.ID, URL: cc.ONVIF.Endpoint(), Client: &onvif.Client{Username: user, Password: pass},
			OnEvent: h.handle, Logger: g.log.With("component", "onvif"), Registerer: g.Registry}
		if err := s.Start(ctx); err != nil {
			return fmt.Errorf("camera %s: %w", cc.ID, err)
		}
		g.ONVIF = append(g.ONVIF, s)
	}
	return nil
}

// onvifEvents turns one camera's events into signals.
type onvifEvents struct {
	g      *Gateway
	camera string

	mu       sync.Mutex
	snap     []byte
	snapTime time.Time
}

func (h *onvifEvents) handle(ev onvif.Event) {
	if ev.Kind == onvif.KindMotion {
		if ev.Active {
			h.wake()
		}
		return
	}
	sig, ok := onvifSignal(h.camera, ev, time.Now())
	if !ok || !h.g.holds(cluster.KindCamera, h.camera) {
		return // in a cluster the camera's holder raises it
	}
	if !sig.Clear {
		sig.Snapshot = h.snapshot()
	}
	h.g.Incidents.Raise(sig)
}

// wake tells the camera's decoder there is motion, as its own motion
// detector would: it leaves key-frame-only idle mode at once.
func (h *onvifEvents) wake() {
	if cs := h.g.Cameras; cs != nil {
		if c, ok := cs.cam(h.camera); ok && c.ing != nil {
			c.analysed().Wake()
		}
	}
}

// snapshot is a JPEG from the camera's main stream; one taken less than a
// second ago is reused, so that a burst of events costs one.
func (h *onvifEvents) snapshot() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.snap != nil && time.Since(h.snapTime) < time.Second {
		return h.snap
	}
	if h.g.Cameras == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	b, err := h.g.Cameras.Snapshot(ctx, h.camera)
	if err != nil {
		h.g.log.Debug("onvif event: no snapshot", "camera", h.camera, "err", err)
		return nil
	}
	h.snap, h.snapTime = b, time.Now()
	return b
}

var ruleUnsafe = regexp.MustCompile(`[^a-z0-9_-]+`)

// ruleID makes the camera's rule name fit where ids go (zone, line).
func ruleID(rule string) string {
	id := strings.Trim(ruleUnsafe.ReplaceAllString(strings.ToLower(rule), "-"), "-_")
	if len(id) > 64 {
		id = strings.Trim(id[:64], "-_")
	}
	return id
}

// onvifSignal maps an event to a signal: which events are incidents, and
// of what type. Initial states reported on subscribing are not new events,
// except a signal loss that is still on.
func onvifSignal(camera string, ev onvif.Event, now time.Time) (incident.Signal, bool) {
	at := now
	// The camera's clock is used when it agrees with ours.
	if t := ev.N.Time; !t.IsZero() && t.Sub(now).Abs() < time.Minute {
		at = t
	}
	src := incident.Source{Camera: camera, Origin: OriginCamera}
	rule := ruleID(ev.Rule)
	desc := "reported by the camera (ONVIF " + onvif.TopicPath(ev.N.Topic)
	if ev.Rule != "" {
		desc += ", rule " + fmt.Sprintf("%q", truncateRule(ev.Rule))
	}
	desc += ")"
	sig := incident.Signal{Source: src, At: at, Description: desc}
	switch ev.Kind {
	case onvif.KindLineCrossing:
		if ev.Initial {
			return sig, false
		}
		sig.Type, sig.Source.Line = incident.LineCrossing, rule
	case onvif.KindIntrusion:
		if ev.Initial || !ev.Active {
			return sig, false
		}
		sig.Type, sig.Source.Zone = incident.Intrusion, rule
	case onvif.KindTamper:
		if ev.Initial || !ev.Active {
			return sig, false
		}
		sig.Type = incident.CameraTamper
	case onvif.KindSignalLoss:
		if ev.Initial && !ev.Active {
			return sig, false
		}
		sig.Type, sig.Clear = incident.CameraOffline, !ev.Active
	default:
		return sig, false
	}
	return sig, true
}

func truncateRule(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}
