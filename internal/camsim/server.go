// Package camsim is an RTSP camera simulator: it serves H.264/H.265 files
// (MP4, MKV, MPEG-TS, raw Annex-B) at rtsp://ADDR/NAME, looping each at its
// own frame rate with continuous timestamps, over TCP and UDP, to any number
// of readers. Tests can stop, restart and stall streams to exercise camera
// clients' reconnect and timeout paths.
package camsim

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"

	"github.com/lanewatch/lanewatch/internal/avfile"
)

// Errors callers branch on.
var (
	ErrUnknownStream = errors.New("camsim: unknown stream")
	ErrRunning       = errors.New("camsim: server already running")
	ErrNotRunning    = errors.New("camsim: server not running")
	ErrBadName       = errors.New("camsim: bad stream name")
	ErrNoStreams     = errors.New("camsim: no streams configured")
)

// maxLag is how far the pacer may fall behind the wall clock (a suspended
// process, a starved CPU) before it gives up catching up: beyond it, it
// shifts its wall-clock reference instead of bursting frames at readers.
const maxLag = time.Second

// rtpClockRate is the RTP clock of H.264 and H.265 (RFC 6184, RFC 7798).
const rtpClockRate = 90000

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Server serves Streams over RTSP. Set the fields, then Start; Close stops
// it, and Start may be called again (same address, same UDP ports).
type Server struct {
	// Listen is the RTSP (TCP) address, e.g. "127.0.0.1:8554"; port 0 picks one.
	Listen string
	// Streams maps a stream name (the URL path) to a media file.
	Streams map[string]string
	// Logger; nil: slog.Default().
	Logger *slog.Logger
	// FrameRate for raw Annex-B files (0: the SPS's timing, else 25 fps).
	FrameRate float64
	// UDPRTPPort is the even UDP port for RTP, RTCP using the next one.
	// 0 picks a free pair on Listen's host; -1 serves TCP only.
	UDPRTPPort int

	mu      sync.RWMutex
	srv     *gortsplib.Server
	addr    string // bound RTSP address, kept for restarts
	udpPort int    // bound RTP port, kept for restarts
	streams map[string]*stream
	clips   map[string]*clip // loaded once, kept across restarts
	stopCtx chan struct{}    // closed by Close: ends the ctx watcher
}

// stream is one served file. It lives as long as the Server; the RTSP
// stream and the pacing goroutine are replaced on every (re)start.
type stream struct {
	name string
	clip *clip

	paused  atomic.Bool
	ausSent atomic.Uint64
	loops   atomic.Uint64

	// guarded by Server.mu
	ss     *gortsplib.ServerStream
	cancel context.CancelFunc
	done   chan struct{}
}

// StreamStats are a stream's counters since the Server was first started.
type StreamStats struct {
	AUsSent uint64 // access units written to the RTSP stream
	Loops   uint64 // completed passes over the file
	Running bool   // served (not stopped with StopStream or Close)
	Paused  bool
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Start loads every file (an error names the first that cannot be served),
// then listens and starts pacing every stream. The server stops when ctx
// ends or on Close.
func (s *Server) Start(ctx context.Context) error {
	var failed *gortsplib.Server
	defer func() {
		if failed != nil {
			failed.Close() // after the unlock below: it waits for handlers
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return ErrRunning
	}
	if len(s.Streams) == 0 {
		return ErrNoStreams
	}
	if s.clips == nil {
		s.clips = map[string]*clip{}
		s.streams = map[string]*stream{}
	}
	for _, name := range sortedNames(s.Streams) {
		if !nameRE.MatchString(name) {
			return fmt.Errorf("%w %q: want letters, digits, '.', '_' or '-'", ErrBadName, name)
		}
		path := s.Streams[name]
		c, ok := s.clips[path]
		if !ok {
			var err error
			if c, err = loadClip(path, avfile.Options{FrameRate: s.FrameRate}); err != nil {
				return fmt.Errorf("stream %q: %w", name, err)
			}
			if c.skipped > 0 {
				s.logger().Warn("camsim: broken packets left out", "stream", name, "file", path, "count", c.skipped)
			}
			s.clips[path] = c
		}
		if st, ok := s.streams[name]; !ok || st.clip != c {
			s.streams[name] = &stream{name: name, clip: c}
		}
	}
	if err := s.listen(); err != nil {
		return err
	}
	for _, name := range sortedNames(s.Streams) {
		if err := s.startStreamLocked(s.streams[name]); err != nil {
			failed = s.closeLocked()
			return err
		}
	}
	stop := make(chan struct{})
	s.stopCtx = stop
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-stop:
		}
	}()
	for _, name := range sortedNames(s.Streams) {
		c := s.streams[name].clip
		s.logger().Info("camsim: serving", "url", s.urlLocked(name), "file", c.path, "codec", c.codec,
			"size", fmt.Sprintf("%dx%d", c.width, c.height), "fps", c.fps, "frames", len(c.aus), "loop", c.loopDur)
	}
	return nil
}

