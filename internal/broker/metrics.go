package broker

import (
	"sync/atomic"

	"github.com/mochi-mqtt/server/v2/system"
	"github.com/prometheus/client_golang/prometheus"
)

// brokerMetrics maps mochi's own counters to metric names.
var brokerMetrics = []struct {
	name, help string
	counter    bool
	field      func(*system.Info) *int64
}{
	{"lanewatch_broker_clients_connected", "Clients connected to the embedded broker.", false,
		func(i *system.Info) *int64 { return &i.ClientsConnected }},
	{"lanewatch_broker_inflight", "QoS messages in flight.", false,
		func(i *system.Info) *int64 { return &i.Inflight }},
	{"lanewatch_broker_retained", "Retained messages held.", false,
		func(i *system.Info) *int64 { return &i.Retained }},
	{"lanewatch_broker_messages_received_total", "PUBLISH packets received since start.", true,
		func(i *system.Info) *int64 { return &i.MessagesReceived }},
	{"lanewatch_broker_messages_sent_total", "PUBLISH packets sent since start.", true,
		func(i *system.Info) *int64 { return &i.MessagesSent }},
	{"lanewatch_broker_messages_dropped_total", "Messages dropped because a subscriber's write queue was full.", true,
		func(i *system.Info) *int64 { return &i.MessagesDropped }},
	{"lanewatch_broker_inflight_dropped_total", "In-flight QoS messages dropped (quota or packet ids exhausted).", true,
		func(i *system.Info) *int64 { return &i.InflightDropped }},
}

// registerMetrics exposes mochi's counters. They are read at scrape time
// from the running server (zero while stopped), so nothing is counted twice.
// The drop counters matter: they are where mochi's lossy paths
// (docs/perf-sensors.md) show up.
func (b *Broker) registerMetrics(reg prometheus.Registerer) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	for _, m := range brokerMetrics {
		read := func() float64 {
			b.mu.Lock()
			srv := b.srv
			b.mu.Unlock()
			if srv == nil {
				return 0
			}
			return float64(atomic.LoadInt64(m.field(srv.Info)))
		}
		if m.counter {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: m.name, Help: m.help}, read))
		} else {
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: m.name, Help: m.help}, read))
		}
	}
}
