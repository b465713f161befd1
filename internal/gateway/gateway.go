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
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/lanewatch/lanewatch/internal/alerts"
	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/broker"
	"github.com/lanewatch/lanewatch/internal/buildinfo"
	"github.com/lanewatch/lanewatch/internal/camsim"
	"github.com/lanewatch/lanewatch/internal/cluster"
	"github.com/lanewatch/lanewatch/internal/component"
	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/detect"
	"github.com/lanewatch/lanewatch/internal/evidence"
	"github.com/lanewatch/lanewatch/internal/gatejs"
	"github.com/lanewatch/lanewatch/internal/gaterules"
	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/lanewatch/lanewatch/internal/influx"
	"github.com/lanewatch/lanewatch/internal/mqttbus"
	"github.com/lanewatch/lanewatch/internal/notify"
	"github.com/lanewatch/lanewatch/internal/onvif"
	"github.com/lanewatch/lanewatch/internal/outbox"
	"github.com/lanewatch/lanewatch/internal/recording"
	"github.com/lanewatch/lanewatch/internal/sensors"
	"github.com/lanewatch/lanewatch/internal/siteledger"
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
	Cluster   *cluster.Cluster    // with cluster: (cluster.go)
	Detector  *detect.Pool        // nil without a detector model
	ONVIF     []*onvif.Subscriber // cameras' event subscriptions (onvif.go)

	// NotifyKinds adds sender kinds to notify[] (webpush); Links, when set,
	// gives the signed evidence link of messages and alerts (notify.go).
	NotifyKinds map[string]notify.Kind
	Links       notify.LinkFunc
	// PushClient, when set, makes the Web Push requests (tests: a push
	// service stand-in with its own certificate).
	PushClient *http.Client

	gateRules  *gaterules.Rules
	up         atomic.Bool // every component started: /readyz may say ready
	recorders  map[string]*recording.Recorder
	recMetrics *recording.Metrics
	disk       *diskHealth
	alerts     *alerts.Alerts
	probe      *mqttbus.Probe
	patrol     console.Patrol                    // patrol.go
	siteAudit  atomic.Pointer[auditStream]       // in a cluster, once joined (audit.go)
	siteInside atomic.Pointer[siteledger.Inside] // in a cluster, once joined (siteledger.go)
	passages   *passageFeed                      // passages announced on MQTT (passagefeed.go)
	siteView   *siteView                         // in a cluster: the whole site's incidents, peers (siteview.go)

	js jetstream.JetStream // the outbox streams' client, in a cluster (outbox_cluster.go)

	log      *slog.Logger
	stopping chan struct{} // closed when shutdown begins
	// comps is every running component, in start order; shutdown closes
	// them in reverse, so inputs (started last) stop before the outputs
	// they feed.
	comps component.List

	gateSource *gatejs.Source // cluster: gate events from JetStream (gatejs.go)
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
	g.comps.Logger = g.log
	g.comps.Timeout = ShutdownTimeout

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

// use starts components and adds them to the gateway's list (see comps).
// A step adds each component after those it depends on.
func (g *Gateway) use(ctx context.Context, items ...component.Item) error {
	return g.comps.Start(ctx, items...)
}

// owns adds something its constructor opened (a store, a pool) to the list,
// so that it is closed in turn.
func (g *Gateway) owns(name string, closeFn func() error) error {
	return g.comps.Start(context.Background(), component.Named(name, component.Func{OnClose: closeFn}))
}

