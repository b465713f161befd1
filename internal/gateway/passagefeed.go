package gateway

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanewatch/lanewatch/internal/logx"
	"github.com/lanewatch/lanewatch/internal/mqttbus"
)

// passageFeed publishes each passage on lanewatch/<site>/vehicles/passages
// (contract 2.3) from a queue of its own, so the gate handler never waits
// for the broker: in a cluster every QoS 1 PUBLISH is a replicated
// JetStream store, which held gate events to about 1,000/s when the
// handler published itself. The passage is already in the ledger; the
// feed is its announcement: when the broker falls behind by more than
// feedQueue passages, the newest are dropped and counted, never blocking.
type passageFeed struct {
	bus     *mqttbus.Client
	topic   string
	dropped prometheus.Counter
	errLog  *logx.Throttle

	q    chan []byte
	stop chan struct{}
	done chan struct{}
}

const (
	feedQueue    = 16384
	feedInFlight = 256 // PUBLISHes awaiting their PUBACK
)

func newPassageFeed(bus *mqttbus.Client, topic string, log *slog.Logger, reg prometheus.Registerer) (*passageFeed, error) {
	f := &passageFeed{bus: bus, topic: topic,
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "lanewatch_passage_feed_dropped_total",
			Help: "Passages not announced on MQTT because the broker was too far behind (they are in the ledger)."}),
		errLog: &logx.Throttle{Log: log, Interval: 10 * time.Second},
		q:      make(chan []byte, feedQueue), stop: make(chan struct{}), done: make(chan struct{})}
	if reg != nil {
		if err := reg.Register(f.dropped); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (f *passageFeed) Start(context.Context) error {
	go f.run()
	return nil
}

// Close announces what is queued, for at most two seconds more.
func (f *passageFeed) Close() error {
	close(f.stop)
	select {
	case <-f.done:
	case <-time.After(2 * time.Second):
	}
	return nil
}

// Publish queues one passage's JSON; it never blocks.
func (f *passageFeed) Publish(b []byte) {
	select {
	case f.q <- b:
	default:
		f.dropped.Inc()
		f.errLog.Logf(slog.LevelWarn, "passage-feed", "passages not announced on MQTT: the broker is behind (they are in the ledger)")
	}
}

func (f *passageFeed) run() {
	defer close(f.done)
	window := make(chan struct{}, feedInFlight)
	send := func(b []byte) {
		window <- struct{}{}
		f.bus.PublishAsync(f.topic, false, b, func(err error) {
			<-window
			if err != nil {
				f.errLog.Logf(slog.LevelWarn, "passage-feed-err", "passage not published", "err", err)
			}
		})
	}
	for {
		select {
		case b := <-f.q:
			send(b)
		case <-f.stop:
			for {
				select {
				case b := <-f.q:
					send(b)
				default:
					return
				}
			}
		}
	}
}
