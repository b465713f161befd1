package camera

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/lanewatch/lanewatch/internal/decode"
	"github.com/lanewatch/lanewatch/internal/logx"
)

// UnsupportedCodecError: the camera offers no H.264/H.265 video.
type UnsupportedCodecError struct{ Codecs []string }

func (e *UnsupportedCodecError) Error() string {
	if len(e.Codecs) == 0 {
		return "unsupported codec: no media"
	}
	return "unsupported codec " + strings.Join(e.Codecs, ", ") + " (want H264 or H265)"
}

// StallError: connected, but no RTP packet arrived for the read timeout.
type StallError struct{ For time.Duration }

func (e *StallError) Error() string { return fmt.Sprintf("stalled: no packets for %s", e.For) }

// ConnectError wraps a failure to reach or set up the stream; Step says
// which RTSP step failed.
type ConnectError struct {
	Step string // connect, describe, setup, play, read
	Err  error
}

func (e *ConnectError) Error() string {
	return e.Step + ": " + logx.RedactText(e.Err.Error())
}
func (e *ConnectError) Unwrap() error { return e.Err }

// session runs one RTSP connection until it fails or ctx ends.
func (c *Camera) session(ctx context.Context) error {
	u, err := base.ParseURL(c.URL)
	if err != nil {
		// Parse errors quote the URL: never let that reach a log.
		return &ConnectError{Step: "connect", Err: errors.New("invalid RTSP URL")}
	}
	tr := gortsplib.TransportTCP
	if c.Transport == "udp" {
		tr = gortsplib.TransportUDP
	}
	var batch *batchConn
	client := &gortsplib.Client{
		Scheme:       u.Scheme,
		Host:         u.Host,
		Transport:    &tr,
		ReadTimeout:  c.ReadTimeout,
		WriteTimeout: c.ReadTimeout,
		DialContext: func(dctx context.Context, network, addr string) (net.Conn, error) {
			// Dial with our context too, so that Close aborts a hanging dial.
			dctx, cancel := context.WithCancel(dctx)
			defer context.AfterFunc(ctx, cancel)()
			defer cancel()
			nc, err := (&net.Dialer{Timeout: c.ReadTimeout}).DialContext(dctx, network, addr)
			if err != nil || c.ReadBatch <= 0 || tr != gortsplib.TransportTCP {
				return nc, err
			}
			batch = newBatchConn(nc, c.ReadBatch)
			return batch, nil
		},
		OnPacketsLost: func(n uint64) { c.packetsLost.Add(n) },
		OnDecodeError: func(error) { c.decodeErrors.Add(1) },
	}
	if err := client.Start2(); err != nil {
		return &ConnectError{Step: "connect", Err: err}
	}
	// Close from another goroutine when ctx ends so that blocking RTSP
	// requests return.
	stopClose := context.AfterFunc(ctx, client.Close)
	var st *source
	defer func() {
		stopClose()
		client.Close() // waits for the packet callbacks to finish
		if st != nil && c.dec != nil {
			c.dec.end()
		}
	}()

	desc, _, err := client.Describe(u)
	if err != nil {
		return &ConnectError{Step: "describe", Err: err}
	}
	st, err = c.newSource(desc)
	if err != nil {
		return err
	}
	if _, err := client.Setup(desc.BaseURL, st.media, 0, 0); err != nil {
		return &ConnectError{Step: "setup", Err: err}
	}
	st.client = client
	client.OnPacketRTP(st.media, st.forma, st.onPacket)
	now := time.Now()
	c.lastPacket.Store(now.UnixNano())
	c.gotPacket.Store(false)
	if _, err := client.Play(nil); err != nil {
		return &ConnectError{Step: "play", Err: err}
	}
	if batch != nil {
		batch.active.Store(true)
	}
	c.connectedAt.Store(now.UnixNano())
	c.connected.Store(true)
	c.log.Info("camera connected", "codec", st.codec, "transport", c.Transport)

	waitErr := make(chan error, 1)
	go func() { waitErr <- client.Wait() }()
	// gortsplib's own read timeout counts RTCP and keep-alive replies as
	// life; a camera whose video stops is stalled for us all the same.
	tick := time.NewTicker(min(c.ReadTimeout/4, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-waitErr:
			var tcpTO liberrors.ErrClientTCPTimeout
			var udpTO liberrors.ErrClientUDPTimeout
			if errors.As(err, &tcpTO) || errors.As(err, &udpTO) {
				return &StallError{For: c.ReadTimeout}
			}
			return &ConnectError{Step: "read", Err: err}
		case <-tick.C:
			if idle := time.Since(time.Unix(0, c.lastPacket.Load())); idle > c.ReadTimeout {
				return &StallError{For: c.ReadTimeout}
			}
		}
	}
}

// source is the per-session state of the camera's RTSP source: it
// depacketizes, times and completes (parameter sets) the access units and
// writes them to the camera's stream, which hands them to the readers (the
// decoder, the ring, the sinks). Only the RTP callback touches it.
type source struct {
	c       *Camera
	client  *gortsplib.Client
	media   *description.Media
	forma   format.Format
	codec   string
	depkt   func(*rtp.Packet) ([][]byte, error)
	clock   wallClock
	scratch [][]byte
	vps     []byte
	sps     []byte
	pps     []byte
}

