package console_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/console"
)

func withLimits(l config.ConsoleLimits) envOpt {
	return func(s *console.Server) { s.Limits = l }
}

// dialFrom opens a TCP connection to addr from a given loopback address
// (Linux routes all of 127.0.0.0/8 to lo), so tests can play several devices.
func dialFrom(local, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

// needLoopbackAliases skips where 127.0.0.2 cannot be dialled from (Linux
// routes all of 127/8 to lo; other systems may not), failing under CI=true.
func needLoopbackAliases(t *testing.T, addr string) {
	t.Helper()
	c, err := dialFrom("127.0.0.2", addr)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot dial from 127.0.0.2 (CI=true): %v", err)
		}
		t.Skipf("cannot dial from 127.0.0.2: %v", err)
	}
	c.Close()
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd: ", err)
	}
	return len(ents)
}

// floodEnv, when set, makes the test binary the attacker of
// TestSlowLoginFlood: it holds slow-body logins open against the address.
const floodEnv = "LANEWATCH_TEST_SLOW_FLOOD"

// TestMain lets the test binary run as the flood's attacker process, so the
// server's file descriptors are measured apart from the attacker's.
func TestMain(m *testing.M) {
	if spec := os.Getenv(floodEnv); spec != "" {
		os.Exit(slowFlood(spec))
	}
	os.Exit(m.Run())
}

// slowFlood reads "addr conns dur from1,from2,..." and keeps conns slow-body
// POST /api/login connections open (one body byte a second), re-dialling
// each one that the server closes, until dur has passed.
func slowFlood(spec string) int {
	var addr, froms string
	var conns, ms int
	if _, err := fmt.Sscan(spec, &addr, &conns, &ms, &froms); err != nil {
		fmt.Fprintln(os.Stderr, "bad spec:", err)
		return 2
	}
	sources := strings.Split(froms, ",")
	deadline := time.Now().Add(time.Duration(ms) * time.Millisecond)
	var wg sync.WaitGroup
	var dials, refused atomic.Int64
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(src string) {
			defer wg.Done()
			buf := make([]byte, 512)
			for time.Now().Before(deadline) {
				c, err := dialFrom(src, addr)
				if err != nil {
					time.Sleep(200 * time.Millisecond)
					continue
				}
				dials.Add(1)
				_, err = io.WriteString(c, "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{")
				for err == nil && time.Now().Before(deadline) {
					time.Sleep(time.Second)
					_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
					if n, rerr := c.Read(buf); n > 0 || (rerr != nil && !os.IsTimeout(rerr)) {
						// Answered (503 at accept, 408/400 at the read timeout) or closed.
						if strings.Contains(string(buf[:n]), " 503 ") {
							refused.Add(1)
						}
						break
					}
					_, err = c.Write([]byte(" "))
				}
				c.Close()
				time.Sleep(100 * time.Millisecond)
			}
		}(sources[i%len(sources)])
	}
	wg.Wait()
	fmt.Printf("dials %d refused %d\n", dials.Load(), refused.Load())
	return 0
}

