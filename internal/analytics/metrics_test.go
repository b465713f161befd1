package analytics_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gocv.io/x/gocv"

	"github.com/lanewatch/lanewatch/internal/analytics"
	"github.com/lanewatch/lanewatch/internal/frames"
	"github.com/lanewatch/lanewatch/internal/incident"
)

// TestLoopMetrics: the loop's collectors count what it did on real
// footage: frames analysed, detector runs (histogram), signals per rule
// matching the signals raised; a second loop for the same camera cannot
// register beside a live one, and can after Close.
func TestLoopMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	rec := &recorder{}
	l := &analytics.Loop{Camera: campus(), Raiser: rec, Registerer: reg}
	t0 := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	fr := clipFrames(t, 2)
	for i, f := range fr {
		if err := l.Process(f, t0.Add(time.Duration(i)*200*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	cam := `camera="campus"`
	if got := gather(t, reg, "lanewatch_analytics_frames_analysed_total", cam); got != float64(len(fr)) {
		t.Errorf("frames analysed %g, want %d", got, len(fr))
	}
	runs := gather(t, reg, "lanewatch_analytics_detect_seconds_count", cam)
	if runs == 0 || runs > float64(len(fr)) {
		t.Errorf("detector runs %g of %d frames", runs, len(fr))
	}
	intrusions := 0
	for _, s := range rec.got {
		if s.Type == incident.Intrusion && !s.Clear {
			intrusions++
		}
	}
	if intrusions == 0 {
		t.Fatal("no intrusion on the campus path: nothing to count")
	}
	if got := gather(t, reg, "lanewatch_analytics_signals_total", cam, `rule="intrusion"`); got != float64(intrusions) {
		t.Errorf("signals{rule=intrusion} %g, want %d", got, intrusions)
	}

	dup := &analytics.Loop{Camera: campus(), Registerer: reg}
	if err := dup.Process(fr[0], t0); err == nil || !strings.Contains(err.Error(), "metrics") {
		t.Errorf("a second loop for camera campus registered beside the first: %v", err)
	}
	dup.Close()
	l.Close()
	again := &analytics.Loop{Camera: campus(), Registerer: reg}
	defer again.Close()
	if err := again.Process(fr[0], t0); err != nil {
		t.Errorf("after Close the camera's metrics are still registered: %v", err)
	}
}

// seqSource hands out one frame under the given sequence numbers.
type seqSource struct {
	frame gocv.Mat
	seqs  []uint64
}

func (s *seqSource) Next(ctx context.Context, after uint64, dst *gocv.Mat) (frames.Info, error) {
	for len(s.seqs) > 0 && s.seqs[0] <= after {
		s.seqs = s.seqs[1:]
	}
	if len(s.seqs) == 0 {
		return frames.Info{}, frames.ErrClosed
	}
	seq := s.seqs[0]
	s.frame.CopyTo(dst)
	return frames.Info{Seq: seq, At: time.Now()}, nil
}

// TestLoopCountsSkippedFrames: frames the source moved past while the loop
// was busy (gaps in the sequence) are counted as skipped.
func TestLoopCountsSkippedFrames(t *testing.T) {
	reg := prometheus.NewRegistry()
	src := &seqSource{frame: clipFrames(t, 10)[0], seqs: []uint64{1, 2, 5, 6, 10}}
	l := &analytics.Loop{Camera: campus(), Source: src, Registerer: reg}
	l.Camera.Detect.FPS = 30 // no pacing to speak of
	defer l.Close()
	if err := l.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := gather(t, reg, "lanewatch_analytics_frames_skipped_total", `camera="campus"`); got != 5 {
		t.Errorf("skipped %g, want 5 (3-4 and 7-9)", got)
	}
	if got := gather(t, reg, "lanewatch_analytics_frames_analysed_total", `camera="campus"`); got != 5 {
		t.Errorf("analysed %g, want 5", got)
	}
}

// gather returns the value of the series of name whose labels include all
// of want ("k=\"v\""), from the text exposition of reg.
func gather(t *testing.T, reg *prometheus.Registry, name string, want ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		base := strings.TrimSuffix(name, "_count")
		if mf.GetName() != name && mf.GetName() != base {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, w := range want {
				k, v, _ := strings.Cut(w, "=")
				v = strings.Trim(v, `"`)
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}
