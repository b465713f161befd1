package gatejs

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"

	"github.com/lanewatch/lanewatch/internal/broker"
	"github.com/lanewatch/lanewatch/internal/mqttbus"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// BenchmarkSourceDrain: b.N gate events of 4 gates, already stored, pulled,
// handed on (to a handler that does nothing) and acknowledged: the cost of
// JetStream's side of the gate events path, without the gateway's. One
// embedded broker, and three clustered ones (streams and consumers R3; the
// events published to another node than the one pulling).
//
//	go test -run '^$' -bench SourceDrain -benchtime 20000x ./internal/gatejs
func BenchmarkSourceDrain(b *testing.B) {
	b.Run("single", func(b *testing.B) {
		e := startEnvTB(b)
		benchDrain(b, e.dev, e.connTB(b), 0)
	})
	b.Run("cluster3", func(b *testing.B) {
		bs := startClusterTB(b)
		dev := mqttClient(b, bs[1].URL())
		nc, err := bs[0].Conn("bench")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		benchDrain(b, dev, nc, 3)
	})
}

func benchDrain(b *testing.B, dev paho.Client, nc interface{}, replicas int) {
	s := &Source{Conn: ncOf(nc), Topics: site, Gates: []string{"g0", "g1", "g2", "g3"}, Replicas: replicas, Logger: quiet}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	var n atomic.Int64
	s.SubscribeBatch("", func(ms []mqttbus.Message) error { n.Add(int64(len(ms))); return nil })
	pubStart := time.Now()
	for i := 0; i < b.N; i += 256 {
		var toks []paho.Token
		for k := i; k < min(i+256, b.N); k++ {
			toks = append(toks, dev.Publish(site.GateEvents(fmt.Sprintf("g%d", k%4)), 1, false, fmt.Sprintf(`{"id":"e%d"}`, k)))
		}
		for _, tok := range toks {
			if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
				b.Fatalf("publish: %v", tok.Error())
			}
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(pubStart).Seconds(), "published/s")
	b.ResetTimer()
	start := time.Now()
	for g := range 4 {
		s.Hold(fmt.Sprintf("g%d", g), true)
	}
	for n.Load() < int64(b.N) {
		if time.Since(start) > 2*time.Minute {
			b.Fatalf("drained %d of %d", n.Load(), b.N)
		}
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

func ncOf(v interface{}) *nats.Conn { return v.(*nats.Conn) }

func mqttClient(t testing.TB, url string) paho.Client {
	for end := time.Now().Add(30 * time.Second); ; {
		c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("dev").SetUsername("gw").SetPassword("pw-0123456789"))
		tok := c.Connect()
		if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
			t.Cleanup(func() { c.Disconnect(100) })
			return c
		}
		if time.Now().After(end) {
			t.Fatal(tok.Error())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// startClusterTB starts three clustered embedded brokers on loopback.
func startClusterTB(t testing.TB) []*broker.Broker {
	routes := []string{testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)}
	bs := make([]*broker.Broker, 3)
	for i := range bs {
		var peers []string
		for j, r := range routes {
			if j != i {
				peers = append(peers, r)
			}
		}
		b, err := broker.New(broker.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: quiet,
			Gateway: broker.Gateway{Username: "gw", Password: "pw-0123456789", ClientID: fmt.Sprintf("gw-%d", i)},
			Cluster: &broker.Cluster{Name: "site", ServerName: fmt.Sprintf("gw-%d", i), Listen: routes[i], Peers: peers,
				Secret: "route-secret-0123456789", Replicas: 3}})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			if err := b.Start(context.Background()); err != nil {
				t.Error(err)
			}
		}()
		bs[i] = b
		t.Cleanup(func() { b.Close() })
	}
	for _, b := range bs {
		for end := time.Now().Add(60 * time.Second); b.Healthy() != nil; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("not healthy: %v", b.Healthy())
			}
		}
		b.Admit()
	}
	return bs
}