// shutdown closes the components in reverse start order within
// ShutdownTimeout. Only a component that did not stop in time makes it
// fail; other errors of Close are logged by the list.
func (g *Gateway) shutdown(cancelRun context.CancelFunc) error {
	close(g.stopping)
	err := g.comps.Close()
	cancelRun()
	var late []error
	for _, e := range unjoin(err) {
		if errors.Is(e, component.ErrTimeout) {
			late = append(late, fmt.Errorf("shutdown: %w", e))
		}
	}
	return errors.Join(late...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
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
		{"cluster", g.startCluster},
		{"cluster gate events", g.startGateEvents},
		{"evidence", g.startEvidence},
		{"incidents", g.startIncidents},
		{"outbox", g.startOutbox},
		{"patrol keys", g.startPatrol},
		{"notify", g.startNotify},
		{"influx", g.startInflux},
		{"alerts", g.startAlerts},
		{"site incidents", g.startSiteIncidents},
		// Started after its consumers subscribed (nothing raises signals
		// before), so that it stops before them, flushing its last changes
		// to the outbox, notify, InfluxDB and alerts.
		{"incidents engine", func(ctx context.Context) error { return g.use(ctx, component.Named("incidents", g.Incidents)) }},
		{"vehicles", g.startVehicles},
		{"gate rules", g.startGateRules},
		{"recording", g.startRecording},
		{"cameras", g.startCameras},
		{"onvif events", g.startONVIF},
		{"disk health", g.startDiskHealth},
		{"console", g.startConsole},
		{"peer service", g.startPeers},
		{"mqtt commands", g.startMQTTCommands},
		{"mqtt probe", g.startMQTTProbe},
		{"sensors", g.startSensors},
		{"admit devices", g.admitDevices},
		// Last: it starts the cameras and gates this gateway holds, and
		// (closing first) stops and releases them before anything else stops.
		{"cluster join", g.joinCluster},
		{"demo gate traffic", g.startGateSim},
	}
	for _, s := range steps {
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	g.up.Store(true)
	return nil
}

// admitDevices opens the embedded broker to devices now that the gateway's
// subscriptions are in place: what a gate publishes from now on has a
// subscriber (a first start has no persistent session to queue it in).
func (g *Gateway) admitDevices(context.Context) error {
	if g.Broker != nil {
		g.Broker.Admit()
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
	return g.use(ctx, component.Named("camsim", g.Camsim))
}

func (g *Gateway) startMQTT(ctx context.Context) error {
	m := g.Config.MQTT
	brokerURL, user, pass := m.Broker, m.Username, m.Password
	if m.Broker == "embedded" {
		b, cred, err := g.newBroker()
		if err != nil {
			return err
		}
		if err := g.use(ctx, component.Named("embedded broker", b)); err != nil {
			return err
		}
		g.Broker = b
		brokerURL, user, pass = b.URL(), cred.Username, cred.Password
	}
	bus, err := mqttbus.New(mqttbus.Config{
		Broker: brokerURL, ClientID: m.ClientID, Username: user, Password: pass,
		TLS:    mqttbus.TLS{CAFile: m.CAFile, CertFile: m.CertFile, KeyFile: m.KeyFile},
		Topics: g.Topics, GatewayID: g.Config.GatewayID, DataDir: g.Config.DataDir,
		Volatile: []string{g.Topics.Passages()}, // passageFeed queues in memory
		Logger:   g.log, Registerer: g.Registry,
	})
	if err != nil {
		return err
	}
	if err := g.use(ctx, component.Named("mqtt client", bus)); err != nil {
		return err
	}
	g.Bus = bus
	return nil
}

func (g *Gateway) startEvidence(ctx context.Context) error {
	e := g.Config.Evidence
	st, err := evidence.Open(evidence.Config{Dir: g.path("evidence"), Retention: e.Retention, MaxBytes: e.MaxBytes,
		SweepEvery: time.Hour, Logger: g.log, Registerer: g.Registry})
	if err != nil {
		return err
	}
	g.Evidence = st
	return g.use(ctx, component.Named("evidence", st))
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
		Logger: g.log, Registerer: g.Registry, Journal: g.outboxJournal("outbox", "tickets")})
	if err != nil {
		return err
	}
	g.Outbox = ob
	// Every incident change becomes a ticket (contract 4); the follower
	// enqueues each (fsynced before it counts) with the snapshot on all but folds.
	return g.use(ctx, component.Named("outbox", ob), component.Named("outbox follow", ob.Follower(g.Incidents, g.Evidence.Snapshot)))
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
	if err := g.use(ctx, component.Named("influx", w)); err != nil {
		return err
	}
	g.Influx = w
	f := &incidents.Follower{Name: "influx", Source: g.Incidents, Logger: g.log, Handle: func(_ context.Context, ch incidents.Change) error {
		if ch.Kind == incidents.Opened {
			w.Incident(ch.Incident)
		}
		return nil
	}}
	return g.use(ctx, component.Named("influx follow", f))
}

func (g *Gateway) startVehicles(ctx context.Context) error {
	l, err := vehicles.Open(vehicles.Config{DataDir: g.Config.DataDir, Site: g.Config.Site.ID, Vehicles: g.Config.Vehicles,
		Location: g.Config.Location(), Logger: g.log, Registerer: g.Registry})
	if err != nil {
		return err
	}
	g.Vehicles = l
	return g.use(ctx, component.Named("vehicles", l))
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
	in := &sensors.Ingest{Bus: g.gateEventBus(), Topics: g.Topics, Decoder: &sensors.Decoder{Salt: salt},
		Handle: g.handleGateEvent, HandleBatch: g.handleGateEvents, Gates: gates, Logger: g.log, Registerer: g.Registry}
	if err := g.use(ctx, component.Named("sensors", in)); err != nil {
		return err
	}
	g.Sensors = in
	return nil
}

func (g *Gateway) startAlerts(ctx context.Context) error {
	a, err := alerts.New(alerts.Config{Bus: g.Bus, Topics: g.Topics, Engine: g.Incidents,
		EscalationTopic: g.Config.Incidents.EscalationTopic, Extra: g.alertExtra(), IdentifiedCommands: g.Broker != nil,
		Logger: g.log, Registerer: g.Registry})
	if err != nil {
		return err
	}
	if err := g.use(ctx, component.Named("alerts", a)); err != nil {
		return err
	}
	g.alerts = a
	return nil
}
