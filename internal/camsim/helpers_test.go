package camsim

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"

	"github.com/lanewatch/lanewatch/internal/avfile"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

func mediaFile(t testing.TB, name string) string {
	return filepath.Join(testenv.RepoRoot(t), "media", name)
}

// ffmpeg makes test inputs from the shipped clips; tests skip without it.
func ffmpeg(t testing.TB, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg CLI not installed")
	}
	full := append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)
	if out, err := exec.Command("ffmpeg", full...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// shortClip is the first 2 s of the campus clip (20 frames at 10 fps, one
// key frame) in dir, re-encoded with a key frame every gop frames.
func shortClip(t testing.TB, dir string, gop int) string {
	p := filepath.Join(dir, "short.mp4")
	ffmpeg(t, "-i", mediaFile(t, "campus-walk-10s.mp4"), "-t", "2", "-c:v", "libx264", "-preset", "ultrafast",
		"-g", strconv.Itoa(gop), "-keyint_min", strconv.Itoa(gop), "-sc_threshold", "0", "-bf", "0", p)
	return p
}

// startServer starts a Server on a free loopback port, closed at cleanup.
func startServer(t testing.TB, streams map[string]string) *Server {
	t.Helper()
	s := &Server{Listen: "127.0.0.1:0", Streams: streams}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// received is one access unit as a reader saw it.
type received struct {
	at    time.Time
	rtpTS uint32
	nalus [][]byte
}

// reader is a gortsplib client collecting access units.
type reader struct {
	c     *gortsplib.Client
	codec string
	forma format.Format
	// sdpParams: DESCRIBE carried the parameter sets (sprop-*).
	sdpParams bool

	mu  sync.Mutex
	aus []received
}

type rtpDecoder interface {
	Decode(*rtp.Packet) ([][]byte, error)
}

// dial connects, plays and collects AUs until Close.
func dial(t testing.TB, url string, tr gortsplib.Transport) (*reader, error) {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		return nil, err
	}
	r := &reader{c: &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &tr}}
	if err := r.c.Start2(); err != nil {
		return nil, err
	}
	desc, _, err := r.c.Describe(u)
	if err != nil {
		r.c.Close()
		return nil, err
	}
	var dec rtpDecoder
	var medi *description.Media
	var h264 *format.H264
	var h265 *format.H265
	if medi = desc.FindFormat(&h264); medi != nil {
		r.codec, r.forma = avfile.CodecH264, h264
		r.sdpParams = len(h264.SPS) > 0 && len(h264.PPS) > 0
		dec, err = h264.CreateDecoder()
	} else if medi = desc.FindFormat(&h265); medi != nil {
		r.codec, r.forma = avfile.CodecH265, h265
		r.sdpParams = len(h265.VPS) > 0 && len(h265.SPS) > 0 && len(h265.PPS) > 0
		dec, err = h265.CreateDecoder()
	} else {
		r.c.Close()
		return nil, errors.New("no H.264/H.265 media in SDP")
	}
	if err != nil {
		r.c.Close()
		return nil, err
	}
	if _, err := r.c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		r.c.Close()
		return nil, err
	}
	r.c.OnPacketRTP(medi, r.forma, func(pkt *rtp.Packet) {
		au, err := dec.Decode(pkt)
		if err != nil {
			return // more packets needed, or joined mid-AU
		}
		r.mu.Lock()
		r.aus = append(r.aus, received{at: time.Now(), rtpTS: pkt.Timestamp, nalus: au})
		r.mu.Unlock()
	})
	if _, err := r.c.Play(nil); err != nil {
		r.c.Close()
		return nil, err
	}
	t.Cleanup(r.c.Close)
	return r, nil
}

func (r *reader) snapshot() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.aus...)
}

// waitFor polls until n AUs arrived or the timeout passed.
func (r *reader) waitFor(n int, timeout time.Duration) []received {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if aus := r.snapshot(); len(aus) >= n {
			return aus
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r.snapshot()
}

func isKey(codec string, nalus [][]byte) bool {
	for _, n := range nalus {
		t := avfile.NALUType(codec, n)
		if codec == avfile.CodecH264 && t == 5 || codec == avfile.CodecH265 && t >= 16 && t <= 21 {
			return true
		}
	}
	return false
}
