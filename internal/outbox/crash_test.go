package outbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestHelperProcess is not a test: the crash tests run the test binary again
// with LW_OUTBOX_HELPER set, as a real process that can be killed with SIGKILL.
//
//	enqueue: enqueue LW_OUTBOX_N tickets (50 incidents, versions 1..), printing
//	         "ok KEY" once Enqueue returned nil and "full KEY" on ErrFull, then
//	         "done", and keep delivering until killed.
//	drain:   deliver until nothing is pending, print "drained", exit 0.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("LW_OUTBOX_HELPER")
	if mode == "" {
		t.Skip("helper process for the crash tests")
	}
	maxBytes, _ := strconv.ParseInt(os.Getenv("LW_OUTBOX_MAX"), 10, 64)
	cfg := testConfig(os.Getenv("LW_OUTBOX_DB"), os.Getenv("LW_OUTBOX_URL"))
	cfg.MaxBytes = maxBytes
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg.OnFull = func() { fmt.Println("onfull") }
	o, err := Open(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	o.Start(context.Background())
	switch mode {
	case "enqueue":
		n, _ := strconv.Atoi(os.Getenv("LW_OUTBOX_N"))
		for i := 0; i < n; i++ {
			in := inc(fmt.Sprintf("inc_%03d", i%50), i/50+1)
			key := KeyString(in.ID, in.Version)
			switch err := o.Enqueue(in, bytes.Repeat([]byte{0xd8}, 300)); {
			case err == nil:
				fmt.Println("ok", key)
			case errors.Is(err, ErrFull):
				fmt.Println("full", key)
			default:
				fmt.Println("error", key, err)
			}
		}
		fmt.Println("done")
		select {}
	case "drain":
		for o.Stats().Pending > 0 {
			time.Sleep(10 * time.Millisecond)
		}
		o.Close()
		fmt.Println("drained")
		os.Exit(0)
	}
}

type helperRun struct {
	cmd   *exec.Cmd
	lines chan string
}

func startHelper(t *testing.T, mode, db, url string, n int, maxBytes int64) *helperRun {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "LW_OUTBOX_HELPER="+mode, "LW_OUTBOX_DB="+db, "LW_OUTBOX_URL="+url,
		"LW_OUTBOX_N="+strconv.Itoa(n), "LW_OUTBOX_MAX="+strconv.FormatInt(maxBytes, 10))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helperRun{cmd: cmd, lines: make(chan string, 4096)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return h
}

// readUntil collects lines until stop returns true or the helper's output ends.
func (h *helperRun) readUntil(t *testing.T, timeout time.Duration, stop func(line string) bool) []string {
	t.Helper()
	var got []string
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-h.lines:
			if !ok {
				return got
			}
			got = append(got, l)
			if stop(l) {
				return got
			}
		case <-deadline:
			t.Fatalf("helper: timed out after %d lines", len(got))
		}
	}
}

// kill9 sends SIGKILL and returns the lines the helper printed that were not
// read yet: it keeps enqueueing while the test reads, so "ok" lines can still
// be in the pipe. They are read before Wait, which closes the pipe.
func (h *helperRun) kill9(t *testing.T) []string {
	t.Helper()
	if err := h.cmd.Process.Signal(os.Kill); err != nil { // SIGKILL
		t.Fatal(err)
	}
	var rest []string
	for l := range h.lines {
		rest = append(rest, l)
	}
	h.cmd.Wait()
	return rest
}

// checkCrashDelivery asserts that every accepted key reached the platform and
// that repeats carry the same webhook-id, Idempotency-Key and body.
func checkCrashDelivery(t *testing.T, p *platform, ok map[string]bool) {
	t.Helper()
	bodies := map[string][]byte{}
	repeats := 0
	for _, r := range p.requests() {
		if r.Key != r.IdemKey {
			t.Fatalf("webhook-id %q != Idempotency-Key %q", r.Key, r.IdemKey)
		}
		if b, seen := bodies[r.Key]; seen {
			repeats++
			if !bytes.Equal(b, r.Body) {
				t.Fatalf("%s repeated with another body", r.Key)
			}
		}
		bodies[r.Key] = r.Body
	}
	delivered := map[string]bool{}
	for _, k := range p.accepted() {
		delivered[k] = true
	}
	for k := range ok {
		if !delivered[k] {
			t.Fatalf("accepted ticket %s lost", k)
		}
	}
	t.Logf("accepted %d, delivered %d distinct, %d requests (%d repeats)", len(ok), len(delivered), len(p.requests()), repeats)
}

func TestCrashKill9MidSend(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess crash test")
	}
	p := newPlatform(t)
	var healthy atomic.Bool
	var n atomic.Int64
	p.setAnswer(func(received, int) (int, map[string]string, string) {
		if healthy.Load() {
			return 200, nil, ""
		}
		// Mostly down and slow, so attempts are in flight when the kill comes.
		time.Sleep(5 * time.Millisecond)
		if n.Add(1)%4 == 0 {
			return 200, nil, ""
		}
		return 503, nil, ""
	})
	db := filepath.Join(t.TempDir(), "outbox.db")
	h := startHelper(t, "enqueue", db, p.URL, 1000, 0)
	ok := map[string]bool{}
	h.readUntil(t, 60*time.Second, func(l string) bool {
		if k, found := strings.CutPrefix(l, "ok "); found {
			ok[k] = true
		}
		return len(ok) == 600
	})
	if len(ok) != 600 {
		t.Fatalf("helper accepted only %d before it ended", len(ok))
	}
	for _, l := range h.kill9(t) {
		if k, found := strings.CutPrefix(l, "ok "); found {
			ok[k] = true
		}
	}
	before := len(p.requests())

	healthy.Store(true)
	d := startHelper(t, "drain", db, p.URL, 0, 0)
	if lines := d.readUntil(t, 60*time.Second, func(l string) bool { return l == "drained" }); lines[len(lines)-1] != "drained" {
		t.Fatalf("drain helper: %v", lines)
	}
	d.cmd.Wait()
	if before == 0 {
		t.Fatal("no delivery attempt before the kill: the test did not crash mid-send")
	}
	checkCrashDelivery(t, p, ok)
	// Nothing invented: at most the one Enqueue in progress at the kill
	// may have committed without its "ok" line.
	extra := 0
	for _, k := range p.accepted() {
		if !ok[k] {
			extra++
			ok[k] = true
		}
	}
	if extra > 1 {
		t.Fatalf("%d delivered tickets were never accepted", extra)
	}
	checkOrder(t, p.accepted(), len(ok))
}

func TestCrashWithDiskCapReached(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess crash test")
	}
	p := newPlatform(t)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // platform unreachable: connection refused
	db := filepath.Join(t.TempDir(), "outbox.db")
	h := startHelper(t, "enqueue", db, down.URL, 1000, 150_000)
	ok, full, onFull := map[string]bool{}, 0, 0
	lines := h.readUntil(t, 60*time.Second, func(l string) bool { return l == "done" })
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "ok "):
			ok[l[3:]] = true
		case strings.HasPrefix(l, "full "):
			full++
		case l == "onfull":
			onFull++
		}
	}
	h.kill9(t)
	if full == 0 || len(ok)+full != 1000 || onFull != 1 {
		t.Fatalf("ok %d full %d onfull %d", len(ok), full, onFull)
	}
	d := startHelper(t, "drain", db, p.URL, 0, 150_000)
	d.readUntil(t, 60*time.Second, func(l string) bool { return l == "drained" })
	d.cmd.Wait()
	checkCrashDelivery(t, p, ok)
	checkOrder(t, p.accepted(), len(ok)) // and nothing refused was delivered
}
