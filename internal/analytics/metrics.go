package analytics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanewatch/lanewatch/internal/incident"
)

// metrics are the loop's Prometheus collectors, labelled with the camera.
// They are registered on Loop.Registerer (nil: a private registry) when
// the loop is set up and unregistered by Close.
type metrics struct {
	reg      prometheus.Registerer
	cols     []prometheus.Collector
	detect   prometheus.Histogram
	analysed prometheus.Counter
	skipped  prometheus.Counter
	sweeps   prometheus.Counter
	signals  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, camera string) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	labels := prometheus.Labels{"camera": camera}
	m := &metrics{
		reg: reg,
		// Buckets from 1 ms to about 1 s: HOG on a small region takes a few
		// ms, a DNN on a loaded box a few hundred.
		detect: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lanewatch_analytics_detect_seconds",
			Help: "Detector time per analysed frame it ran on.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 11)}),
		analysed: prometheus.NewCounter(prometheus.CounterOpts{Name: "lanewatch_analytics_frames_analysed_total",
			Help: "Frames analysed.", ConstLabels: labels}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "lanewatch_analytics_frames_skipped_total",
			Help: "Decoded frames the loop did not analyse (newer ones came before it was ready).", ConstLabels: labels}),
		sweeps: prometheus.NewCounter(prometheus.CounterOpts{Name: "lanewatch_analytics_sweeps_total",
			Help: "Sweeps of the zones without motion (detector on the zones to find still objects).", ConstLabels: labels}),
		signals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_analytics_signals_total",
			Help: "Signals raised by the rules (clearing signals not counted).", ConstLabels: labels}, []string{"rule"}),
	}
	cols := []prometheus.Collector{m.detect, m.analysed, m.skipped, m.sweeps, m.signals}
	for i, c := range cols {
		if err := reg.Register(c); err != nil {
			for _, done := range cols[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("analytics: camera %s: metrics: %w", camera, err)
		}
	}
	m.cols = cols
	return m, nil
}

func (m *metrics) signal(s incident.Signal) {
	if !s.Clear {
		m.signals.WithLabelValues(string(s.Type)).Inc()
	}
}

func (m *metrics) close() {
	for _, c := range m.cols {
		m.reg.Unregister(c)
	}
	m.cols = nil
}
