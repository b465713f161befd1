package camtest

import (
	"fmt"
	"math/rand"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/lanewatch/lanewatch/internal/testenv"
)

// Server is an in-process RTSP camera on loopback. Each path streams access
// units in a loop at a frame rate and can be told to misbehave: stall, send
// garbage, switch resolution. Close kills it as a crashed camera would;
// StartServerAt on the same address brings it back.
type Server struct {
	Addr string
	// User and Pass, when set, are required from readers (digest/basic).
	User, Pass string

	srv   *gortsplib.Server
	mu    sync.Mutex
	paths map[string]*Path
	wg    sync.WaitGroup
	done  chan struct{}
	once  sync.Once
}

// StartServer starts a server on a free loopback port, closed at test end.
func StartServer(t testing.TB) *Server {
	t.Helper()
	var last error
	for i := 0; i < 5; i++ {
		s, err := Listen(testenv.FreeAddr(t), "", "")
		if err == nil {
			t.Cleanup(s.Close)
			return s
		}
		last = err
	}
	t.Fatalf("camtest: start server: %v", last)
	return nil
}

// StartServerAt starts a server on addr (a restart after Close), retrying
// briefly while the old socket is released.
func StartServerAt(t testing.TB, addr, user, pass string) *Server {
	t.Helper()
	var last error
	for i := 0; i < 50; i++ {
		s, err := Listen(addr, user, pass)
		if err == nil {
			t.Cleanup(s.Close)
			return s
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("camtest: start server at %s: %v", addr, last)
	return nil
}

// Listen starts a server on addr without a testing.TB (benchmarks, tools).
func Listen(addr, user, pass string) (*Server, error) {
	s := &Server{Addr: addr, User: user, Pass: pass, paths: map[string]*Path{}, done: make(chan struct{})}
	s.srv = &gortsplib.Server{
		Handler:        (*handler)(s),
		RTSPAddress:    addr,
		WriteQueueSize: 4096,
	}
	if err := s.srv.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// ListenUDP is Listen with UDP transport enabled (two more free ports).
func ListenUDP(addr string) (*Server, error) {
	s := &Server{Addr: addr, paths: map[string]*Path{}, done: make(chan struct{})}
	rtpAddr, rtcpAddr, err := udpPair()
	if err != nil {
		return nil, err
	}
	s.srv = &gortsplib.Server{
		Handler:        (*handler)(s),
		RTSPAddress:    addr,
		UDPRTPAddress:  rtpAddr,
		UDPRTCPAddress: rtcpAddr,
		WriteQueueSize: 4096,
	}
	if err := s.srv.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// udpPair finds an even/odd pair of free UDP ports, as RTP/RTCP require.
func udpPair() (string, string, error) {
	for i := 0; i < 50; i++ {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return "", "", err
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if port%2 != 0 || port > 65000 {
			continue
		}
		c2, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port+1))
		if err != nil {
			continue
		}
		c2.Close()
		return fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", port+1), nil
	}
	return "", "", fmt.Errorf("camtest: no free UDP port pair")
}

// URL of a path, with credentials when the server requires them.
func (s *Server) URL(name string) string {
	if s.User != "" {
		return fmt.Sprintf("rtsp://%s:%s@%s/%s", s.User, s.Pass, s.Addr, name)
	}
	return fmt.Sprintf("rtsp://%s/%s", s.Addr, name)
}

// Close kills the server and every connection, like a camera losing power.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.done)
		s.srv.Close()
		s.wg.Wait()
		s.mu.Lock()
		for _, p := range s.paths {
			p.stream.Close()
		}
		s.mu.Unlock()
	})
}

// Path is one stream of the server.
type Path struct {
	Name   string
	codec  string
	stream *gortsplib.ServerStream
	media  *description.Media
	fps    int
	stall  atomic.Bool
	garb   atomic.Bool
	loss   atomic.Int64
	pkts   uint64 // RTP packets encoded; only the feeder touches it
	next   atomic.Pointer[[]AU]
	sent   atomic.Uint64
}

// AddStream serves aus (codec H264 or H265) at fps in a loop at /name.
func (s *Server) AddStream(name, codec string, aus []AU, fps int) *Path {
	var forma format.Format
	if codec == "H265" {
		forma = &format.H265{PayloadTyp: 96}
	} else {
		forma = &format.H264{PayloadTyp: 96, PacketizationMode: 1}
	}
	medi := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}
	p := s.add(name, codec, medi)
	p.fps = fps
	p.next.Store(&aus)
	s.wg.Add(1)
	go s.feed(p, forma)
	return p
}

// AddMedia serves a description without sending anything: for codecs a
// client must refuse (MJPEG, audio only).
func (s *Server) AddMedia(name string, medias ...*description.Media) *Path {
	p := s.add(name, "", medias[0])
	p.stream.Close()
	p.stream = &gortsplib.ServerStream{Server: s.srv, Desc: &description.Session{Medias: medias}}
	if err := p.stream.Initialize(); err != nil {
		panic(err)
	}
	return p
}

