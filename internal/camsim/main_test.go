package camsim

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"

	"github.com/lanewatch/lanewatch/internal/testenv"
)

type syncBuffer = testenv.SyncBuffer

func TestRunExitCodes(t *testing.T) {
	good := mediaFile(t, "campus-walk-10s.mp4")
	missing := filepath.Join(t.TempDir(), "gone.mp4")
	cases := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"no streams", []string{"--listen", "127.0.0.1:0"}, 2, "usage"},
		{"not NAME=FILE", []string{"cam"}, 2, "not NAME=FILE"},
		{"duplicate name", []string{"cam=" + good, "cam=" + good}, 2, "given twice"},
		{"unknown flag", []string{"--bogus", "cam=" + good}, 2, "bogus"},
		{"missing file", []string{"--listen", "127.0.0.1:0", "cam=" + missing}, 1, "gone.mp4: file not found"},
		{"bad address", []string{"--listen", "nohost", "cam=" + good}, 1, "nohost"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out syncBuffer
			if code := run(context.Background(), tc.args, &out); code != tc.code {
				t.Errorf("exit %d, want %d; output:\n%s", code, tc.code, out.String())
			}
			if !strings.Contains(out.String(), tc.says) {
				t.Errorf("output does not say %q:\n%s", tc.says, out.String())
			}
		})
	}
}

// A good command line serves until its context ends, then exits 0.
func TestRunServesUntilCancelled(t *testing.T) {
	addr := testenv.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"--udp-port", "-1", "cam=" + mediaFile(t, "campus-walk-10s.mp4"), "--listen", addr}, &out)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not listening at %s: %v\n%s", addr, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := dial(t, "rtsp://"+addr+"/cam", gortsplib.TransportTCP); err != nil {
		t.Errorf("reading the stream: %v", err)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after cancel", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if !strings.Contains(out.String(), "rtsp://"+addr+"/cam") {
		t.Errorf("URL not logged:\n%s", out.String())
	}
}
