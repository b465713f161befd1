package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Mosquitto is a real Mosquitto broker on a free loopback port, with
// persistence on so that a Restart keeps retained messages and persistent
// sessions the way a production broker configured for lanewatch would.
type Mosquitto struct {
	Addr string // 127.0.0.1:port
	URL  string // tcp://127.0.0.1:port

	t     testing.TB
	dir   string
	conf  string
	extra []string    // lines after the defaults (StartMosquittoConf)
	proc  *serverProc // nil while stopped
}

func mosquittoBin(t testing.TB) string {
	for _, p := range []string{os.Getenv("LANEWATCH_MOSQUITTO"), "/usr/sbin/mosquitto", "/usr/bin/mosquitto"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	missing(t, "mosquitto not installed (make deps installs it)")
	return ""
}

// missing skips a test whose service is not installed, but fails it under CI,
// where make test installs every service first.
func missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// StartMosquitto starts a broker for the test and stops it at cleanup.
func StartMosquitto(t testing.TB) *Mosquitto {
	t.Helper()
	return StartMosquittoConf(t)
}

// StartMosquittoConf starts a broker with extra configuration lines (e.g.
// password_file, acl_file); "allow_anonymous false" among them replaces the
// default "allow_anonymous true".
func StartMosquittoConf(t testing.TB, extra ...string) *Mosquitto {
	t.Helper()
	bin := mosquittoBin(t)
	m := &Mosquitto{t: t, dir: t.TempDir(), extra: extra}
	m.conf = filepath.Join(m.dir, "mosquitto.conf")
	err := onFreshPorts(t, "mosquitto", func() error {
		m.Addr = FreeAddr(t)
		m.URL = "tcp://" + m.Addr
		m.writeConf()
		return m.start(bin)
	})
	if err != nil {
		m.fatal(err)
	}
	t.Cleanup(func() {
		m.Stop()
		// The broker's own account of a failure (clients dropped, limits).
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(m.dir, "mosquitto.log")); err == nil && len(b) > 0 {
				t.Logf("mosquitto.log:\n%s", b[max(0, len(b)-4000):])
			}
		}
	})
	return m
}

func (m *Mosquitto) fatal(err error) {
	m.t.Helper()
	b, _ := os.ReadFile(filepath.Join(m.dir, "mosquitto.log"))
	m.t.Fatalf("mosquitto: %v\n%s", err, b)
}

func (m *Mosquitto) writeConf() {
	_, port, _ := net.SplitHostPort(m.Addr)
	anon := "allow_anonymous true"
	for _, l := range m.extra {
		if strings.HasPrefix(l, "allow_anonymous") {
			anon = l
		}
	}
	lines := []string{
		"listener " + port + " 127.0.0.1",
		anon,
		// As root Mosquitto drops to user mosquitto, which cannot write the test's temp dir.
		"user " + currentUser(),
		"persistence true",
		"persistence_location " + m.dir + "/",
		"autosave_interval 1",
		"max_inflight_messages 100",
		"max_queued_messages 1000000",
		"log_dest stderr",
		"log_type error",
		"log_type warning",
	}
	for _, l := range m.extra {
		if !strings.HasPrefix(l, "allow_anonymous") {
			lines = append(lines, l)
		}
	}
	conf := strings.Join(append(lines, ""), "\n")
	if err := os.WriteFile(m.conf, []byte(conf), 0o600); err != nil {
		m.t.Fatal(err)
	}
}

func (m *Mosquitto) start(bin string) error {
	p, err := startServer(bin, []string{"-c", m.conf}, filepath.Join(m.dir, "mosquitto.log"), m.Addr, 10*time.Second, nil)
	m.proc = p
	return err
}

// Stop stops the broker gracefully (SIGTERM, so that it saves its
// persistence file); it is safe to call twice.
func (m *Mosquitto) Stop() {
	if m.proc != nil {
		m.proc.stop(5 * time.Second)
		m.proc = nil
	}
}

// Restart stops the broker and starts it again on the same port with the
// same persistence directory.
func (m *Mosquitto) Restart() {
	m.t.Helper()
	m.Stop()
	bin := mosquittoBin(m.t)
	if err := untilStarted(func() error { waitPortFree(m.Addr); return m.start(bin) }); err != nil {
		m.fatal(err)
	}
}

func WaitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if os.Geteuid() == 0 {
		return "root"
	}
	return "nobody"
}