func (s *Server) add(name, codec string, medi *description.Media) *Path {
	p := &Path{Name: name, codec: codec, media: medi}
	p.stream = &gortsplib.ServerStream{Server: s.srv, Desc: &description.Session{Medias: []*description.Media{medi}}}
	if err := p.stream.Initialize(); err != nil {
		panic(err)
	}
	s.mu.Lock()
	s.paths[name] = p
	s.mu.Unlock()
	return p
}

// Stall keeps connections open but stops sending packets.
func (p *Path) Stall(on bool) { p.stall.Store(on) }

// Garbage makes every other access unit noise (valid NAL header, random
// body) and adds RTP packets with random payloads.
func (p *Path) Garbage(on bool) { p.garb.Store(on) }

// Loss drops every nth RTP packet (0: none) after it got its sequence
// number, as a lossy network would: the client sees the gap.
func (p *Path) Loss(every int) { p.loss.Store(int64(every)) }

// Switch replaces the footage at the next access unit, e.g. to change the
// resolution mid-stream.
func (p *Path) Switch(aus []AU) { p.next.Store(&aus) }

// Sent is the number of access units written so far.
func (p *Path) Sent() uint64 { return p.sent.Load() }

type rtpEncoder interface {
	Encode([][]byte) ([]*rtp.Packet, error)
}

// feeder writes one path's access units; only its goroutine touches it.
type feeder struct {
	p   *Path
	enc rtpEncoder
	rng *rand.Rand
	aus []AU
	i   int
}

func (s *Server) feed(p *Path, forma format.Format) {
	defer s.wg.Done()
	f := &feeder{p: p, rng: rand.New(rand.NewSource(int64(len(p.Name))))}
	var err error
	switch fo := forma.(type) {
	case *format.H264:
		f.enc, err = fo.CreateEncoder()
	case *format.H265:
		f.enc, err = fo.CreateEncoder()
	}
	if err != nil {
		panic(err)
	}
	period := time.Second / time.Duration(p.fps)
	tick := time.NewTicker(period)
	defer tick.Stop()
	// Pace by the clock, not by ticks: on a loaded machine ticks are dropped,
	// and a camera does not slow down because its viewer is busy.
	start := time.Now()
	var n uint32
	for {
		select {
		case <-s.done:
			return
		case <-tick.C:
		}
		for due := uint32(time.Since(start) / period); n < due; n++ {
			f.send(n + 1)
		}
	}
}

// send writes access unit number n (1-based, also its RTP timestamp slot).
func (f *feeder) send(n uint32) {
	p := f.p
	if q := p.next.Swap(nil); q != nil {
		f.aus, f.i = *q, 0
	}
	if p.stall.Load() || len(f.aus) == 0 {
		return
	}
	au := f.aus[f.i%len(f.aus)].NALUs
	f.i++
	if p.garb.Load() && n%2 == 0 {
		au = noise(f.rng, au)
	}
	pkts, err := f.enc.Encode(au)
	if err != nil {
		return
	}
	ts := n * uint32(90000/p.fps)
	loss := uint64(p.loss.Load())
	for _, pkt := range pkts {
		pkt.Timestamp = ts
		p.pkts++
		if loss > 0 && p.pkts%loss == 0 {
			continue
		}
		p.stream.WritePacketRTP(p.media, pkt) //nolint:errcheck // readers come and go
	}
	if p.garb.Load() {
		junk := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: pkts[len(pkts)-1].SequenceNumber, Timestamp: ts}}
		junk.Payload = make([]byte, 200)
		f.rng.Read(junk.Payload)
		p.stream.WritePacketRTP(p.media, junk) //nolint:errcheck
	}
	p.sent.Add(1)
}

func noise(rng *rand.Rand, au [][]byte) [][]byte {
	out := make([][]byte, len(au))
	for j, nalu := range au {
		c := append([]byte(nil), nalu...)
		for k := 2; k < len(c); k++ {
			c[k] = byte(rng.Intn(256))
		}
		out[j] = c
	}
	return out
}

type handler Server

func (h *handler) path(p string) *Path {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.paths[strings.Trim(p, "/")]
}

// lookup answers DESCRIBE and SETUP alike: credentials first, then the path.
func (h *handler) lookup(conn *gortsplib.ServerConn, req *base.Request, path string) (*base.Response, *gortsplib.ServerStream, error) {
	if h.User != "" && !conn.VerifyCredentials(req, h.User, h.Pass) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	p := h.path(path)
	if p == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, p.stream, nil
}

func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return h.lookup(ctx.Conn, ctx.Request, ctx.Path)
}

func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return h.lookup(ctx.Conn, ctx.Request, ctx.Path)
}

func (h *handler) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}
