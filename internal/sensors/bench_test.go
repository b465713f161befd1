package sensors

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/broker/brokertest"
	"github.com/lanewatch/lanewatch/internal/mqttbus"
	"github.com/lanewatch/lanewatch/internal/sensors/sensorstest"
)

// BenchmarkIngest pushes b.N plate reads at QoS 1 from 4 gate clients, each
// with up to 256 messages in flight, through a broker into Ingest and a
// Handle that only records latency. It reports events/s end to end (first
// publish to last Handle) and the publish-to-Handle latency percentiles, and
// fails unless every event is accounted for (in = processed + rejected +
// duplicates, processed = N). The gateway client runs as in production:
// persistent session and paho's file store ("filestore"), or with the
// in-memory store for comparison ("memstore").
//
//	go test -run '^$' -bench Ingest -benchtime 20000x ./internal/sensors
func BenchmarkIngest(b *testing.B) {
	for _, br := range brokertest.All {
		for _, store := range []string{"filestore", "memstore"} {
			b.Run(br.Name+"/"+store, func(b *testing.B) { benchIngest(b, br.Start(b), store == "filestore", 4, 256) })
		}
	}
}

// BenchmarkIngestLatency sends one event at a time (the next after the
// previous was acknowledged by the broker), as a quiet gate does, to show the
// MQTT-to-Handle latency without queueing.
//
//	go test -run '^$' -bench IngestLatency -benchtime 2000x ./internal/sensors
func BenchmarkIngestLatency(b *testing.B) {
	for _, br := range brokertest.All {
		b.Run(br.Name, func(b *testing.B) { benchIngest(b, br.Start(b), true, 1, 1) })
	}
}

func benchIngest(b *testing.B, e *brokertest.Env, fileStore bool, gates, window int) {
	n := b.N
	sent := make([]atomic.Int64, n)
	lat := make([]time.Duration, 0, n)
	var mu sync.Mutex
	done := make(chan struct{})
	handle := func(ev Event) {
		i, _ := strconv.Atoi(ev.ID)
		d := time.Duration(time.Now().UnixNano() - sent[i].Load())
		mu.Lock()
		lat = append(lat, d)
		if len(lat) == n {
			close(done)
		}
		mu.Unlock()
	}
	dir := ""
	if fileStore {
		dir = b.TempDir()
	}
	gw, err := mqttbus.New(mqttbus.Config{Broker: e.URL, ClientID: "gateway", Topics: topics, DataDir: dir, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer gw.Close()
	g := &Ingest{Bus: gw, Topics: topics, Decoder: &Decoder{Salt: testSalt}, Handle: handle, Logger: quiet}
	if err := g.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	startBus(b, gw)

	pubs, closePubs := sensorstest.Gates(b, e.URL, topics, gates)
	defer closePubs()
	payloads := make([][]byte, n)
	for i := range payloads {
		payloads[i] = plateRead(strconv.Itoa(i), i)
	}
	b.ResetTimer()
	start := time.Now()
	sensorstest.Publish(b, pubs, topics, payloads, window, func(i int) { sent[i].Store(time.Now().UnixNano()) })
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("timed out: %+v", g.Counts())
	}
	elapsed := time.Since(start)
	b.StopTimer()
	c := g.Counts()
	if c.Processed != uint64(n) || c.In != c.Processed+c.Rejected+c.Duplicates {
		b.Fatalf("events not accounted for: %+v, N=%d", c, n)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(lat[n/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[n*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op") // per-op time is meaningless for a pipeline run
}

func BenchmarkDecode(b *testing.B) {
	d := &Decoder{Salt: testSalt}
	p := []byte(`{"id":"e1","ts":"2026-11-26T22:59:58+08:00","type":"plate_read","plate":"青A12345","direction":"in","confidence":0.93,"lane":2}`)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode("north", p, now); err != nil {
			b.Fatal(err)
		}
	}
}
