// Package console serves the HTTP API of contract section 6, the Server-Sent
// Events feed, MJPEG live streams and the embedded monitor wall page.
package console

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/logx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is the console. Set the fields, then Start; Close stops it.
// Cameras, Incidents, Vehicles, Outbox and Gates may be nil: their endpoints
// then answer 503.
type Server struct {
	Listen    string
	Auth      *auth.Auth
	Cameras   CameraSource
	Incidents IncidentStore
	Vehicles  VehicleLog
	// GateList lists the configured gates for GET /api/gates (the wall's
	// barrier buttons); nil: an empty list.
	GateList func() []GateInfo
	// PassageSnapshot is the JPEG stored for a vehicle passage (contract 5's
	// snapshot link); ErrNotFound when there is none. nil: 503.
	PassageSnapshot func(id string) ([]byte, error)
	Outbox          OutboxAdmin
	Gates           GateOpener
	// Recordings serves the cameras' recorded segments; nil: 503.
	Recordings Recordings
	// SitePlan is the wall's plan view (desk.go); nil: none (404).
	SitePlan *SitePlan
	// Metrics is what /metrics serves. With Registerer nil the console's own
	// metrics live in a private registry and are served beside Metrics; with
	// Registerer set they are registered there, which Metrics should gather.
	Metrics    prometheus.Gatherer
	Registerer prometheus.Registerer
	// Ready answers /readyz; nil: ready once listening.
	Ready  func() error
	MJPEG  config.MJPEG
	Logger *slog.Logger
	// Heartbeat is the SSE keep-alive interval; default 15 s.
	Heartbeat time.Duration
	// Patrol is the patrol page's parts and evidence links (patrol.go).
	Patrol Patrol
	// Site is served at GET /api/site (site.go).
	Site SiteInfo
	// Limits caps connections, streams and request times; unset fields take
	// config.DefaultConsoleLimits.
	Limits config.ConsoleLimits
	// TLS, when set, serves HTTPS with this certificate and key (PEM files).
	TLS *config.ConsoleTLS
	// Cluster serves GET /api/cluster (cluster.go).
	Cluster ClusterStatus
	// Audit serves GET /api/audit (admin, cluster.go): the newest entries
	// of the audit log, the whole site's in a cluster.
	Audit func(ctx context.Context, limit int) ([]auth.Entry, error)

	patrol  *patrolState
	log     *slog.Logger
	ln      net.Listener
	srv     *http.Server
	base    context.Context
	cancel  context.CancelFunc
	events  *eventHub
	streams *mjpegHub
	live    *streamLimiter
	errLog  *logx.Throttle
	m       *serverMetrics
	wg      sync.WaitGroup
	closeMu sync.Once
}

type serverMetrics struct {
	requests       *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	sseClients     prometheus.Gauge
	sseDropped     prometheus.Counter
	viewers        prometheus.Gauge
	encoded        *prometheus.CounterVec
	skipped        prometheus.Counter
	conns          prometheus.Gauge
	connsRefused   *prometheus.CounterVec
	streamsRefused *prometheus.CounterVec
	ownRegistry    *prometheus.Registry
}

func newServerMetrics(reg prometheus.Registerer) (*serverMetrics, error) {
	m := &serverMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanewatch_console_http_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lanewatch_console_http_request_duration_seconds",
			Help:    "Time to serve non-streaming HTTP requests by route pattern.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
		sseClients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lanewatch_console_sse_clients", Help: "Connected Server-Sent Events clients."}),
		sseDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lanewatch_console_sse_dropped_clients_total",
			Help: "SSE clients disconnected because they fell too far behind."}),
		viewers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lanewatch_console_mjpeg_viewers", Help: "Connected MJPEG viewers over all cameras."}),
		encoded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanewatch_console_mjpeg_frames_encoded_total",
			Help: "MJPEG frames JPEG-encoded, once per camera whatever the number of viewers."}, []string{"camera"}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lanewatch_console_mjpeg_frames_skipped_total",
			Help: "MJPEG frames a slow viewer did not take and skipped."}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lanewatch_console_connections", Help: "Open TCP connections to the console."}),
		connsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanewatch_console_connections_refused_total",
			Help: "Connections shed at accept by the cap that was reached (total, address)."}, []string{"reason"}),
		streamsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanewatch_console_streams_refused_total",
			Help: "SSE and MJPEG requests refused with 503 by the cap that was reached (total, user)."}, []string{"reason"}),
	}
	if reg == nil {
		m.ownRegistry = prometheus.NewRegistry()
		reg = m.ownRegistry
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.sseClients, m.sseDropped, m.viewers, m.encoded, m.skipped,
		m.conns, m.connsRefused, m.streamsRefused} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("console: register metrics: %w", err)
		}
	}
	return m, nil
}

