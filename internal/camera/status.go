package camera

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Camera states (contract 2.3).
const (
	StateOnline   = "online"
	StateDegraded = "degraded"
	StateOffline  = "offline"
)

// Status is a camera's health for the console, MQTT and metrics.
type Status struct {
	ID, Name string
	State    string // online, degraded, offline
	Reason   string // why not online; empty when online
	// Frame rates over the sliding StatusWindow.
	FPSIn, FPSDecoded, FPSAnalyzed float64
	LastFrameAt                    time.Time
	Reconnects                     int
	Since                          time.Time // when State last changed
	FramesIn                       uint64    // access units received
	FramesDecoded                  uint64
	FramesSkipped                  uint64 // not decoded on purpose: idle key-frame mode
	IdleWakes                      uint64 // idle mode left on a P-frame size jump (see Camera.WakeSigmas)
	FramesDropped                  uint64 // not decodable: waiting for a key frame after connect, loss or error
	DecodeErrors                   uint64 // depacketization, decoder and corrupt-frame errors
	PacketsLost                    uint64
	Width, Height                  int           // source resolution
	KeyframesOnly                  bool          // idle mode active
	Backoff                        time.Duration // delay before the current reconnect attempt

	// DecodeMS is the mean libavcodec time per decoded frame over the
	// StatusWindow (0 when nothing was decoded in it).
	DecodeMS float64
}

// Status returns the camera's status: state, reason and frame rates as of
// the last evaluation (every quarter second), counters as of now.
func (c *Camera) Status() Status {
	c.mu.Lock()
	st := c.status
	c.mu.Unlock()
	if c.closed.Load() {
		return st
	}
	st.FramesIn, st.FramesDecoded = c.framesIn.Load(), c.framesDecoded.Load()
	st.FramesSkipped, st.FramesDropped = c.framesSkipped.Load(), c.framesDropped.Load()
	st.IdleWakes = c.wakes.Load()
	st.DecodeErrors, st.PacketsLost = c.decodeErrors.Load(), c.packetsLost.Load()
	st.Reconnects = int(c.reconnects.Load())
	return st
}

type sample struct {
	at                                  time.Time
	in, decoded, analyzed, lost, errors uint64
	decodeNS                            uint64
}

const monitorPeriod = 250 * time.Millisecond

