package testenv

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Influxd is a real InfluxDB 1.8.10 server with Flux enabled on free loopback
// ports. It serves the /api/v2/write and /api/v2/query endpoints that
// influxdb-client-go/v2 uses; a v2 "bucket" is "database/retention-policy".
type Influxd struct {
	URL      string // http://127.0.0.1:port
	Database string // created at start
	Bucket   string // Database + "/autogen"

	t    testing.TB
	dir  string
	conf string
	addr string
	cmd  *exec.Cmd
	log  *os.File
}

// InfluxdBin finds the influxd built by `make deps` (LANEWATCH_INFLUXD, then
// the cache folder the Makefile uses).
func InfluxdBin(t testing.TB) string {
	t.Helper()
	cands := []string{os.Getenv("LANEWATCH_INFLUXD")}
	if home, err := os.UserHomeDir(); err == nil {
		cands = append(cands, filepath.Join(home, ".cache", "lanewatch", "influxd", "bin", "influxd"))
	}
	for _, p := range cands {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	missing(t, "influxd 1.8.10 not found (make deps builds it into ~/.cache/lanewatch/influxd)")
	return ""
}

// StartInfluxd starts influxd for the test, creates database "lanewatch" and
// stops the server at cleanup.
func StartInfluxd(t testing.TB) *Influxd {
	t.Helper()
	InfluxdBin(t) // skip or fail early when absent
	d := &Influxd{t: t, dir: t.TempDir(), Database: "lanewatch"}
	d.Bucket = d.Database + "/autogen"
	d.addr = FreeAddr(t)
	d.URL = "http://" + d.addr
	rpc := FreeAddr(t)
	d.conf = filepath.Join(d.dir, "influxdb.conf")
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = %q
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
[http]
  bind-address = %q
  flux-enabled = true
  log-enabled = false
  auth-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[logging]
  level = "warn"
`, rpc, filepath.Join(d.dir, "meta"), filepath.Join(d.dir, "data"), filepath.Join(d.dir, "wal"), d.addr)
	if err := os.WriteFile(d.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	d.Start()
	t.Cleanup(d.Stop)
	return d
}

// Start (re)starts the server on the same ports and data; StartInfluxd calls it.
func (d *Influxd) Start() {
	d.t.Helper()
	lf, err := os.OpenFile(filepath.Join(d.dir, "influxd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	d.log = lf
	// The port can linger briefly after a Stop.
	for i := 0; i < 50; i++ {
		if l, err := net.Listen("tcp", d.addr); err == nil {
			l.Close()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.cmd = exec.Command(InfluxdBin(d.t), "-config", d.conf)
	d.cmd.Stdout, d.cmd.Stderr = lf, lf
	if err := d.cmd.Start(); err != nil {
		d.t.Fatalf("start influxd: %v", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(d.URL + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				break
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(d.dir, "influxd.log"))
			d.t.Fatalf("influxd not ready at %s: %v\n%s", d.URL, err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := http.PostForm(d.URL+"/query", url.Values{"q": {"CREATE DATABASE " + d.Database}})
	if err != nil {
		d.t.Fatalf("create database: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		d.t.Fatalf("create database: HTTP %d", resp.StatusCode)
	}
}

// Stop stops the server (safe to call twice); Start brings it back with its data.
func (d *Influxd) Stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _, _ = d.cmd.Process.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
	}
	d.cmd = nil
	if d.log != nil {
		d.log.Close()
		d.log = nil
	}
}
