package cluster

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	acquired prometheus.Counter
	released *prometheus.CounterVec
	errors   prometheus.Counter
}

func newMetrics(c *Cluster, reg prometheus.Registerer) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &metrics{
		acquired: prometheus.NewCounter(prometheus.CounterOpts{Name: "lanewatch_cluster_takeovers_total",
			Help: "Cameras and gates this gateway took (at start, from a dead gateway, or handed over)."}),
		released: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_cluster_released_total",
			Help: "Cameras and gates this gateway gave up, by why (handover, lost, lease ran out, close)."}, []string{"why"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "lanewatch_cluster_kv_errors_total",
			Help: "Failed heartbeats, lease refreshes and reads of the cluster's KV."}),
	}
	reg.MustRegister(m.acquired, m.released, m.errors,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lanewatch_cluster_members",
			Help: "Gateways seen alive in the last round."}, func() float64 { return float64(len(c.Live())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lanewatch_cluster_assignments_held",
			Help: "Cameras and gates this gateway holds now."}, func() float64 { return float64(len(c.Held())) }))
	return m
}