// Start listens and serves in the background until Close or ctx ends.
func (s *Server) Start(ctx context.Context) error {
	if s.Auth == nil {
		return errors.New("console: Auth is required")
	}
	s.log = s.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.Heartbeat <= 0 {
		s.Heartbeat = 15 * time.Second
	}
	s.MJPEG = mjpegDefaults(s.MJPEG)
	s.errLog = &logx.Throttle{Log: s.log, Interval: 10 * time.Second}
	m, err := newServerMetrics(s.Registerer)
	if err != nil {
		return err
	}
	s.m = m
	s.Limits = s.Limits.WithDefaults()
	var tlsCfg *tls.Config
	if s.TLS != nil {
		cert, err := tls.LoadX509KeyPair(s.TLS.Cert, s.TLS.Key)
		if err != nil {
			return fmt.Errorf("console: tls: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	raw, err := net.Listen("tcp", s.Listen)
	if err != nil {
		return fmt.Errorf("console: listen: %w", err)
	}
	s.ln = raw
	// The cap counts TCP connections, below TLS, so that handshakes count too.
	var ln net.Listener = newLimitListener(raw, s.Limits.MaxConns, s.Limits.MaxConnsPerAddress, tlsCfg == nil, s.m)
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	s.live = newStreamLimiter(s.Limits.MaxStreams, s.Limits.MaxStreamsPerUser, s.m)
	// Streams (SSE, MJPEG) run until their request context ends; cancelling
	// the base context on Close ends them all, which Shutdown alone would not.
	s.base, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.events = newEventHub(s.m, s.log)
	s.streams = newMJPEGHub(s.Cameras, s.MJPEG, s.m, s.log)
	s.startFeeds()
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.Limits.ReadHeaderTimeout,
		ReadTimeout:       s.Limits.ReadTimeout,
		WriteTimeout:      s.Limits.WriteTimeout,
		IdleTimeout:       s.Limits.IdleTimeout,
		BaseContext:       func(net.Listener) context.Context { return s.base },
		// net/http's own lines (TLS handshake errors, bad requests) are
		// caused by clients: debug level, and throttled.
		ErrorLog: log.New(throttledWriter{s.errLog, slog.LevelDebug}, "", 0),
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("console server stopped", "err", err)
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.base.Done():
		}
	}()
	s.log.Info("console listening", "addr", ln.Addr().String(), "tls", tlsCfg != nil)
	return nil
}

// startFeeds subscribes to incident and camera changes and hands them to the
// SSE hub.
func (s *Server) startFeeds() {
	if s.Incidents != nil {
		ch, cancel := s.Incidents.Subscribe()
		forward(s, ch, cancel, "incident", func(i incident.Incident) incident.Incident { return i })
	}
	if s.Cameras != nil {
		ch, cancel := s.Cameras.SubscribeStatus()
		forward(s, ch, cancel, "camera", CameraStatus.redacted)
	}
}

// forward publishes everything from ch as SSE events of kind until ch closes
// or the server does.
func forward[T any](s *Server, ch <-chan T, cancel func(), kind string, clean func(T) T) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		for {
			select {
			case v, ok := <-ch:
				if !ok {
					return
				}
				s.events.publish(kind, clean(v))
			case <-s.base.Done():
				return
			}
		}
	}()
}

// Addr is the address the server listens on (useful with port 0).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Close stops streams, then the server, waiting up to 5 s for requests.
func (s *Server) Close() error {
	var err error
	s.closeMu.Do(func() {
		if s.cancel == nil {
			return
		}
		s.cancel()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = s.srv.Shutdown(ctx)
		s.streams.close()
		s.wg.Wait()
	})
	return err
}

