// Package gateway wires lanewatch's components together for `lanewatch run`:
// it builds them from the configuration in data-path order, starts them under
// one context, and on SIGINT/SIGTERM stops the inputs first and then flushes
// the outputs (incidents, alerts, outbox, InfluxDB) within the contract's 10 s.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/lanewatch/lanewatch/internal/alerts"
	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/broker"
	"github.com/lanewatch/lanewatch/internal/buildinfo"
	"github.com/lanewatch/lanewatch/internal/camsim"
	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/detect"
	"github.com/lanewatch/lanewatch/internal/evidence"
	"github.com/lanewatch/lanewatch/internal/gaterules"
	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/lanewatch/lanewatch/internal/influx"
	"github.com/lanewatch/lanewatch/internal/mqttbus"
	"github.com/lanewatch/lanewatch/internal/notify"
	"github.com/lanewatch/lanewatch/internal/onvif"
	"github.com/lanewatch/lanewatch/internal/outbox"
	"github.com/lanewatch/lanewatch/internal/recording"
	"github.com/lanewatch/lanewatch/internal/sensors"
	"github.com/lanewatch/lanewatch/internal/vehicles"
)

// ShutdownTimeout bounds the whole shutdown; the contract gives 10 s.
const ShutdownTimeout = 8 * time.Second

// Gateway is one running lanewatch. Set Config (and optionally Logger), then Run.
type Gateway struct {
	Config     *config.Config
	ConfigPath string
	Logger     *slog.Logger

	// Started, when set, is called once every component is up (tests).
	Started func(*Gateway)

	Registry  *prometheus.Registry
	Topics    mqttbus.Topics
	Broker    *broker.Broker
	Bus       *mqttbus.Client
	Evidence  *evidence.Store
	Incidents *incidents.Engine
	Outbox    *outbox.Outbox
	Notifier  *notify.Notifier
	Influx    *influx.Writer
	Vehicles  *vehicles.Log
	Sensors   *sensors.Ingest
	Auth      *auth.Auth
	Console   *console.Server
	Camsim    *camsim.Server
	Cameras   *Cameras
	Detector  *detect.Pool        // nil without a detector model
	ONVIF     []*onvif.Subscriber // cameras' event subscriptions (onvif.go)

	// NotifyKinds adds sender kinds to notify[] (webpush); Links, when set,
	// gives the signed evidence link of messages and alerts (notify.go).
	NotifyKinds map[string]notify.Kind
	Links       notify.LinkFunc
	// PushClient, when set, makes the Web Push requests (tests: a push
	// service stand-in with its own certificate).
	PushClient *http.Client

	gateRules *gaterules.Rules
	recorders map[string]*recording.Recorder
	disk      *diskHealth
	alerts    *alerts.Alerts
	probe     *mqttbus.Probe
	patrol    console.Patrol // patrol.go

	log      *slog.Logger
	stopping chan struct{} // closed when shutdown begins
	wg       sync.WaitGroup
	closers  []closer
}

type closer struct {
	name string
	fn   func() error
}

// Run starts everything, blocks until ctx ends, then shuts down. It returns
// nil after a clean shutdown.
func (g *Gateway) Run(ctx context.Context) error {
	g.log = g.Logger
	if g.log == nil {
		g.log = slog.Default()
	}
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()
	g.stopping = make(chan struct{})

	err := g.start(runCtx)
	if err == nil {
		g.log.Info("lanewatch running", "site", g.Config.Site.ID, "site_name", g.Config.Site.Name, "gateway", g.Config.GatewayID,
			"console", g.consoleAddr(), "cameras", len(g.Config.Cameras), "gates", len(g.Config.Gates))
		if g.Started != nil {
			g.Started(g)
		}
		<-ctx.Done()
		g.log.Info("lanewatch stopping")
	}
	shutdownErr := g.shutdown(cancelRun)
	if err != nil {
		return err
	}
	return shutdownErr
}

func (g *Gateway) consoleAddr() string {
	if g.Console != nil {
		return g.Console.Addr()
	}
	return ""
}

// onClose registers a stop step; they run in reverse order of registration,
// so inputs (registered last) stop before the outputs they feed.
func (g *Gateway) onClose(name string, fn func() error) {
	g.closers = append(g.closers, closer{name, fn})
}

// goRun runs a component's Run method until the run context ends.
func (g *Gateway) goRun(name string, fn func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := fn(); err != nil && !errors.Is(err, context.Canceled) {
			g.log.Error("component stopped", "component", name, "err", err)
		}
	}()
}

