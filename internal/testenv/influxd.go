package testenv

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
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
	rpc  string
	proc *serverProc // nil while stopped
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
	d.conf = filepath.Join(d.dir, "influxdb.conf")
	err := onFreshPorts(t, "influxd", func() error {
		d.addr = FreeAddr(t)
		d.URL = "http://" + d.addr
		d.rpc = FreeAddr(t)
		d.writeConf()
		return d.start(30 * time.Second) // influxd takes 13 s to serve at load 20
	})
	if err != nil {
		d.fatal(err)
	}
	t.Cleanup(d.Stop)
	d.createDatabase()
	return d
}

func (d *Influxd) fatal(err error) {
	d.t.Helper()
	b, _ := os.ReadFile(filepath.Join(d.dir, "influxd.log"))
	d.t.Fatalf("influxd: %v\n%s", err, b)
}

func (d *Influxd) writeConf() {
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
`, d.rpc, filepath.Join(d.dir, "meta"), filepath.Join(d.dir, "data"), filepath.Join(d.dir, "wal"), d.addr)
	if err := os.WriteFile(d.conf, []byte(conf), 0o600); err != nil {
		d.t.Fatal(err)
	}
}

// Start restarts a stopped server on the same ports and data.
func (d *Influxd) Start() {
	d.t.Helper()
	if err := untilStarted(func() error { return d.start(30 * time.Second) }); err != nil {
		d.fatal(err)
	}
	d.createDatabase()
}

func (d *Influxd) start(timeout time.Duration) error {
	waitPortFree(d.addr)
	p, err := startServer(InfluxdBin(d.t), []string{"-config", d.conf}, filepath.Join(d.dir, "influxd.log"), d.addr, timeout, func() bool {
		resp, err := http.Get(d.URL + "/ping")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusNoContent
	})
	d.proc = p
	return err
}

func (d *Influxd) createDatabase() {
	d.t.Helper()
	resp, err := http.PostForm(d.URL+"/query", url.Values{"q": {"CREATE DATABASE " + d.Database}})
	if err != nil {
		d.t.Fatalf("create database: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	// InfluxQL reports statement errors inside a 200 response.
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), `"error"`) {
		d.t.Fatalf("create database: HTTP %d: %s", resp.StatusCode, body)
	}
}

// Stop stops the server (safe to call twice); Start brings it back with its data.
func (d *Influxd) Stop() {
	if d.proc != nil {
		d.proc.stop(10 * time.Second)
		d.proc = nil
	}
}
