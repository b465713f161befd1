package mqttbus

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lanewatch/lanewatch/internal/broker/brokertest"
)

// The broker forgets the gateway's subscriptions while the connection stays
// up (stood in for by an UNSUBSCRIBE the bus does not know of): the probe
// misses, /readyz would say so, every filter is subscribed again, and
// delivery resumes.
func TestProbeResubscribesDeafSession(t *testing.T) {
	for _, b := range brokertest.All {
		t.Run(b.Name, func(t *testing.T) {
			e := b.Start(t)
			c := newClient(t, e.URL, "gw-probe", nil)
			got := newCollector()
			if err := c.Subscribe(topics.Alerts(), got.handle); err != nil {
				t.Fatal(err)
			}
			start(t, c)
			reg := prometheus.NewRegistry()
			p := &Probe{Client: c, Topic: topics.GatewayStatus("gw-probe") + "/probe", Interval: 100 * time.Millisecond,
				Timeout: 400 * time.Millisecond, Registerer: reg}
			changes := make(chan error, 10)
			p.onChange = func(err error) { changes <- err }
			if err := p.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := c.Publish(ctx, topics.Alerts(), false, []byte("before")); err != nil {
				t.Fatal(err)
			}
			got.waitFor(t, 5*time.Second, "before", hasSeq("before"))
			if n := testutil.ToFloat64(p.missed); n != 0 {
				t.Fatalf("missed %v probes on a healthy session", n)
			}

			if tok := c.cli.Unsubscribe(topics.Alerts(), p.Topic); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatal(tok.Error())
			}
			for _, want := range []error{ErrProbeMissed, nil} {
				select {
				case got := <-changes:
					if got != want {
						t.Fatalf("health %v, want %v", got, want)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("health did not become %v", want)
				}
			}
			if testutil.ToFloat64(p.missed) < 1 || testutil.ToFloat64(p.resubs) < 1 {
				t.Fatalf("missed %v resubscribes %v", testutil.ToFloat64(p.missed), testutil.ToFloat64(p.resubs))
			}
			if err := c.Publish(ctx, topics.Alerts(), false, []byte("after")); err != nil {
				t.Fatal(err)
			}
			got.waitFor(t, 5*time.Second, "after, once resubscribed", hasSeq("before", "after"))
		})
	}
}
