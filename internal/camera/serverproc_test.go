package camera_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/camera/camtest"
)

// The load figures must not include the simulated cameras' own CPU, so for
// benchmarks and the soak test the RTSP server runs in a child process: this
// test binary re-executed with TestHelperCamServer selected.
const helperEnv = "LANEWATCH_CAMSERVER_HELPER"

// TestHelperCamServer is the child: it serves LANEWATCH_CAMSERVER_CLIP on
// paths cam0..camN-1, prints "ADDR host:port", answers "count" on stdin
// with the access units sent per path ("stall" first stops sending, "go"
// resumes it), and exits when stdin closes.
func TestHelperCamServer(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process for benchmarks and the soak test")
	}
	n, _ := strconv.Atoi(os.Getenv("LANEWATCH_CAMSERVER_PATHS"))
	fps, _ := strconv.Atoi(os.Getenv("LANEWATCH_CAMSERVER_FPS"))
	aus := camtest.LoadAnnexB(t, os.Getenv("LANEWATCH_CAMSERVER_CLIP"), "H264")
	if fps == 0 {
		// As fast as the client reads, one path (benchmarks only).
		fs := startFloodServer(t, aus)
		fmt.Printf("ADDR %s\n", fs.ln.Addr())
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			fmt.Printf("COUNT %d\n", fs.sent.Load())
		}
		return
	}
	srv := camtest.StartServer(t)
	paths := make([]*camtest.Path, n)
	for i := range paths {
		paths[i] = srv.AddStream(fmt.Sprintf("cam%d", i), "H264", aus, fps)
	}
	fmt.Printf("ADDR %s\n", srv.Addr)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "stall":
			for _, p := range paths {
				p.Stall(true)
			}
			time.Sleep(200 * time.Millisecond) // a unit being written finishes
		case "go":
			for _, p := range paths {
				p.Stall(false)
			}
		}
		var b strings.Builder
		b.WriteString("COUNT")
		for _, p := range paths {
			fmt.Fprintf(&b, " %d", p.Sent())
		}
		fmt.Println(b.String())
	}
}

type serverProc struct {
	Addr  string
	cmd   *exec.Cmd
	in    *os.File
	lines *bufio.Scanner
}

// startServerProc starts the helper serving clip on n paths at fps.
func startServerProc(t testing.TB, clip string, n, fps int) *serverProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCamServer$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "LANEWATCH_CAMSERVER_CLIP="+clip,
		fmt.Sprintf("LANEWATCH_CAMSERVER_PATHS=%d", n), fmt.Sprintf("LANEWATCH_CAMSERVER_FPS=%d", fps))
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = inR
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	inR.Close()
	p := &serverProc{cmd: cmd, in: inW, lines: bufio.NewScanner(out)}
	t.Cleanup(func() {
		p.in.Close()
		p.cmd.Wait() //nolint:errcheck // exit status of a helper we stopped
	})
	for p.lines.Scan() {
		if a, ok := strings.CutPrefix(p.lines.Text(), "ADDR "); ok {
			p.Addr = a
			return p
		}
	}
	t.Fatalf("camera server helper did not start")
	return nil
}

func (p *serverProc) URL(i int) string { return fmt.Sprintf("rtsp://%s/cam%d", p.Addr, i) }

// Do sends a command (count, stall, go) and returns the access units sent
// so far per path.
func (p *serverProc) Do(t testing.TB, cmd string) []uint64 {
	t.Helper()
	fmt.Fprintln(p.in, cmd)
	for p.lines.Scan() {
		if rest, ok := strings.CutPrefix(p.lines.Text(), "COUNT"); ok {
			var out []uint64
			for _, f := range strings.Fields(rest) {
				v, _ := strconv.ParseUint(f, 10, 64)
				out = append(out, v)
			}
			return out
		}
	}
	t.Fatalf("camera server helper gone")
	return nil
}