// listen starts the gortsplib server, picking a free UDP port pair unless
// one is fixed (a picked pair can be taken by another process in between,
// hence the retries).
func (s *Server) listen() error {
	listen := s.Listen
	if s.addr != "" {
		listen = s.addr
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("camsim: listen address %q: %w", listen, err)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		udpPort := s.UDPRTPPort
		if s.udpPort != 0 {
			udpPort = s.udpPort
		}
		if udpPort == 0 {
			if udpPort, err = freeUDPPair(host); err != nil {
				return err
			}
		}
		var bound net.Addr
		srv := &gortsplib.Server{
			Handler:     &handler{s: s},
			RTSPAddress: listen,
			// An access unit is written whole: a 1080p key frame at
			// 4 Mbit/s is ~260 RTP packets, beyond gortsplib's default
			// queue of 256 (mediamtx raises it for the same reason).
			WriteQueueSize: 2048,
			Listen: func(network, address string) (net.Listener, error) {
				l, err := net.Listen(network, address)
				if err == nil {
					bound = l.Addr()
				}
				return l, err
			},
		}
		if udpPort > 0 {
			srv.UDPRTPAddress = net.JoinHostPort(host, strconv.Itoa(udpPort))
			srv.UDPRTCPAddress = net.JoinHostPort(host, strconv.Itoa(udpPort+1))
		}
		if lastErr = srv.Start(); lastErr != nil {
			if s.UDPRTPPort == 0 && s.udpPort == 0 && bound == nil {
				continue // most likely the picked UDP pair was taken
			}
			return fmt.Errorf("camsim: listen on %s: %w", listen, lastErr)
		}
		s.srv = srv
		s.addr = bound.String()
		if udpPort > 0 {
			s.udpPort = udpPort
		}
		return nil
	}
	return fmt.Errorf("camsim: listen on %s: %w", listen, lastErr)
}

// freeUDPPair finds an even port whose successor is free too.
func freeUDPPair(host string) (int, error) {
	for i := 0; i < 100; i++ {
		a, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			return 0, fmt.Errorf("camsim: pick UDP ports: %w", err)
		}
		port := a.LocalAddr().(*net.UDPAddr).Port
		if port%2 != 0 || port > 65534 {
			a.Close()
			continue
		}
		b, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(port+1)))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return port, nil
	}
	return 0, errors.New("camsim: no free UDP port pair")
}

