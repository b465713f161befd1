package camera_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"

	"github.com/lanewatch/lanewatch/internal/camera/camtest"
)

// floodServer is a minimal RTSP server for the throughput benchmark: one
// H.264 path sent over TCP as fast as the client reads it, with blocking
// writes. gortsplib's server queues packets per reader and drops what does
// not fit, which is right for live cameras but would lose frames here;
// this one lets TCP's flow control pace it, so the client is never idle
// and its CPU per frame has no wake-up costs in it.
type floodServer struct {
	ln   net.Listener
	aus  []camtest.AU
	sent atomic.Uint64
}

func startFloodServer(t testing.TB, aus []camtest.AU) *floodServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &floodServer{ln: ln, aus: aus}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *floodServer) sdp() []byte {
	var sps, pps []byte
	for _, n := range s.aus[0].NALUs {
		switch n[0] & 0x1f {
		case 7:
			sps = n
		case 8:
			pps = n
		}
	}
	d := &description.Session{Medias: []*description.Media{{
		Type: description.MediaTypeVideo, Control: "trackID=0",
		Formats: []format.Format{&format.H264{PayloadTyp: 96, SPS: sps, PPS: pps, PacketizationMode: 1}},
	}}}
	b, err := d.Marshal(false)
	if err != nil {
		panic(err)
	}
	return b
}

func (s *floodServer) serve(c net.Conn) {
	defer c.Close()
	r := textproto.NewReader(bufio.NewReader(c))
	for {
		line, err := r.ReadLine()
		if err != nil {
			return
		}
		hdr, err := r.ReadMIMEHeader()
		if err != nil {
			return
		}
		method, url, _ := strings.Cut(line, " ")
		url, _, _ = strings.Cut(url, " ")
		resp := fmt.Sprintf("RTSP/1.0 200 OK\r\nCSeq: %s\r\n", hdr.Get("CSeq"))
		var body []byte
		switch method {
		case "OPTIONS":
			resp += "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n"
		case "DESCRIBE":
			body = s.sdp()
			resp += "Content-Type: application/sdp\r\nContent-Base: " + url + "/\r\n"
		case "SETUP":
			resp += "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 12345678;timeout=60\r\n"
		case "PLAY":
			resp += "Session: 12345678\r\n"
		}
		resp += fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body))
		if _, err := c.Write(append([]byte(resp), body...)); err != nil {
			return
		}
		if method == "PLAY" {
			// From here the client only sends RTCP and keep-alives: drain them.
			go io.Copy(io.Discard, r.R) //nolint:errcheck
			s.flood(c)
			return
		}
	}
}

func (s *floodServer) flood(c net.Conn) {
	enc := &rtph264.Encoder{PayloadType: 96, PacketizationMode: 1}
	if err := enc.Init(); err != nil {
		panic(err)
	}
	w := bufio.NewWriterSize(c, 64<<10)
	buf := make([]byte, 0, 2048)
	for n := uint32(0); ; n++ {
		pkts, err := enc.Encode(s.aus[int(n)%len(s.aus)].NALUs)
		if err != nil {
			panic(err)
		}
		for _, p := range pkts {
			p.Timestamp = n * 3600 // 25 fps on the 90 kHz clock
			b, err := p.MarshalTo(buf[:cap(buf)])
			if err != nil {
				panic(err)
			}
			var h [4]byte
			h[0] = '$'
			binary.BigEndian.PutUint16(h[2:], uint16(b))
			w.Write(h[:])    //nolint:errcheck // the flush below reports it
			w.Write(buf[:b]) //nolint:errcheck
		}
		if err := w.Flush(); err != nil {
			return
		}
		s.sent.Add(1)
	}
}
