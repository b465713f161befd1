package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanewatch/lanewatch/internal/component"
)

// diskHealth gathers the write failures of the stores under data_dir (disk
// full, read-only, I/O errors) and says them loudly: /readyz 503 with the
// reason, lanewatch_store_failing{store} and lanewatch_disk_full, an ERROR
// line at most every diskLogEvery per store, and a message on the gateway
// alert topic when a store starts and stops failing. The stores themselves
// keep what they could not write and try again; diskHealth only reports.
type diskHealth struct {
	g *Gateway

	mu      sync.Mutex
	failing map[string]storeFailure
	// nFailing mirrors len(failing): the gate events' goroutine reports
	// every successful batch, and that must cost nothing while all is well.
	nFailing atomic.Int64

	errs  *prometheus.CounterVec
	gauge *prometheus.GaugeVec
	full  prometheus.Gauge

	// publishes are the alerts on their way to MQTT (a store's failure is
	// reported from the failing write's goroutine, which must not wait for
	// the broker); run waits for them when it ends.
	publishes sync.WaitGroup
}

type storeFailure struct {
	err     error
	since   time.Time
	lastLog time.Time
}

const diskLogEvery = 30 * time.Second

// diskPollEvery is how often stores that keep their own error state (the
// MQTT in-flight store, incidents.db, outbox.db) are asked.
var diskPollEvery = time.Second

func newDiskHealth(g *Gateway, reg prometheus.Registerer) (*diskHealth, error) {
	d := &diskHealth{g: g, failing: map[string]storeFailure{},
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_store_errors_total",
			Help: "Failed writes of gate events and incidents to the stores under data_dir, by store (retried until stored)."}, []string{"store"}),
		gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "lanewatch_store_failing",
			Help: "1 while a store under data_dir cannot write (what it holds waits in memory, unacknowledged)."}, []string{"store"}),
		full: prometheus.NewGauge(prometheus.GaugeOpts{Name: "lanewatch_disk_full",
			Help: "1 while a store under data_dir fails with 'no space left on device'."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{d.errs, d.gauge, d.full} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	for _, s := range []string{"vehicles", "incidents", "outbox", "mqtt"} {
		d.gauge.WithLabelValues(s)
		d.errs.WithLabelValues(s)
	}
	return d, nil
}

// failed records a failed write of store (counted), or its recovery when
// err is nil.
func (d *diskHealth) failed(store string, err error) {
	if err != nil {
		d.errs.WithLabelValues(store).Inc()
	}
	d.set(store, err)
}

// set records the state of store without counting (polled stores count
// their own errors).
func (d *diskHealth) set(store string, err error) {
	if err == nil && d.nFailing.Load() == 0 {
		return
	}
	now := time.Now()
	d.mu.Lock()
	f, was := d.failing[store]
	var alert *gatewayAlert
	switch {
	case err == nil && was:
		delete(d.failing, store)
		d.g.log.Info("store writes again; what it held is stored", "store", store, "failed_for", now.Sub(f.since).Round(time.Second))
		alert = &gatewayAlert{Alert: "store_recovered", Message: store + " writes again after " + now.Sub(f.since).Round(time.Second).String()}
	case err != nil:
		if !was {
			f.since = now
			alert = &gatewayAlert{Alert: d.alertName(err), Message: store + " cannot write: " + err.Error()}
		}
		f.err = err
		if now.Sub(f.lastLog) >= diskLogEvery {
			f.lastLog = now
			d.g.log.Error("DATA_DIR: store cannot write; gate events stay unacknowledged at the broker until it can, nothing is dropped",
				"store", store, "data_dir", d.g.Config.DataDir, "failing_for", now.Sub(f.since).Round(time.Second), "err", err)
		}
		d.failing[store] = f
	}
	d.nFailing.Store(int64(len(d.failing)))
	full := false
	for _, f := range d.failing {
		full = full || errors.Is(f.err, syscall.ENOSPC)
	}
	d.mu.Unlock()
	if err != nil {
		d.gauge.WithLabelValues(store).Set(1)
	} else {
		d.gauge.WithLabelValues(store).Set(0)
	}
	d.full.Set(b2f(full))
	if alert != nil {
		d.publishes.Add(1)
		go func() { defer d.publishes.Done(); d.publish(*alert) }()
	}
}

func (d *diskHealth) alertName(err error) string {
	if errors.Is(err, syscall.ENOSPC) {
		return "disk_full"
	}
	return "store_failing"
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// publish sends a on the gateway alert topic. Not waited for by callers:
// the MQTT store may be failing too, and paho still sends while connected.
func (d *diskHealth) publish(a gatewayAlert) {
	if d.g.Bus == nil {
		return
	}
	a.Gateway, a.At = d.g.Config.GatewayID, time.Now()
	b, _ := json.Marshal(a)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.g.Bus.Publish(ctx, gatewayAlertsTopic(d.g.Topics, d.g.Config.GatewayID), false, b); err != nil {
		d.g.log.Warn("store alert not published", "alert", a.Alert, "err", err)
	}
}

// err is /readyz's answer: nil, or which stores fail and why.
func (d *diskHealth) err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.failing) == 0 {
		return nil
	}
	names := make([]string, 0, len(d.failing))
	for s := range d.failing {
		names = append(names, s)
	}
	sort.Strings(names)
	f := d.failing[names[0]]
	what := "store cannot write"
	if errors.Is(f.err, syscall.ENOSPC) {
		what = "data_dir full"
	}
	return fmt.Errorf("%s: %v failing since %s: %s: %v", what, names, f.since.UTC().Format(time.RFC3339), names[0], f.err)
}

// run polls the stores that keep their own error state.
func (d *diskHealth) run(ctx context.Context) error {
	defer d.publishes.Wait()
	return component.Every(ctx, diskPollEvery, d.poll)
}

// poll asks the stores that report their own write failures.
func (d *diskHealth) poll() {
	if d.g.Bus != nil {
		d.set("mqtt", d.g.Bus.StoreErr())
	}
	if d.g.Incidents != nil {
		d.set("incidents", d.g.Incidents.StoreErr())
	}
	if d.g.Outbox != nil {
		d.set("outbox", d.g.Outbox.StoreErr())
	}
}

func (g *Gateway) startDiskHealth(ctx context.Context) error {
	d, err := newDiskHealth(g, g.Registry)
	if err != nil {
		return err
	}
	g.disk = d
	return g.use(ctx, component.Named("disk health", component.Run(d.run)))
}