func (s *Server) startStreamLocked(st *stream) error {
	c := st.clip
	var forma format.Format
	switch c.codec {
	case avfile.CodecH265:
		forma = &format.H265{PayloadTyp: 96, VPS: c.params.VPS, SPS: c.params.SPS, PPS: c.params.PPS}
	default:
		forma = &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: c.params.SPS, PPS: c.params.PPS}
	}
	media := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}
	ss := &gortsplib.ServerStream{Server: s.srv, Desc: &description.Session{Medias: []*description.Media{media}}}
	if err := ss.Initialize(); err != nil {
		return fmt.Errorf("camsim: stream %q: %w", st.name, err)
	}
	enc, err := newEncoder(forma)
	if err != nil {
		ss.Close()
		return fmt.Errorf("camsim: stream %q: %w", st.name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st.ss, st.cancel, st.done = ss, cancel, make(chan struct{})
	go st.run(ctx, st.done, ss, media, enc, s.logger().With("stream", st.name))
	return nil
}

// encoder is what rtph264.Encoder and rtph265.Encoder have in common.
type encoder interface {
	Encode(au [][]byte) ([]*rtp.Packet, error)
}

func newEncoder(f format.Format) (encoder, error) {
	switch f := f.(type) {
	case *format.H265:
		return f.CreateEncoder()
	case *format.H264:
		return f.CreateEncoder()
	}
	return nil, fmt.Errorf("no RTP encoder for %s", f.Codec())
}

// stopStreamLocked ends pacing and closes the RTSP stream, which
// disconnects its readers. It waits for the pacer, which never takes s.mu.
func (s *Server) stopStreamLocked(st *stream) {
	if st.ss == nil {
		return
	}
	st.cancel()
	<-st.done
	st.ss.Close()
	st.ss, st.cancel, st.done = nil, nil, nil
}

// run paces one stream: AU i of pass k goes out at t0 + DTS_i + k×loop on the
// wall clock, so that timer jitter never accumulates into drift, and carries
// the RTP timestamp of PTS_i + k×loop, so that timestamps stay continuous and
// monotonic across passes.
func (st *stream) run(ctx context.Context, done chan<- struct{}, ss *gortsplib.ServerStream, media *description.Media, enc encoder, log *slog.Logger) {
	defer close(done)
	c := st.clip
	rtpBase := randUint32()
	t0 := time.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	needKey := false // after a pause: resume on a key frame, as a decoder needs
	for pass := time.Duration(0); ; pass++ {
		offset := pass * c.loopDur
		for i := range c.aus {
			au := &c.aus[i]
			due := t0.Add(offset + au.DTS)
			if wait := time.Until(due); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			} else {
				if ctx.Err() != nil {
					return
				}
				if -wait > maxLag {
					log.Debug("camsim: pacing fell behind; rebasing", "behind", -wait)
					t0 = t0.Add(-wait)
				}
			}
			if st.paused.Load() {
				needKey = true
				continue
			}
			if needKey && !au.KeyFrame {
				continue
			}
			needKey = false
			pkts, err := enc.Encode(au.NALUs)
			if err != nil {
				log.Warn("camsim: RTP packetization failed", "frame", i, "err", err)
				continue
			}
			pts := offset + au.PTS
			ts := rtpBase + uint32(rtpTicks(pts))
			ntp := t0.Add(pts)
			for _, p := range pkts {
				p.Timestamp = ts
				if err := ss.WritePacketRTPWithNTP(media, p, ntp); err != nil {
					if ctx.Err() == nil {
						log.Debug("camsim: write", "err", err)
					}
					break
				}
			}
			st.ausSent.Add(1)
		}
		st.loops.Add(1)
	}
}

// rtpTicks converts media time to 90 kHz ticks; exact for whole
// milliseconds, and free of overflow for 30 years of media time.
func rtpTicks(d time.Duration) int64 {
	return int64(d) * 9 / 100000
}

func randUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return binary.BigEndian.Uint32(b[:])
}

// Close stops every stream, disconnects all readers and closes the
// listeners. Safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	srv := s.closeLocked()
	s.mu.Unlock()
	if srv != nil {
		// Outside the lock: the server waits for handlers that take s.mu.
		srv.Close()
	}
	return nil
}

// closeLocked stops the streams and returns the server for the caller to
// close once it has released s.mu.
func (s *Server) closeLocked() *gortsplib.Server {
	if s.srv == nil {
		return nil
	}
	for _, st := range s.streams {
		s.stopStreamLocked(st)
	}
	if s.stopCtx != nil {
		close(s.stopCtx)
		s.stopCtx = nil
	}
	srv := s.srv
	s.srv = nil
	return srv
}

// Addr is the bound RTSP address (with the real port when Listen asked for 0).
func (s *Server) Addr() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.addr
}

// URL is the stream's rtsp:// URL; an unspecified listen host becomes 127.0.0.1.
func (s *Server) URL(name string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.urlLocked(name)
}