func (g *Gateway) shutdown(cancelRun context.CancelFunc) error {
	close(g.stopping)
	deadline := time.Now().Add(ShutdownTimeout)
	var errs []error
	for i := len(g.closers) - 1; i >= 0; i-- {
		c := g.closers[i]
		if time.Now().After(deadline) {
			errs = append(errs, fmt.Errorf("shutdown: no time left for %s", c.name))
			continue
		}
		done := make(chan error, 1)
		go func() { done <- c.fn() }()
		select {
		case err := <-done:
			if err != nil {
				g.log.Warn("stopping component", "component", c.name, "err", err)
			}
		case <-time.After(time.Until(deadline)):
			errs = append(errs, fmt.Errorf("shutdown: %s did not stop in time", c.name))
		}
	}
	cancelRun()
	waited := make(chan struct{})
	go func() { g.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(time.Until(deadline) + time.Second):
		errs = append(errs, errors.New("shutdown: components still running"))
	}
	return errors.Join(errs...)
}

func (g *Gateway) start(ctx context.Context) error {
	cfg := g.Config
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	bi := buildinfo.Get()
	g.log.Info("lanewatch starting", "version", bi.Version, "opencv", bi.OpenCV, "ffmpeg", bi.FFmpeg, "data_dir", cfg.DataDir)

	g.Registry = prometheus.NewRegistry()
	g.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	g.Topics = mqttbus.Topics{Prefix: cfg.MQTT.TopicPrefix, Site: cfg.Site.ID}

	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"demo camera simulator", g.startCamsim},
		{"broker store check", g.checkBrokerStore},
		{"mqtt", g.startMQTT},
		{"evidence", g.startEvidence},
		{"incidents", g.startIncidents},
		{"outbox", g.startOutbox},
		{"patrol keys", g.startPatrol},
		{"notify", g.startNotify},
		{"influx", g.startInflux},
		{"alerts", g.startAlerts},
		// Closers run in reverse: the engine stops (flushing its last changes)
		// before the outbox, InfluxDB and alerts that consume them.
		{"incidents close order", func(context.Context) error { g.onClose("incidents", g.Incidents.Close); return nil }},
		{"vehicles", g.startVehicles},
		{"gate rules", g.startGateRules},
		{"recording", g.startRecording},
		{"cameras", g.startCameras},
		{"onvif events", g.startONVIF},
		{"disk health", g.startDiskHealth},
		{"console", g.startConsole},
		{"mqtt commands", g.startMQTTCommands},
		{"mqtt probe", g.startMQTTProbe},
		{"sensors", g.startSensors},
		{"demo gate traffic", g.startGateSim},
	}
	for _, s := range steps {
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

func (g *Gateway) path(name string) string { return filepath.Join(g.Config.DataDir, name) }

func (g *Gateway) startCamsim(ctx context.Context) error {
	d := g.Config.Demo
	if d == nil || d.Camsim == "" || len(d.Clips) == 0 {
		return nil
	}
	g.Camsim = &camsim.Server{Listen: d.Camsim, Streams: d.Clips, Logger: g.log.With("component", "camsim"), UDPRTPPort: -1}
	if err := g.Camsim.Start(ctx); err != nil {
		return err
	}
	g.onClose("camsim", g.Camsim.Close)
	return nil
}

func (g *Gateway) startMQTT(ctx context.Context) error {
	m := g.Config.MQTT
	brokerURL, user, pass := m.Broker, m.Username, m.Password
	if m.Broker == "embedded" {
		b, cred, err := g.newBroker()
		if err != nil {
			return err
		}
		if err := b.Start(ctx); err != nil {
			return err
		}
		g.Broker = b
		g.onClose("embedded broker", b.Close)
		brokerURL, user, pass = b.URL(), cred.Username, cred.Password
	}
	bus, err := mqttbus.New(mqttbus.Config{
		Broker: brokerURL, ClientID: m.ClientID, Username: user, Password: pass,
		TLS:    mqttbus.TLS{CAFile: m.CAFile, CertFile: m.CertFile, KeyFile: m.KeyFile},
		Topics: g.Topics, GatewayID: g.Config.GatewayID, DataDir: g.Config.DataDir,
		Logger: g.log, Registerer: g.Registry,
	})
	if err != nil {
		return err
	}
	if err := bus.Start(ctx); err != nil {
		return err
	}
	g.Bus = bus
	g.onClose("mqtt client", bus.Close)
	return nil
}

func (g *Gateway) startEvidence(ctx context.Context) error {
	e := g.Config.Evidence
	st, err := evidence.Open(evidence.Config{Dir: g.path("evidence"), Retention: e.Retention, MaxBytes: e.MaxBytes,
		Logger: g.log, Registerer: g.Registry})
	if err != nil {
		return err
	}
	g.Evidence = st
	g.onClose("evidence", st.Close)
	g.goRun("evidence", func() error { st.Run(ctx, time.Hour); return nil })
	return nil
}

func (g *Gateway) startIncidents(ctx context.Context) error {
	eng, err := incidents.New(incidents.EngineConfig{Site: g.Config.Site.ID, Incidents: g.Config.Incidents, DataDir: g.Config.DataDir,
		Evidence: g.Evidence, Logger: g.log, Registerer: g.Registry, PlateRetention: g.Config.Vehicles.Retention})
	if err != nil {
		return err
	}
	g.Incidents = eng
	g.Evidence.SetIsOpen(eng.IsOpen)
	return nil
}

func (g *Gateway) startOutbox(ctx context.Context) error {
	p := g.Config.Platform
	if p == nil || p.URL == "" {
		return nil
	}
	ob, err := outbox.Open(outbox.Config{Path: g.path("outbox.db"), Platform: *p, MaxBytes: g.Config.Outbox.MaxBytes,
		ShutdownTimeout: 3 * time.Second, OnFull: g.outboxFull, Localize: g.localizer().Localize,
		Logger: g.log, Registerer: g.Registry})
	if err != nil {
		return err
	}
	g.Outbox = ob
	g.onClose("outbox", ob.Close)
	g.goRun("outbox", func() error { return ob.Run(ctx) })
	// Every incident change becomes a ticket (contract 4); the follower
	// enqueues each (fsynced before it counts) with the snapshot on all but folds.
	f := ob.Follower(g.Incidents, g.Evidence.Snapshot)
	if err := f.Start(ctx); err != nil {
		return err
	}
	g.onClose("outbox follow", f.Close)
	return nil
}

func (g *Gateway) startInflux(ctx context.Context) error {
	in := g.Config.Influx
	if in == nil || in.URL == "" {
		return nil
	}
	w, err := influx.New(influx.Config{URL: in.URL, Token: in.Token, Org: in.Org, Bucket: in.Bucket, Site: g.Config.Site.ID,
		BufferPoints: in.BufferPoints, CloseTimeout: 3 * time.Second,
		Logger: g.log, Registerer: g.Registry})
	if err != nil {
		return err
	}
	w.Start(ctx)
	g.Influx = w
	g.onClose("influx", w.Close)
	f := &incidents.Follower{Name: "influx", Source: g.Incidents, Logger: g.log, Handle: func(_ context.Context, ch incidents.Change) error {
		if ch.Kind == incidents.Opened {
			w.Incident(ch.Incident)
		}
		return nil
	}}
	if err := f.Start(ctx); err != nil {
		return err
	}
	g.onClose("influx follow", f.Close)
	return nil
}

func (g *Gateway) startVehicles(ctx context.Context) error {
	l, err := vehicles.Open(vehicles.Config{DataDir: g.Config.DataDir, Site: g.Config.Site.ID, Vehicles: g.Config.Vehicles,
		Location: g.Config.Location(), Logger: g.log, Registerer: g.Registry})
	if err != nil {
		return err
	}
	g.Vehicles = l
	g.onClose("vehicles", l.Close)
	g.goRun("vehicles", func() error { return l.Run(ctx) })
	return nil
}

func (g *Gateway) startSensors(ctx context.Context) error {
	salt, err := sensors.LoadOrCreateSalt(g.path("credential.salt"))
	if err != nil {
		return err
	}
	gates := []string{} // not nil: with no gates configured every gate is unknown
	for _, gt := range g.Config.Gates {
		gates = append(gates, gt.ID)
	}
	in := &sensors.Ingest{Bus: g.Bus, Topics: g.Topics, Decoder: &sensors.Decoder{Salt: salt},
		Handle: g.handleGateEvent, HandleBatch: g.handleGateEvents, Gates: gates, Logger: g.log, Registerer: g.Registry}
	if err := in.Start(ctx); err != nil {
		return err
	}
	g.Sensors = in
	g.onClose("sensors", in.Close)
	return nil
}

func (g *Gateway) startAlerts(ctx context.Context) error {
	a, err := alerts.New(alerts.Config{Bus: g.Bus, Topics: g.Topics, Engine: g.Incidents,
		EscalationTopic: g.Config.Incidents.EscalationTopic, Extra: g.alertExtra(), IdentifiedCommands: g.Broker != nil,
		Logger: g.log, Registerer: g.Registry})
	if err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		return err
	}
	g.onClose("alerts", a.Close)
	g.alerts = a
	return nil
}
