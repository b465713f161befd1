package outbox

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fill queues n tickets spread over incs incidents, in batches (one fsync each).
func fill(tb testing.TB, o *Outbox, n, incs int) {
	tb.Helper()
	batch := make([]Item, 0, 1000)
	for i := 0; i < n; i++ {
		batch = append(batch, Item{Incident: inc(fmt.Sprintf("inc_%06d", i%incs), i/incs+1)})
		if len(batch) == cap(batch) || i == n-1 {
			if err := o.EnqueueBatch(batch); err != nil {
				tb.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

func okServer(tb testing.TB) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
	}))
	tb.Cleanup(s.Close)
	return s
}

// BenchmarkEnqueue: one fsynced ticket per Enqueue, as the engine's change
// stream produces them.
func BenchmarkEnqueue(b *testing.B) {
	o, err := Open(testConfig(filepath.Join(b.TempDir(), "outbox.db"), "http://127.0.0.1:9"))
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := o.Enqueue(inc(fmt.Sprintf("inc_%06d", i%100), i/100+1), nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tickets/s")
}

// BenchmarkDrain: tickets/s from a full queue to a local platform over HTTP.
func BenchmarkDrain(b *testing.B) {
	for _, tc := range []struct {
		name   string
		incs   int
		secret string
	}{
		{"100_incidents", 100, ""},
		{"100_incidents_signed", 100, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		{"1_incident_serial", 1, ""},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv := okServer(b)
			cfg := testConfig(filepath.Join(b.TempDir(), "outbox.db"), srv.URL)
			cfg.Platform.Secret = tc.secret
			o, err := Open(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer o.Close()
			fill(b, o, b.N, tc.incs)
			b.ResetTimer()
			o.Start(b.Context())
			for o.Stats().Pending > 0 {
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tickets/s")
		})
	}
}

// BenchmarkBaselinePost: the same POSTs from 8 goroutines with no outbox, to
// tell the outbox's cost from the HTTP stack's.
func BenchmarkBaselinePost(b *testing.B) {
	srv := okServer(b)
	body, _ := Body(inc("inc_000001", 1), nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	var wg sync.WaitGroup
	next := make(chan struct{})
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				res, err := client.Post(srv.URL, "application/json", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "posts/s")
}