// TestSlowLoginFlood: thousands of slow-body logins (issue 11 took the
// gateway down with ~20,000) against a console whose caps are lowered. The
// console must keep answering /healthz and a real login from another
// address, hold a bounded number of file descriptors and not crash; first
// from one flooding address, then from eight (which fill the total cap).
func TestSlowLoginFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("flood test")
	}
	lim := config.ConsoleLimits{MaxConns: 200, MaxConnsPerAddress: 50, MaxStreams: 10, MaxStreamsPerUser: 5,
		ReadHeaderTimeout: time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: 5 * time.Second,
		IdleTimeout: 5 * time.Second, StreamStall: 5 * time.Second}
	e := newEnv(t, withLimits(lim))
	needLoopbackAliases(t, e.srv.Addr())
	base := openFDs(t)
	for _, tc := range []struct {
		name    string
		sources string
	}{
		{"one address", "127.0.0.2"},
		{"eight addresses", "127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8,127.0.0.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const conns, dur = 3000, 8 * time.Second
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %d %s", floodEnv, e.srv.Addr(), conns, dur.Milliseconds(), tc.sources))
			out := &strings.Builder{}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			time.Sleep(2 * time.Second) // the attacker dials its connections
			maxFDs, checks, slowest := 0, 0, time.Duration(0)
			c := e.anon(t)
		loop:
			for {
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("attacker: %v: %s", err, out)
					}
					break loop
				case <-time.After(500 * time.Millisecond):
				}
				start := time.Now()
				resp, body := c.do("GET", "/healthz", nil)
				if resp.StatusCode != 200 {
					t.Errorf("healthz under flood: %d %s", resp.StatusCode, body)
				}
				// A fresh connection each time: the guard's browser arriving now.
				fresh := e.anon(t)
				fresh.hc.Transport = &http.Transport{DisableKeepAlives: true}
				resp, body = fresh.do("POST", "/api/login", map[string]string{"name": "olga", "password": password})
				if resp.StatusCode != 200 {
					t.Errorf("login under flood: %d %s", resp.StatusCode, body)
				}
				d := time.Since(start)
				if d > 2*time.Second {
					t.Errorf("healthz + login took %s under flood", d)
				}
				slowest = max(slowest, d)
				checks++
				maxFDs = max(maxFDs, openFDs(t))
			}
			t.Logf("attacker: %s; %d checks (healthz + fresh login), slowest %s; fds at most %d (before %d)",
				strings.TrimSpace(out.String()), checks, slowest.Round(time.Millisecond), maxFDs, base)
			if checks < 5 {
				t.Errorf("only %d checks during the flood", checks)
			}
			var dials, refused int
			if _, err := fmt.Sscanf(out.String(), "dials %d refused %d", &dials, &refused); err != nil || dials < conns || refused == 0 {
				t.Errorf("attacker output %q: want at least %d dials and some refused", out, conns)
			}
			// Bounded: the cap, plus the test's own client connections and a margin.
			if maxFDs > base+lim.MaxConns+50 {
				t.Errorf("file descriptors grew from %d to %d with max_conns %d", base, maxFDs, lim.MaxConns)
			}
			if got := metricValue(t, e, "lanewatch_console_connections_refused_total"); got == 0 {
				t.Error("no refused connection counted")
			}
		})
	}
	// After the flood the slots come back.
	waitFor(t, "connections released", func() bool { return metricValue(t, e, "lanewatch_console_connections") < 10 })
}

