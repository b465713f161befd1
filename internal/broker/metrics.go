package broker

import (
	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	denied *prometheus.CounterVec
	stuck  prometheus.Counter
}

// newMetrics registers the broker's metrics. The server's own counters are
// read at scrape time from the running server (zero while stopped), so
// nothing is counted twice.
func newMetrics(b *Broker, reg prometheus.Registerer) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &metrics{
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanewatch_mqtt_denied_total",
			Help: "MQTT publishes and subscriptions the embedded broker refused because they are outside the client's role.",
		}, []string{"user", "action"}),
		stuck: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lanewatch_broker_stream_stepdowns_total",
			Help: "Stream leaderships this broker gave up because a follower on a live gateway was not catching up.",
		}),
	}
	reg.MustRegister(m.denied, m.stuck)
	varz := func(f func(*server.Varz) float64) func() float64 {
		return func() float64 {
			srv := b.server()
			if srv == nil {
				return 0
			}
			v, err := srv.Varz(nil)
			if err != nil {
				return 0
			}
			return f(v)
		}
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lanewatch_broker_clients_connected", Help: "Clients connected to the embedded broker."},
			varz(func(v *server.Varz) float64 { return float64(v.Connections) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lanewatch_broker_messages_received_total", Help: "Messages received from clients since start."},
			varz(func(v *server.Varz) float64 { return float64(v.InMsgs) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lanewatch_broker_messages_sent_total", Help: "Messages sent to clients since start."},
			varz(func(v *server.Varz) float64 { return float64(v.OutMsgs) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lanewatch_broker_slow_consumers_total", Help: "Clients the broker cut off because they did not keep up."},
			varz(func(v *server.Varz) float64 { return float64(v.SlowConsumers) })),
	)
	return m
}
