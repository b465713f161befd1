package camsim

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"

	"github.com/lanewatch/lanewatch/internal/avfile"
)

// ffprobe, a reader we did not write, must see both codecs at 640x480.
func TestFFprobeReadsStreams(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe CLI not installed")
	}
	s := startServer(t, map[string]string{
		"h264": mediaFile(t, "campus-walk-10s.mp4"),
		"h265": mediaFile(t, "campus-walk-10s-h265.mp4"),
	})
	cases := []struct{ name, codec string }{{"h264", "h264"}, {"h265", "hevc"}}
	var wg sync.WaitGroup
	for _, tc := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := exec.Command("ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-select_streams", "v:0",
				"-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", s.URL(tc.name)).CombinedOutput()
			if err != nil {
				t.Errorf("%s: ffprobe: %v\n%s", tc.name, err, out)
				return
			}
			if got, want := strings.TrimSpace(string(out)), tc.codec+",640,480"; got != want {
				t.Errorf("%s: ffprobe says %q, want %q", tc.name, got, want)
			}
		}()
	}
	wg.Wait()
}

// Two readers, one over TCP and one over UDP, watch three passes of a 2 s
// clip: every frame arrives, 100 ms apart in RTP time across the loop
// boundaries, a key frame opens each pass, and the wall clock does not drift.
func TestLoopsContinuouslyToTCPAndUDPReaders(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h265 := filepath.Join(dir, "short-h265.mp4")
	ffmpeg(t, "-i", mediaFile(t, "campus-walk-10s-h265.mp4"), "-t", "2", "-c", "copy", h265)
	clips := map[string]string{
		"h264": shortClip(t, dir, 1000), // one key frame per pass
		"h265": h265,
	}
	s := startServer(t, clips)
	for name := range clips {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			checkLoops(t, s, name)
		})
	}
}

func checkLoops(t *testing.T, s *Server, name string) {
	const perLoop = 20
	const tick = 9000 // 100 ms at 90 kHz

	transports := []gortsplib.Transport{gortsplib.TransportTCP, gortsplib.TransportUDP}
	readers := make([]*reader, len(transports))
	for i, tr := range transports {
		r, err := dial(t, s.URL(name), tr)
		if err != nil {
			t.Fatalf("%v: %v", tr, err)
		}
		readers[i] = r
	}
	for i, r := range readers {
		// Three passes from the reader's first AU, less a little for jitter.
		first := r.waitFor(1, 3*time.Second)
		if len(first) == 0 {
			t.Fatalf("%v: nothing received", transports[i])
		}
		time.Sleep(time.Until(first[0].at.Add(3*2*time.Second - 50*time.Millisecond)))
		aus := r.snapshot()
		if n := len(aus); n < 3*perLoop-1 || n > 3*perLoop+1 {
			t.Errorf("%v: %d AUs in three passes, want %d±1", transports[i], n, 3*perLoop)
		}
		keys := 0
		var lastKey uint32
		for j, au := range aus {
			if j > 0 {
				if d := int32(au.rtpTS - aus[j-1].rtpTS); d != tick {
					t.Fatalf("%v: AU %d: RTP timestamp step %d, want %d", transports[i], j, d, tick)
				}
			}
			if isKey(r.codec, au.nalus) {
				if keys > 0 && int32(au.rtpTS-lastKey) != perLoop*tick {
					t.Errorf("%v: key frames %d ticks apart, want one per pass", transports[i], int32(au.rtpTS-lastKey))
				}
				keys++
				lastKey = au.rtpTS
			}
		}
		if keys < 2 {
			t.Errorf("%v: %d key frames in three passes", transports[i], keys)
		}
		// Wall clock: AU n arrives n×100 ms after the first, give or take jitter.
		last := aus[len(aus)-1]
		want := time.Duration(int32(last.rtpTS-aus[0].rtpTS)) * time.Second / 90000
		if got := last.at.Sub(aus[0].at); got < want-150*time.Millisecond || got > want+150*time.Millisecond {
			t.Errorf("%v: %v of media took %v of wall time", transports[i], want, got)
		}
	}
	st, _ := s.Stats(name)
	if st.Loops < 3 || st.AUsSent < 3*perLoop {
		t.Errorf("stats %+v after three passes", st)
	}
}

// Every container avfile reads serves, with the right codec in the SDP.
func TestServesEveryContainer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := shortClip(t, dir, 5)
	h265 := mediaFile(t, "campus-walk-10s-h265.mp4")
	mk := func(name string, args ...string) string {
		p := filepath.Join(dir, name)
		ffmpeg(t, append(args, p)...)
		return p
	}
	files := map[string]string{
		"mkv":      mk("c.mkv", "-i", src, "-c", "copy"),
		"ts":       mk("c.ts", "-i", src, "-c", "copy"),
		"annexb":   mk("c.h264", "-i", src, "-c", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "h264"),
		"ts-h265":  mk("d.ts", "-i", h265, "-t", "1", "-c", "copy"),
		"raw-h265": mk("d.hevc", "-i", h265, "-t", "1", "-c", "copy", "-bsf:v", "hevc_mp4toannexb", "-f", "hevc"),
	}
	want := map[string]string{"mkv": avfile.CodecH264, "ts": avfile.CodecH264, "annexb": avfile.CodecH264,
		"ts-h265": avfile.CodecH265, "raw-h265": avfile.CodecH265}
	s := startServer(t, files)
	for name := range files {
		t.Run(name, func(t *testing.T) {
			r, err := dial(t, s.URL(name), gortsplib.TransportTCP)
			if err != nil {
				t.Fatal(err)
			}
			if r.codec != want[name] {
				t.Errorf("codec %s, want %s", r.codec, want[name])
			}
			if !r.sdpParams {
				t.Error("DESCRIBE did not carry the parameter sets")
			}
			if aus := r.waitFor(3, 5*time.Second); len(aus) < 3 {
				t.Errorf("received %d AUs", len(aus))
			}
		})
	}
}

func TestStartRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	mpeg4 := filepath.Join(dir, "part2.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc=size=160x120:rate=5", "-t", "1", "-c:v", "mpeg4", mpeg4)
	good := mediaFile(t, "campus-walk-10s.mp4")
	cases := []struct {
		name    string
		streams map[string]string
		want    error
	}{
		{"missing file", map[string]string{"a": good, "b": filepath.Join(dir, "none.mp4")}, avfile.ErrNotFound},
		{"mpeg-4 part 2", map[string]string{"a": mpeg4}, avfile.ErrUnsupportedCodec},
		{"bad name", map[string]string{"a/b": good}, ErrBadName},
		{"no streams", nil, ErrNoStreams},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{Listen: "127.0.0.1:0", Streams: tc.streams}
			err := s.Start(context.Background())
			if err == nil {
				s.Close()
				t.Fatal("Start succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if s.Addr() != "" {
				t.Errorf("listening at %s after a failed Start", s.Addr())
			}
		})
	}
}

// The controls camera-client tests rely on: restart on the same address,
// taking one stream off the air, and stalling it.
func TestStopRestartPause(t *testing.T) {
	t.Parallel()
	clip := shortClip(t, t.TempDir(), 2) // key frame every 200 ms
	s := startServer(t, map[string]string{"cam": clip})
	url := s.URL("cam")
	addr := s.Addr()

	r, err := dial(t, url, gortsplib.TransportTCP)
	if err != nil {
		t.Fatal(err)
	}
	if aus := r.waitFor(2, 3*time.Second); len(aus) < 2 {
		t.Fatal("no frames before pause")
	}

	// Pause: the session stays, packets stop; Resume restarts on a key frame.
	if err := s.Pause("cam"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond) // let an AU in flight land
	n := len(r.snapshot())
	time.Sleep(500 * time.Millisecond)
	if got := len(r.snapshot()); got != n {
		t.Errorf("%d AUs arrived while paused", got-n)
	}
	if st, _ := s.Stats("cam"); !st.Paused || !st.Running {
		t.Errorf("stats while paused: %+v", st)
	}
	if err := s.Resume("cam"); err != nil {
		t.Fatal(err)
	}
	aus := r.waitFor(n+1, 3*time.Second)
	if len(aus) <= n {
		t.Fatal("nothing after Resume")
	}
	if !isKey(r.codec, aus[n].nalus) {
		t.Error("first AU after Resume is not a key frame")
	}
	if gap := time.Duration(int32(aus[n].rtpTS-aus[n-1].rtpTS)) * time.Second / 90000; gap < 500*time.Millisecond {
		t.Errorf("RTP time advanced %v over a 650 ms stall; a stalled camera's clock runs on", gap)
	}

	// StopStream: DESCRIBE fails; StartStream: it serves again.
	if err := s.StopStream("cam"); err != nil {
		t.Fatal(err)
	}
	if _, err := dial(t, url, gortsplib.TransportTCP); err == nil {
		t.Error("DESCRIBE of a stopped stream succeeded")
	}
	if err := s.StartStream("cam"); err != nil {
		t.Fatal(err)
	}
	if r, err := dial(t, url, gortsplib.TransportTCP); err != nil {
		t.Errorf("after StartStream: %v", err)
	} else if len(r.waitFor(1, 3*time.Second)) == 0 {
		t.Error("no frames after StartStream")
	}
	if err := s.StopStream("nope"); !errors.Is(err, ErrUnknownStream) {
		t.Errorf("StopStream of unknown stream: %v", err)
	}

	// Close: the connection drops; Start again: same address, same URL.
	s.Close()
	if _, err := dial(t, url, gortsplib.TransportTCP); err == nil {
		t.Error("dial succeeded after Close")
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.Addr() != addr || s.URL("cam") != url {
		t.Errorf("restarted at %s, was %s", s.Addr(), addr)
	}
	if r, err := dial(t, url, gortsplib.TransportUDP); err != nil {
		t.Errorf("after restart: %v", err)
	} else if len(r.waitFor(1, 3*time.Second)) == 0 {
		t.Error("no frames after restart")
	}
}

// Cancelling Start's context stops the server.
func TestContextStopsServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{Listen: "127.0.0.1:0", Streams: map[string]string{"cam": mediaFile(t, "campus-walk-10s.mp4")}, UDPRTPPort: -1}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.UDPPort() != 0 {
		t.Errorf("UDP on port %d though disabled", s.UDPPort())
	}
	cancel()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if st, _ := s.Stats("cam"); !st.Running {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("still running after the context ended")
}
