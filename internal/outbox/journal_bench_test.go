package outbox

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lanewatch/lanewatch/internal/testenv"
)

// openJournaled opens an outbox over the stream of js (not started).
func openJournaled(b *testing.B, js jetstream.JetStream, url string) *Outbox {
	cfg := testConfig(filepath.Join(b.TempDir(), "outbox.db"), url)
	cfg.Journal = &Journal{JS: js, Stream: "lanewatch_outbox_bench", Subject: "_lanewatch.outbox.bench"}
	o, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { o.Close() })
	return o
}

// BenchmarkJournalEnqueue: one ticket per Enqueue accepted on the stream's
// PubAck, on a single in-process JetStream node (file storage, no
// replication: a cluster adds a round trip to the quorum).
func BenchmarkJournalEnqueue(b *testing.B) {
	o := openJournaled(b, testenv.JetStream(b), "http://127.0.0.1:9")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := o.Enqueue(inc(fmt.Sprintf("inc_%06d", i%100), i/100+1), nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tickets/s")
}

// BenchmarkJournalTakeover: a new sender replays b.N tickets (100
// incidents) from the stream and delivers them to a local platform, each
// then deleted from the stream: from Hold(true) to the last answer.
func BenchmarkJournalTakeover(b *testing.B) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	b.Cleanup(srv.Close)
	js := testenv.JetStream(b)
	fill(b, openJournaled(b, js, srv.URL), b.N, 100)
	sender := openJournaled(b, js, srv.URL)
	if err := sender.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	sender.Hold(true)
	for got.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tickets/s")
}
