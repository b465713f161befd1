package webpush

import (
	"context"
	"sort"
	"testing"
	"time"
)

// BenchmarkPush is one push as the notify sender will do it: encrypt for the
// browser, sign VAPID, POST over TLS to a loopback push service that checks
// and decrypts (so its time is in the figure too). Reports p50/p99.
func BenchmarkPush(b *testing.B) {
	s, st, ps, _ := setupB(b)
	sub, _ := ps.subscribe("bench")
	if err := st.Add(sub); err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"title":"北门 有人翻越围栏","body":"紧急 · 北门 · 22:14","incident":"inc-1","url":"https://gw-1.compound.lan:8443/e/c25hcHNob3QKMTgwMDA4NjQwMAppbmMtMQ.K0S2b5Bx8dqgLwGQyR9IxF1rY0wHXw0a3yT5oVnQk1E"}`)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := s.Push(context.Background(), sub, payload, Options{Urgent: true}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
