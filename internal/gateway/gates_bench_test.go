package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanewatch/lanewatch/internal/broker/brokertest"
	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/mqttbus"
	"github.com/lanewatch/lanewatch/internal/sensors"
	"github.com/lanewatch/lanewatch/internal/sensors/sensorstest"
	"github.com/lanewatch/lanewatch/internal/vehicles"
)

// BenchmarkGateEventsIntoVehicleLog (issue 4): b.N plate reads of distinct
// plates (each a new passage) from 4 gate clients, each keeping up to 256
// QoS 1 messages in flight, through a broker into the gateway's
// mqttbus.Client (production store under the data dir, ack after handling),
// sensors.Ingest (decode, dedup) and vehicles.Log.HandleBatch (one bbolt
// transaction and fsync per delivery batch). Events/s is first publish to
// the last passage announced; the run fails unless every event is accounted
// for (in = processed + rejected + duplicates, processed = N) and the log
// holds N passages.
//
// "per-event" is the baseline in the same run: Ingest without HandleBatch,
// so one transaction and fsync per passage, as before group commit. It is
// capped at 2,000 events (about 10 s at its rate).
//
//	go test -run '^$' -bench GateEventsIntoVehicleLog -benchtime 20000x ./internal/gateway
//
// Both brokers: Mosquitto and the embedded one (nats-server).
func BenchmarkGateEventsIntoVehicleLog(b *testing.B) {
	for _, br := range brokertest.All {
		b.Run(br.Name+"/batch", func(b *testing.B) { benchGateEvents(b, br.Start(b), b.N, true) })
		b.Run(br.Name+"/per-event", func(b *testing.B) { benchGateEvents(b, br.Start(b), min(b.N, 2000), false) })
	}
}

func benchGateEvents(b *testing.B, mq *brokertest.Env, n int, batch bool) {
	const gates, window = 4, 256
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	topics := mqttbus.Topics{Prefix: "lanewatch", Site: "bench"}
	dir := b.TempDir()

	log, err := vehicles.Open(vehicles.Config{DataDir: dir, Site: "bench", Vehicles: config.Vehicles{}, Logger: quiet,
		Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	var announced atomic.Int64
	done := make(chan struct{})
	log.OnPassage = func(vehicles.Passage) {
		if announced.Add(1) == int64(n) {
			close(done)
		}
	}

	gw, err := mqttbus.New(mqttbus.Config{Broker: mq.URL, ClientID: "gateway", Topics: topics, DataDir: dir, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer gw.Close()
	var batches, batched atomic.Int64
	in := &sensors.Ingest{Bus: gw, Topics: topics, Decoder: &sensors.Decoder{Salt: []byte("bench-salt-0123456789")},
		Handle: func(ev sensors.Event) {
			batches.Add(1)
			batched.Add(1)
			log.Handle(ev)
		},
		Logger: quiet, Registerer: prometheus.NewRegistry()}
	if batch {
		in.HandleBatch = func(evs []sensors.Event) {
			batches.Add(1)
			batched.Add(int64(len(evs)))
			log.HandleBatch(evs)
		}
	}
	if err := in.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := gw.Start(ctx); err != nil {
		b.Fatal(err)
	}
	pubs, closePubs := sensorstest.Gates(b, mq.URL, topics, gates)
	defer closePubs()
	payloads := make([][]byte, n)
	for i := range payloads {
		// Distinct plates: 2 letters and 5 digits give 67 million.
		plate := fmt.Sprintf("沪%c%c%05d", 'A'+i/100000%26, 'A'+i/2600000%26, i%100000)
		payloads[i] = fmt.Appendf(nil, `{"id":"e%d","type":"plate_read","plate":%q,"direction":"in","confidence":0.9}`, i, plate)
	}

	b.ResetTimer()
	start := time.Now()
	sensorstest.Publish(b, pubs, topics, payloads, window, nil)
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("timed out: %+v, %d passages announced", in.Counts(), announced.Load())
	}
	elapsed := time.Since(start)
	b.StopTimer()
	c := in.Counts()
	if c.Processed != uint64(n) || c.In != c.Processed+c.Rejected+c.Duplicates {
		b.Fatalf("events not accounted for: %+v, N=%d", c, n)
	}
	if got := len(log.Passages(vehicles.Query{Limit: n + 1})); got != n {
		b.Fatalf("%d passages stored, want %d", got, n)
	}
	b.ReportMetric(float64(n), "events")
	b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(batched.Load())/float64(max(batches.Load(), 1)), "events/batch")
	b.ReportMetric(0, "ns/op")
}