// metricValue sums a metric's samples on /metrics (all label values).
func metricValue(t *testing.T, e *env, name string) float64 {
	t.Helper()
	resp, body := e.anon(t).do("GET", "/metrics", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	sum := 0.0
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q", line)
		}
		sum += v
	}
	return sum
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestConnCapPerAddress: beyond max_conns_per_address a device's new
// connection gets a 503 at once; another address is still served.
func TestConnCapPerAddress(t *testing.T) {
	e := newEnv(t, withLimits(config.ConsoleLimits{MaxConns: 40, MaxConnsPerAddress: 3}))
	needLoopbackAliases(t, e.srv.Addr())
	waitFor(t, "the probe connection released", func() bool { return metricValue(t, e, "lanewatch_console_connections") <= 1 }) // 1: the metrics request
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	for i := 0; i < 3; i++ {
		c, err := dialFrom("127.0.0.2", e.srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	waitFor(t, "3 connections", func() bool { return metricValue(t, e, "lanewatch_console_connections") >= 3 })
	c, err := dialFrom("127.0.0.2", e.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("4th connection: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || !strings.Contains(string(body), `"error"`) {
		t.Errorf("4th connection: %d %s", resp.StatusCode, body)
	}
	if r, _ := e.anon(t).do("GET", "/healthz", nil); r.StatusCode != 200 {
		t.Errorf("healthz from another address: %d", r.StatusCode)
	}
	held[0].Close()
	waitFor(t, "slot freed", func() bool { return metricValue(t, e, "lanewatch_console_connections") <= 3 })
	c2, err := dialFrom("127.0.0.2", e.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	held = append(held, c2)
	fmt.Fprintf(c2, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(c2), nil); err != nil || resp.StatusCode != 200 {
		t.Errorf("after a slot was freed: %v %v", resp, err)
	}
}

// TestSlowBodyTimesOut: a body that trickles is cut at read_timeout, a
// header that trickles at read_header_timeout.
func TestSlowBodyTimesOut(t *testing.T) {
	e := newEnv(t, withLimits(config.ConsoleLimits{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 600 * time.Millisecond}))
	for _, tc := range []struct {
		name, head string
		within     time.Duration
	}{
		{"slow header", "POST /api/login HTTP/1.1\r\nHost: x\r\n", 300 * time.Millisecond},
		{"slow body", "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{", 600 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", e.srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			_, _ = io.WriteString(c, tc.head)
			// Keep trickling; the server must close regardless.
			go func() {
				for i := 0; i < 50; i++ {
					time.Sleep(100 * time.Millisecond)
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
				}
			}()
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = io.ReadAll(c)
			d := time.Since(start)
			if os.IsTimeout(err) {
				t.Fatalf("connection still open after %s", d)
			}
			if d < tc.within || d > tc.within+2*time.Second {
				t.Errorf("closed after %s, want about %s", d, tc.within)
			}
		})
	}
}

// TestStreamsOutliveTimeouts: SSE and MJPEG last longer than the server's
// read and write timeouts, which apply to every other request.
func TestStreamsOutliveTimeouts(t *testing.T) {
	e := newEnv(t, withLimits(config.ConsoleLimits{ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond}),
		func(s *console.Server) { s.Heartbeat = 100 * time.Millisecond })
	_, comments := openSSE(t, e.token(t, viewerToken))
	deadline := time.After(1500 * time.Millisecond)
	n := 0
	for done := false; !done; {
		select {
		case _, ok := <-comments:
			if !ok {
				t.Fatalf("stream ended after %d heartbeats", n)
			}
			n++
		case <-deadline:
			done = true
		}
	}
	if n < 8 {
		t.Errorf("%d heartbeats in 1.5 s at 100 ms (stream cut by a server timeout?)", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.base+"/api/cameras/lawn/mjpeg", nil)
	req.Header.Set("Authorization", "Bearer "+viewerToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	parts, err := readParts(resp, 10) // 10 frames at 10 fps: about a second
	if err != nil || len(parts) != 10 {
		t.Fatalf("mjpeg: %d frames in %s: %v", len(parts), time.Since(start), err)
	}
}

// TestStreamCaps: live streams beyond max_streams_per_user for one user,
// or max_streams over all, get a 503 JSON error; a freed slot is reusable.
func TestStreamCaps(t *testing.T) {
	e := newEnv(t, withLimits(config.ConsoleLimits{MaxStreams: 3, MaxStreamsPerUser: 2}))
	open := func(who *client, path string) (*http.Response, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", e.base+path, nil)
		if who.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+who.bearer)
		}
		resp, err := (&http.Client{Jar: who.hc.Jar}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cancel(); resp.Body.Close() })
		return resp, cancel
	}
	vic, wall, olga := e.login(t, "vic"), e.token(t, viewerToken), e.login(t, "olga")
	steps := []struct {
		who    *client
		path   string
		want   int
		reason string
	}{
		{vic, "/api/events", 200, ""},
		{vic, "/api/cameras/lawn/mjpeg", 200, ""},
		{vic, "/api/events", 503, "for vic"},
		{wall, "/api/events", 200, ""},
		{olga, "/api/cameras/lawn/mjpeg", 503, "on this gateway"},
	}
	var first context.CancelFunc
	for i, s := range steps {
		resp, cancel := open(s.who, s.path)
		if i == 0 {
			first = cancel
		}
		if resp.StatusCode != s.want {
			t.Fatalf("step %d %s: %d, want %d", i, s.path, resp.StatusCode, s.want)
		}
		if s.want == 503 {
			body, _ := io.ReadAll(resp.Body)
			if msg := errorBody(t, resp, body); !strings.Contains(msg, s.reason) {
				t.Errorf("step %d: error %q, want it to say %q", i, msg, s.reason)
			}
		}
	}
	if got := metricValue(t, e, "lanewatch_console_streams_refused_total"); got != 2 {
		t.Errorf("refused streams counted %v, want 2", got)
	}
	first()
	waitFor(t, "a freed stream slot", func() bool {
		resp, _ := open(olga, "/api/events")
		return resp.StatusCode == 200
	})
}