func (s *Server) urlLocked(name string) string {
	host, port, err := net.SplitHostPort(s.addr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "rtsp://" + net.JoinHostPort(host, port) + "/" + name
}

// UDPPort is the RTP port of the UDP transport (RTCP is the next one), 0 if off.
func (s *Server) UDPPort() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.udpPort
}

// Stats returns a stream's counters.
func (s *Server) Stats(name string) (StreamStats, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, ok := s.streams[name]
	if !ok {
		return StreamStats{}, false
	}
	return StreamStats{AUsSent: st.ausSent.Load(), Loops: st.loops.Load(), Running: st.ss != nil, Paused: st.paused.Load()}, true
}

// StopStream takes one stream off the air: its readers are disconnected and
// DESCRIBE answers 404 until StartStream, like a camera whose encoder died.
func (s *Server) StopStream(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.lookupLocked(name)
	if err != nil {
		return err
	}
	s.stopStreamLocked(st)
	return nil
}

// StartStream puts a stopped stream back on the air.
func (s *Server) StartStream(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.lookupLocked(name)
	if err != nil {
		return err
	}
	if st.ss != nil {
		return nil
	}
	return s.startStreamLocked(st)
}

// Pause stalls a stream: sessions stay open but no packets flow, like a
// camera that hangs. The media clock runs on, so after Resume timestamps
// jump forward by the stall, and sending resumes at the next key frame.
func (s *Server) Pause(name string) error { return s.setPaused(name, true) }

// Resume ends a Pause.
func (s *Server) Resume(name string) error { return s.setPaused(name, false) }

func (s *Server) setPaused(name string, v bool) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, ok := s.streams[name]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownStream, name)
	}
	st.paused.Store(v)
	return nil
}

func (s *Server) lookupLocked(name string) (*stream, error) {
	if s.srv == nil {
		return nil, ErrNotRunning
	}
	st, ok := s.streams[name]
	if !ok || s.Streams[name] == "" {
		return nil, fmt.Errorf("%w %q", ErrUnknownStream, name)
	}
	return st, nil
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// handler answers RTSP requests for the Server.
type handler struct{ s *Server }

// streamFor finds the live stream a request path names ("/name").
func (h *handler) streamFor(path string) (*gortsplib.ServerStream, bool) {
	h.s.mu.RLock()
	defer h.s.mu.RUnlock()
	name := path
	if len(name) > 0 && name[0] == '/' {
		name = name[1:]
	}
	st, ok := h.s.streams[name]
	if !ok || st.ss == nil || h.s.Streams[name] == "" {
		return nil, false
	}
	return st.ss, true
}

// OnDescribe answers with the stream's SDP, parameter sets included.
func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	ss, ok := h.streamFor(ctx.Path)
	if !ok {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, ss, nil
}

// OnSetup attaches the session to the stream.
func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	ss, ok := h.streamFor(ctx.Path)
	if !ok {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, ss, nil
}

// OnSessionOpen logs readers coming, for demos and for debugging clients.
func (h *handler) OnSessionOpen(ctx *gortsplib.ServerHandlerOnSessionOpenCtx) {
	h.s.logger().Debug("camsim: session opened", "remote", ctx.Conn.NetConn().RemoteAddr().String())
}

// OnSessionClose logs readers going, with the reason.
func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	h.s.logger().Debug("camsim: session closed", "path", ctx.Session.SetuppedPath(), "err", ctx.Error)
}

// OnPlay lets every set-up session play.
func (h *handler) OnPlay(_ *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// StreamInfo describes a served stream: its codec, size and frame rate.
type StreamInfo struct {
	Codec         string // avfile.CodecH264 or avfile.CodecH265
	Width, Height int
	FPS           float64
}

// Info returns a stream's codec, size and frame rate once Start has loaded it.
func (s *Server) Info(name string) (StreamInfo, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, ok := s.streams[name]
	if !ok {
		return StreamInfo{}, false
	}
	c := st.clip
	return StreamInfo{Codec: c.codec, Width: c.width, Height: c.height, FPS: c.fps}, true
}
