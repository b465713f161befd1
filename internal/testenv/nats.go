package testenv

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// StartNATS runs a NATS server on a free loopback port for the test, with
// JetStream (its store in a temp dir) when jetStream is set, and returns its
// URL. maxPayload 0 keeps the server's default.
func StartNATS(tb testing.TB, jetStream bool, maxPayload int32) string {
	tb.Helper()
	o := &server.Options{Host: "127.0.0.1", Port: -1, MaxPayload: maxPayload, NoLog: true, NoSigs: true}
	if jetStream {
		o.JetStream, o.StoreDir = true, tb.TempDir()
	}
	srv, err := server.NewServer(o)
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		tb.Fatal("nats server not ready")
	}
	tb.Cleanup(srv.Shutdown)
	return srv.ClientURL()
}
