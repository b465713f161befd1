package siteincidents

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// BenchmarkPutSync is what one incident change costs to reach the site's
// bucket on one JetStream server (file storage): the compare-and-set write
// and the wait until the view holds it, as an ack through the console
// waits. A cluster adds the replication round trip to its followers.
func BenchmarkPutSync(b *testing.B) {
	s := startStore(b, testenv.StartNATS(b, true, 0), "gw-a", nil)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("inc_%010d", i/4)
		start := time.Now()
		if err := s.Put(ctx, change(id, i%4+1, incident.Open, "north")); err != nil {
			b.Fatal(err)
		}
		if err := s.Sync(ctx, map[string]int{id: i%4 + 1}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