// Handler is the whole console as an http.Handler, which Start serves. It
// uses what Start sets up, so call it only after Start.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	a := s.Auth
	viewer, operator, admin := a.Require(auth.Viewer), a.Require(auth.Operator), a.Require(auth.Admin)
	hf := func(f http.HandlerFunc) http.Handler { return f }

	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		auth.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.metricsHandler())

	mux.Handle("POST /api/login", a.LoginHandler())
	mux.Handle("POST /api/logout", viewer(a.LogoutHandler()))
	mux.Handle("GET /api/me", viewer(a.MeHandler()))

	mux.Handle("GET /api/cameras", viewer(hf(s.listCameras)))
	mux.Handle("GET /api/cameras/{camera}/snapshot.jpg", viewer(hf(s.cameraSnapshot)))
	mux.Handle("GET /api/cameras/{camera}/mjpeg", viewer(hf(s.mjpeg)))
	mux.Handle("GET /api/cameras/{camera}/recordings", viewer(hf(s.listRecordings)))
	mux.Handle("GET /api/cameras/{camera}/recordings/{segment}", viewer(hf(s.recordingFile)))

	mux.Handle("GET /api/incidents", viewer(hf(s.listIncidents)))
	mux.Handle("GET /api/incidents/{id}", viewer(hf(s.getIncident)))
	mux.Handle("GET /api/incidents/{id}/snapshot.jpg", viewer(hf(s.incidentSnapshot)))
	mux.Handle("GET /api/incidents/{id}/clip.mp4", viewer(hf(s.incidentClip)))
	mux.Handle("POST /api/incidents/{id}/ack", operator(hf(s.ackIncident)))
	mux.Handle("POST /api/incidents/{id}/resolve", operator(hf(s.resolveIncident)))

	mux.Handle("GET /api/events", viewer(hf(s.sse)))

	mux.Handle("GET /api/vehicles/passages", viewer(hf(s.passages)))
	mux.Handle("GET /api/vehicles/passages/{id}/snapshot.jpg", viewer(hf(s.passageSnapshot)))
	mux.Handle("GET /api/vehicles/inside", viewer(hf(s.inside)))
	mux.Handle("GET /api/vehicles/visitors", viewer(hf(s.listVisitors)))
	mux.Handle("POST /api/vehicles/visitors", operator(hf(s.addVisitor)))
	mux.Handle("DELETE /api/vehicles/visitors/{plate}", operator(hf(s.removeVisitor)))

	mux.Handle("GET /api/gates", viewer(hf(s.listGates)))
	mux.Handle("POST /api/gates/{gate}/open", operator(hf(s.openGate)))
	mux.Handle("GET /api/site/plan", viewer(hf(s.sitePlan)))
	mux.Handle("GET /api/site/{file}", viewer(hf(s.sitePlanImage)))

	mux.Handle("GET /api/outbox", admin(hf(s.listOutbox)))
	mux.Handle("POST /api/outbox/{key}/resend", admin(hf(s.resendOutbox)))
	mux.Handle("POST /api/outbox/{key}/discard", admin(hf(s.discardOutbox)))

	s.patrolRoutes(mux, viewer, operator, admin)
	mux.Handle("GET /api/site", viewer(hf(s.site)))
	mux.Handle("GET /api/cluster", admin(hf(s.clusterStatus)))
	mux.Handle("GET /api/audit", admin(hf(s.audit)))

	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		auth.WriteError(w, http.StatusNotFound, "no such endpoint for "+r.Method)
	})
	static := a.KioskHandler(staticHandler()) // /?token= opens a wall's read-only session
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			auth.WriteError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		static.ServeHTTP(w, r)
	})
	return s.instrument(securityHeaders(mux))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.Ready != nil {
		if err := s.Ready(); err != nil {
			auth.WriteError(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
			return
		}
	}
	auth.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) metricsHandler() http.Handler {
	var g prometheus.Gatherers
	if s.Metrics != nil {
		g = append(g, s.Metrics)
	}
	if s.m != nil && s.m.ownRegistry != nil {
		g = append(g, s.m.ownRegistry)
	}
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}

// securityHeaders keeps the page self-contained (the CSP forbids anything
// not served by lanewatch itself) and out of frames.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "+
			"style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

// streamingRoutes are left out of the latency histogram: they last as long
// as the viewer watches.
var streamingRoutes = map[string]bool{
	"GET /api/events":                 true,
	"GET /api/cameras/{camera}/mjpeg": true,
}

func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		route := r.Pattern // set by the ServeMux on this very request
		if route == "" {
			route = "unmatched"
		}
		s.m.requests.WithLabelValues(route, strconv.Itoa(rec.status)).Inc()
		if !streamingRoutes[route] {
			s.m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Flush and Unwrap keep streaming and http.ResponseController working through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
