package testenv

import (
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// When another process already serves the port our server was given, start
// must report it (so StartX picks fresh ports) instead of accepting whoever
// answers there: that mix-up once sent a test's writes to another package's
// influxd ("database not found").
func TestStartRefusesAPortAnotherServerHolds(t *testing.T) {
	// An HTTP server that answers /ping like influxd does.
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer foreign.Close()
	addr := strings.TrimPrefix(foreign.URL, "http://")

	t.Run("influxd", func(t *testing.T) {
		InfluxdBin(t)
		d := &Influxd{t: t, dir: t.TempDir(), addr: addr, URL: foreign.URL, rpc: FreeAddr(t)}
		d.conf = filepath.Join(d.dir, "influxdb.conf")
		d.writeConf()
		if err := d.start(20 * time.Second); err == nil {
			d.Stop()
			t.Fatal("start accepted a port another server holds")
		}
	})
	t.Run("mosquitto", func(t *testing.T) {
		bin := mosquittoBin(t)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		m := &Mosquitto{t: t, dir: t.TempDir(), Addr: l.Addr().String()}
		m.conf = filepath.Join(m.dir, "mosquitto.conf")
		m.writeConf()
		if err := m.start(bin); err == nil {
			m.Stop()
			t.Fatal("start accepted a port another server holds")
		}
	})
}
