package recording

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the recorders' and the janitor's counters; one set for all
// cameras. A nil *Metrics counts nothing.
type Metrics struct {
	bytes     *prometheus.CounterVec
	segments  *prometheus.CounterVec
	drops     *prometheus.CounterVec
	errors    *prometheus.CounterVec
	deleted   *prometheus.CounterVec
	recovers  prometheus.Counter
	diskBytes prometheus.Gauge
}

// NewMetrics registers the recording metrics with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_recording_bytes_total",
			Help: "Encoded video bytes written to recordings."}, []string{"camera"}),
		segments: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_recording_segments_total",
			Help: "Recording segments finished."}, []string{"camera"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_recording_dropped_units_total",
			Help: "Access units not recorded because the disk fell behind (the segment is cut there)."}, []string{"camera"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_recording_errors_total",
			Help: "Recording write errors (a full disk, say) by operation."}, []string{"camera", "op"}),
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_recording_deleted_segments_total",
			Help: "Segments deleted by reason: age, disk (cap or file system nearly full), events (no incident)."}, []string{"reason"}),
		recovers: prometheus.NewCounter(prometheus.CounterOpts{Name: "lanewatch_recording_recovered_segments_total",
			Help: "Segments left open by a crash or power loss and finished at start."}),
		diskBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "lanewatch_recording_disk_bytes",
			Help: "Bytes of all recordings on disk at the last sweep."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.bytes, m.segments, m.drops, m.errors, m.deleted, m.recovers, m.diskBytes} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("recording: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *Metrics) wrote(camera string, nalus [][]byte) {
	if m == nil {
		return
	}
	n := 0
	for _, b := range nalus {
		n += len(b)
	}
	m.bytes.WithLabelValues(camera).Add(float64(n))
}

func (m *Metrics) segment(camera string) {
	if m != nil {
		m.segments.WithLabelValues(camera).Inc()
	}
}

func (m *Metrics) dropped(camera string) {
	if m != nil {
		m.drops.WithLabelValues(camera).Inc()
	}
}

func (m *Metrics) failed(camera, op string) {
	if m != nil {
		m.errors.WithLabelValues(camera, op).Inc()
	}
}

func (m *Metrics) removed(reason string) {
	if m != nil {
		m.deleted.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) recovered() {
	if m != nil {
		m.recovers.Inc()
	}
}

func (m *Metrics) onDisk(n int64) {
	if m != nil {
		m.diskBytes.Set(float64(n))
	}
}
