package incidents

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/incident"
)

// BenchmarkRaise: cost to the caller (the detection loop) of Raise.
func BenchmarkRaise(b *testing.B) {
	e, err := New(EngineConfig{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	s := incident.Signal{Type: incident.Intrusion, Source: lawn, Objects: []incident.Object{{Label: "person"}}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.Raise(s)
		if len(e.sigs) > signalQueue/2 {
			b.StopTimer() // measure the call, not the queue filling up
			for len(e.sigs) > 0 {
				time.Sleep(time.Millisecond)
			}
			b.StartTimer()
		}
	}
}

// BenchmarkHandle: signals/s the engine absorbs, folding (no disk write:
// folds are coalesced) and opening (one fsynced write each).
func BenchmarkHandle(b *testing.B) {
	for _, tc := range []struct {
		name    string
		sources int
	}{{"fold", 1}, {"open", 1 << 30}} {
		b.Run(tc.name, func(b *testing.B) {
			e, err := New(EngineConfig{DataDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			if err := e.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e.handle(incident.Signal{Type: incident.Intrusion, Source: incident.Source{Camera: "c", Zone: fmt.Sprint(i % tc.sources)}})
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signals/s")
		})
	}
}
