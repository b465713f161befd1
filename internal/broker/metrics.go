package broker

import (
	"sync/atomic"

	"github.com/mochi-mqtt/server/v2/system"
	"github.com/prometheus/client_golang/prometheus"
)

// registerMetrics exposes mochi's own counters. They are read at scrape
// time from the running server (zero while stopped), so nothing is counted
// twice and restarts need no re-registration. The drop counters matter: they
// are where mochi's lossy paths (docs/perf-sensors.md) show up.
func (b *Broker) registerMetrics(reg prometheus.Registerer) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	read := func(f func(*system.Info) int64) func() float64 {
		return func() float64 {
			b.mu.Lock()
			srv := b.srv
			b.mu.Unlock()
			if srv == nil {
				return 0
			}
			return float64(f(srv.Info))
		}
	}
	gauge := func(name, help string, f func(*system.Info) int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, read(f))
	}
	counter := func(name, help string, f func(*system.Info) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, read(f))
	}
	reg.MustRegister(
		gauge("lanewatch_broker_clients_connected", "Clients connected to the embedded broker.",
			func(i *system.Info) int64 { return atomic.LoadInt64(&i.ClientsConnected) }),
		gauge("lanewatch_broker_inflight", "QoS messages in flight.",
			func(i *system.Info) int64 { return atomic.LoadInt64(&i.Inflight) }),
		gauge("lanewatch_broker_retained", "Retained messages held.",
			func(i *system.Info) int64 { return atomic.LoadInt64(&i.Retained) }),
		counter("lanewatch_broker_messages_received_total", "PUBLISH packets received since start.",
			func(i *system.Info) int64 { return atomic.LoadInt64(&i.MessagesReceived) }),
		counter("lanewatch_broker_messages_sent_total", "PUBLISH packets sent since start.",
			func(i *system.Info) int64 { return atomic.LoadInt64(&i.MessagesSent) }),
		counter("lanewatch_broker_messages_dropped_total", "Messages dropped because a subscriber's write queue was full.",
			func(i *system.Info) int64 { return atomic.LoadInt64(&i.MessagesDropped) }),
		counter("lanewatch_broker_inflight_dropped_total", "In-flight QoS messages dropped (quota or packet ids exhausted).",
			func(i *system.Info) int64 { return atomic.LoadInt64(&i.InflightDropped) }),
	)
}