func (c *Camera) newSource(desc *description.Session) (*source, error) {
	// A frame is at most one batch plus scheduling delays old when it is
	// processed; beyond that the stream is behind and its clock re-anchored.
	st := &source{c: c, clock: wallClock{slack: max(c.ReadBatch, 0) + time.Second}}
	var h264 *format.H264
	var h265 *format.H265
	if m := desc.FindFormat(&h264); m != nil {
		d, err := h264.CreateDecoder()
		if err != nil {
			return nil, &ConnectError{Step: "setup", Err: err}
		}
		st.media, st.forma, st.codec, st.depkt = m, h264, decode.H264, d.Decode
		st.sps, st.pps = h264.SafeParams()
	} else if m := desc.FindFormat(&h265); m != nil {
		d, err := h265.CreateDecoder()
		if err != nil {
			return nil, &ConnectError{Step: "setup", Err: err}
		}
		st.media, st.forma, st.codec, st.depkt = m, h265, decode.H265, d.Decode
		st.vps, st.sps, st.pps = h265.SafeParams()
	} else {
		e := &UnsupportedCodecError{}
		for _, m := range desc.Medias {
			for _, f := range m.Formats {
				e.Codecs = append(e.Codecs, f.Codec())
			}
		}
		return nil, e
	}
	if c.dec != nil {
		if err := c.dec.begin(st.codec); err != nil {
			return nil, err
		}
	}
	st.sizeFromSPS()
	c.ring.updateParams(func(p *Params) {
		if p.Codec != st.codec {
			// The camera was reconfigured: old units must not end up in a
			// clip muxed with the new codec's parameters.
			c.ring.drop(len(c.ring.entries))
			*p = Params{}
		}
		p.Codec, p.VPS, p.SPS, p.PPS = st.codec, clone(st.vps), clone(st.sps), clone(st.pps)
	})
	return st, nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// onPacket runs on gortsplib's reader goroutine: depacketize, time, and
// write the access unit to the camera's stream (stream.go).
func (st *source) onPacket(pkt *rtp.Packet) {
	c := st.c
	now := time.Now()
	c.lastPacket.Store(now.UnixNano())
	c.gotPacket.Store(true)
	c.packetsIn.Add(1)
	// Every packet, not only the last of a unit: gortsplib starts a track's
	// timeline at the first packet that begins a random access point.
	pts90k, hasPTS := st.client.PacketPTS2(st.media, pkt)
	au, err := st.depkt(pkt)
	if err != nil {
		if !errors.Is(err, rtph264.ErrMorePacketsNeeded) && !errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious) &&
			!errors.Is(err, rtph265.ErrMorePacketsNeeded) && !errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious) {
			c.decodeErrors.Add(1)
		}
		return
	}
	var pts time.Duration
	at := now
	if hasPTS {
		pts = ticksToDuration(pts90k, st.forma.ClockRate())
		at = st.clock.at(pts, now)
	}
	c.framesIn.Add(1)
	key := decode.IsKeyframe(st.codec, au)
	au = st.withParams(au, key)
	c.out.write(AU{NALUs: au, PTS: pts, At: at, Key: key})
}

// ticksToDuration converts RTP clock ticks without overflowing: ticks*1e9
// alone overflows int64 after a day at 90 kHz.
func ticksToDuration(ticks int64, rate int) time.Duration {
	r := int64(rate)
	return time.Duration(ticks/r)*time.Second + time.Duration(ticks%r)*time.Second/time.Duration(r)
}

// withParams tracks in-band parameter sets (for clips) and puts the known
// ones in front of key frames that lack them: some cameras send SPS/PPS only
// in the SDP, and a decoder or muxer joining at that key frame needs them.
func (st *source) withParams(au [][]byte, key bool) [][]byte {
	hasSPS, changed := false, false
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		var p *[]byte
		if st.codec == decode.H264 {
			switch n[0] & 0x1f {
			case 7:
				p, hasSPS = &st.sps, true
			case 8:
				p = &st.pps
			}
		} else {
			switch (n[0] >> 1) & 0x3f {
			case 32:
				p = &st.vps
			case 33:
				p, hasSPS = &st.sps, true
			case 34:
				p = &st.pps
			}
		}
		if p != nil && string(*p) != string(n) {
			*p, changed = clone(n), true
		}
	}
	if changed {
		st.c.ring.updateParams(func(p *Params) { p.VPS, p.SPS, p.PPS = st.vps, st.sps, st.pps })
		st.sizeFromSPS()
	}
	if !key || hasSPS || st.sps == nil {
		return au
	}
	st.scratch = st.scratch[:0]
	for _, p := range [][]byte{st.vps, st.sps, st.pps} {
		if p != nil {
			st.scratch = append(st.scratch, p)
		}
	}
	st.scratch = append(st.scratch, au...)
	return st.scratch
}
