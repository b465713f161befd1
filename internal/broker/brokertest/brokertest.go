// Package brokertest gives tests the two brokers lanewatch runs against,
// Mosquitto (testenv) and the embedded one, behind one small type, so that
// the same test body checks both.
package brokertest

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/lanewatch/lanewatch/internal/broker"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// Env is a running broker with persistence.
type Env struct {
	URL string
	// Restart stops the broker the way a service restart does and starts
	// it again on the same address and store.
	Restart func()
	Stop    func()
}

// Mosquitto starts a real Mosquitto (skips when it is not installed).
func Mosquitto(t testing.TB) *Env {
	m := testenv.StartMosquitto(t)
	return &Env{URL: m.URL, Restart: m.Restart, Stop: m.Stop}
}

// Embedded starts the embedded broker with a data dir on a free port.
func Embedded(t testing.TB) *Env {
	dir := t.TempDir()
	addr := testenv.FreeAddr(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var b *broker.Broker
	start := func() {
		var err error
		b, err = broker.New(broker.Config{Listen: addr, DataDir: dir, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	start()
	t.Cleanup(func() { b.Close() })
	return &Env{
		URL:     b.URL(),
		Restart: func() { b.Close(); start() },
		Stop:    func() { b.Close() },
	}
}

// All lists both, for table-driven tests.
var All = []struct {
	Name  string
	Start func(testing.TB) *Env
}{{"mosquitto", Mosquitto}, {"embedded", Embedded}}