// monitor samples the counters, derives frame rates and the state, and
// reports changes. It runs apart from the packet path so that a stalled
// camera (no packets, so no callbacks) still goes offline.
func (c *Camera) monitor(ctx context.Context) {
	defer c.wg.Done()
	n := int(c.StatusWindow/monitorPeriod) + 1
	win := make([]sample, 0, n+1)
	tick := time.NewTicker(monitorPeriod)
	defer tick.Stop()
	for {
		now := time.Now()
		s := sample{at: now, in: c.framesIn.Load(), decoded: c.framesDecoded.Load(), analyzed: c.analyzed.Load(),
			lost: c.packetsLost.Load(), errors: c.decodeErrors.Load(), decodeNS: c.decodeNanos.Load()}
		if len(win) == n {
			copy(win, win[1:])
			win = win[:n-1]
		}
		win = append(win, s)
		c.evaluate(now, win)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (c *Camera) evaluate(now time.Time, win []sample) {
	first, last := win[0], win[len(win)-1]
	var fpsIn, fpsDec, fpsAn float64
	if dt := last.at.Sub(first.at).Seconds(); dt > 0 {
		fpsIn = float64(last.in-first.in) / dt
		fpsDec = float64(last.decoded-first.decoded) / dt
		fpsAn = float64(last.analyzed-first.analyzed) / dt
	}
	var decodeMS float64
	if n := last.decoded - first.decoded; n > 0 {
		decodeMS = float64(last.decodeNS-first.decodeNS) / float64(n) / 1e6
	}
	state, reason := StateOnline, ""
	connected := c.connected.Load()
	sinceConnect := now.Sub(time.Unix(0, c.connectedAt.Load()))
	switch {
	case !connected || !c.gotPacket.Load():
		// Connected but no video yet counts as offline: a camera that
		// accepts, plays and then sends nothing must not flap to online on
		// every reconnect.
		state = StateOffline
		c.mu.Lock()
		reason = c.errMsg
		c.mu.Unlock()
		if reason == "" {
			reason = "connecting"
		}
	case now.Sub(time.Unix(0, c.lastPacket.Load())) > c.ReadTimeout:
		state, reason = StateOffline, (&StallError{For: c.ReadTimeout}).Error()
	case last.lost > first.lost:
		state, reason = StateDegraded, "packets lost"
	case last.errors > first.errors:
		state, reason = StateDegraded, "decode errors"
	case c.NominalFPS > 0 && sinceConnect > c.StatusWindow && fpsIn < c.NominalFPS/2:
		state, reason = StateDegraded, fmt.Sprintf("frame rate below half of nominal %g", c.NominalFPS)
	}
	st := Status{
		ID: c.ID, Name: c.Name, State: state, Reason: reason,
		FPSIn: fpsIn, FPSDecoded: fpsDec, FPSAnalyzed: fpsAn, DecodeMS: decodeMS,
		Reconnects:    int(c.reconnects.Load()),
		FramesIn:      last.in,
		FramesDecoded: last.decoded,
		FramesSkipped: c.framesSkipped.Load(),
		IdleWakes:     c.wakes.Load(),
		FramesDropped: c.framesDropped.Load(),
		DecodeErrors:  last.errors,
		PacketsLost:   last.lost,
		Width:         int(c.srcW.Load()),
		Height:        int(c.srcH.Load()),
		KeyframesOnly: connected && c.idleMode(now),
		Backoff:       time.Duration(c.backoff.Load()),
	}
	if t := c.lastFrame.Load(); t != 0 {
		st.LastFrameAt = time.Unix(0, t)
	}
	c.publish(st, now)
}

// setStatus forces a state (used on Close).
func (c *Camera) setStatus(state, reason string, now time.Time) {
	c.mu.Lock()
	st := c.status
	c.mu.Unlock()
	st.State, st.Reason = state, reason
	st.FPSIn, st.FPSDecoded, st.FPSAnalyzed = 0, 0, 0
	c.publish(st, now)
}

func (c *Camera) publish(st Status, now time.Time) {
	c.mu.Lock()
	prev := c.status
	st.Since = prev.Since
	if st.State != prev.State {
		st.Since = now
	}
	c.status = st
	c.mu.Unlock()
	if st.State == prev.State && st.Reason == prev.Reason {
		return
	}
	c.log.Info("camera status", "state", st.State, "reason", st.Reason)
	if c.OnStatus != nil {
		c.OnStatus(st)
	}
}

func (c *Camera) registerMetrics() error {
	c.reg = c.Registerer
	if c.reg == nil {
		c.reg = prometheus.NewRegistry()
	}
	labels := prometheus.Labels{"camera": c.ID}
	counter := func(name, help string, v interface{ Load() uint64 }) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lanewatch_camera_" + name, Help: help, ConstLabels: labels},
			func() float64 { return float64(v.Load()) })
	}
	cols := []prometheus.Collector{
		counter("frames_in_total", "Access units received.", &c.framesIn),
		counter("frames_decoded_total", "Frames decoded and handed to analysis.", &c.framesDecoded),
		counter("frames_skipped_total", "Frames not decoded in idle key-frame mode.", &c.framesSkipped),
		counter("idle_wakes_total", "Idle key-frame mode left on a P-frame size jump.", &c.wakes),
		counter("frames_dropped_total", "Frames not decodable while waiting for a key frame.", &c.framesDropped),
		counter("decode_errors_total", "Depacketization and decoding errors.", &c.decodeErrors),
		counter("packets_lost_total", "RTP packets lost.", &c.packetsLost),
		counter("reconnects_total", "Reconnect attempts.", &c.reconnects),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lanewatch_camera_decode_seconds_total", Help: "Time spent in libavcodec decoding.", ConstLabels: labels},
			func() float64 { return float64(c.decodeNanos.Load()) / 1e9 }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lanewatch_camera_ring_bytes", Help: "Bytes of access units in the pre-roll ring.", ConstLabels: labels},
			func() float64 { held, _ := c.RingUsage(); return float64(held) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lanewatch_camera_ring_resident_bytes", Help: "Memory of the pre-roll ring's slab (outside the Go heap).", ConstLabels: labels},
			func() float64 { _, res := c.RingUsage(); return float64(res) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lanewatch_camera_up", Help: "1 when online or degraded.", ConstLabels: labels},
			func() float64 {
				if c.Status().State == StateOffline {
					return 0
				}
				return 1
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lanewatch_camera_fps_in", Help: "Frames received per second.", ConstLabels: labels},
			func() float64 { return c.Status().FPSIn }),
	}
	for i, col := range cols {
		if err := c.reg.Register(col); err != nil {
			for _, done := range cols[:i] {
				c.reg.Unregister(done)
			}
			return fmt.Errorf("camera %s: metrics: %w", c.ID, err)
		}
	}
	c.unreg = cols
	return nil
}
