// Package sensorstest plays gate controllers for tests and benchmarks: MQTT
// publishers named like gates, sending contract 2.1 events at full speed.
package sensorstest

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/mqttbus"
)

// Gates connects n publishers, client ids gate-0 … gate-(n-1), to broker;
// close disconnects them. (Not at cleanup: a benchmark function runs
// several times within one testing.B, and the next run's publishers reuse
// the client ids.) Gate controllers are other devices: their store is not
// ours to measure, so they keep in-flight state in memory.
func Gates(tb testing.TB, broker string, topics mqttbus.Topics, n int) (pubs []*mqttbus.Client, close func()) {
	tb.Helper()
	quiet := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	close = func() {
		for _, c := range pubs {
			c.Close()
		}
	}
	for k := 0; k < n; k++ {
		c, err := mqttbus.New(mqttbus.Config{Broker: broker, ClientID: fmt.Sprint("gate-", k), Topics: topics, Logger: quiet})
		if err != nil {
			close()
			tb.Fatal(err)
		}
		pubs = append(pubs, c)
		if err := c.Start(ctx); err != nil {
			close()
			tb.Fatal(err)
		}
	}
	return pubs, close
}

// Publish sends payloads[i] from pubs[i mod len(pubs)] on the events topic
// of its gate (gate-k), the gates in parallel, each with at most window
// publishes awaiting their PUBACK. sent, if set, is called just before each
// publish. It returns once every publish is acknowledged by the broker (or
// failed, which fails the test): closing a publisher earlier would cut off
// PUBACKs still on their way, which is what used to make the ingest
// benchmarks fail now and then with "connection lost before Publish
// completed".
func Publish(tb testing.TB, pubs []*mqttbus.Client, topics mqttbus.Topics, payloads [][]byte, window int, sent func(i int)) {
	var wg sync.WaitGroup
	for k := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem := make(chan struct{}, window)
			topic := topics.GateEvents(fmt.Sprint("gate-", k))
			for i := k; i < len(payloads); i += len(pubs) {
				sem <- struct{}{}
				if sent != nil {
					sent(i)
				}
				pubs[k].PublishAsync(topic, false, payloads[i], func(err error) {
					if err != nil {
						tb.Error(err)
					}
					<-sem
				})
			}
			for range window {
				sem <- struct{}{} // every callback has returned
			}
		}()
	}
	wg.Wait()
}
