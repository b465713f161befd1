package mqttbus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/logx"
	contract "github.com/lanewatch/lanewatch/internal/topics"
)

// ErrQueued is returned by Publish when the context ended before the broker
// acknowledged the message. The message is NOT lost: paho keeps it in its
// store (on disk under DataDir) and sends it when the connection is back, also
// after a restart of the gateway. Callers that must know about delivery treat
// it as "accepted, not yet confirmed".
var ErrQueued = errors.New("mqttbus: not yet acknowledged by the broker; queued for sending on reconnect")

// ErrClosed is returned by Publish before Start and after Close, and by
// Start after Close: a Client is not restartable.
var ErrClosed = errors.New("mqttbus: client not running")

// ConfigError reports an unusable client configuration.
type ConfigError struct {
	Field string
	Err   error
}

func (e *ConfigError) Error() string { return "mqttbus: " + e.Field + ": " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// TLS names the PEM files for ssl:// and mqtts:// brokers. CAFile empty: the
// system roots. CertFile and KeyFile: client certificate, both or neither.
type TLS struct {
	CAFile, CertFile, KeyFile string
}

// Config configures a Client.
type Config struct {
	// Broker is tcp://, ssl://, mqtt:// or mqtts:// host:port.
	Broker string
	// ClientID must be stable across restarts: the broker keys the persistent
	// session (subscriptions, queued QoS 1 messages) on it.
	ClientID           string
	Username, Password string
	TLS                TLS
	Topics             Topics
	// GatewayID names the status topic that carries online / offline (will).
	GatewayID string
	// DataDir holds mqtt-store/, paho's persistent in-flight store. Empty: an
	// in-memory store (tests, benchmarks); in-flight messages are then lost
	// when the process dies.
	DataDir string
	// Volatile topics' QoS 1 publishes wait for their PUBACK in memory,
	// not in mqtt-store/: for a publisher that is best-effort anyway (the
	// passage feed), a file per message is cost without durability.
	Volatile   []string
	Logger     *slog.Logger
	Registerer prometheus.Registerer

	// MaxReconnectInterval caps the back-off between reconnect attempts
	// (default 10 s): a gate event that waits longer than that is stale.
	MaxReconnectInterval time.Duration
	// QueueSize bounds each subscription's delivery queue (default 4096).
	QueueSize int
	// MaxBatch bounds the messages handed to a SubscribeBatch handler in one
	// call (default 512). The broker's in-flight window (Mosquitto's
	// max_inflight_messages) bounds it further.
	MaxBatch int
	// CloseTimeout bounds how long Close waits for running handlers
	// (default 5 s, inside the contract's 10 s shutdown).
	CloseTimeout time.Duration
	// Dial, when set, opens the network connection for tcp:// and mqtt://
	// brokers instead of net.Dialer. Tests use it to cut connections the way
	// a network failure would.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Client is the paho-based Bus. Create with New, then Start; stop with Close.
type Client struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	cli     paho.Client
	status  string     // GatewayStatus topic, "" when GatewayID is empty
	store   *FileStore // nil without DataDir

	mu      sync.Mutex
	subs    map[string]*subscription
	running bool
	closed  bool
	stopped chan struct{}
	wg      sync.WaitGroup
	// ready is closed once a connection has been made with every
	// subscription registered before Start in place.
	ready     chan struct{}
	readyOnce sync.Once

	lastStoreLog atomic.Int64 // unix ns of the last store ERROR line
	early        early        // messages that came before their subscription
}

// DefaultMaxBatch is Config.MaxBatch's default.
const DefaultMaxBatch = 512

// subscription delivers the messages of one filter in order on its own
// worker goroutine, so a slow handler holds up only its own subscription.
type subscription struct {
	filter string
	h      BatchHandler
	max    int // messages per handler call: 1 for Subscribe
	queue  chan paho.Message
	// stopped releases a paho callback blocked on a full queue at Close.
	stopped <-chan struct{}
	// detached ends local delivery (Detach); done is closed when the
	// worker has returned.
	detached   chan struct{}
	detachOnce sync.Once
	done       chan struct{}
}

// New validates cfg and builds the client; nothing connects until Start.
func New(cfg Config) (*Client, error) {
	if cfg.ClientID == "" {
		return nil, &ConfigError{Field: "client_id", Err: errors.New("required (a stable id keeps the persistent session)")}
	}
	u, err := brokerURL(cfg.Broker)
	if err != nil {
		return nil, &ConfigError{Field: "broker", Err: err}
	}
	if cfg.MaxReconnectInterval <= 0 {
		cfg.MaxReconnectInterval = 10 * time.Second
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 4096
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = 5 * time.Second
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	c := &Client{
		cfg:     cfg,
		log:     log.With("component", "mqttbus", "broker", logx.RedactURL(u.String()), "client_id", cfg.ClientID),
		metrics: newMetrics(cfg.Registerer),
		subs:    map[string]*subscription{},
		stopped: make(chan struct{}),
		ready:   make(chan struct{}),
	}
	if cfg.GatewayID != "" {
		c.status = cfg.Topics.GatewayStatus(cfg.GatewayID)
	}

	o := paho.NewClientOptions()
	o.AddBroker(u.String())
	o.SetClientID(cfg.ClientID)
	o.SetUsername(cfg.Username)
	o.SetPassword(cfg.Password)
	o.SetProtocolVersion(4)
	// A persistent session: the broker keeps our subscriptions and queues QoS 1
	// messages for us while we are away (restart, network cut). With a clean
	// session every gate event sent during an outage would be dropped.
	o.SetCleanSession(false)
	// The initial connect is retried too: the gateway may boot before the
	// broker, and Start must not fail for that.
	o.SetConnectRetry(true)
	o.SetConnectRetryInterval(time.Second)
	o.SetAutoReconnect(true)
	o.SetMaxReconnectInterval(cfg.MaxReconnectInterval)
	o.SetConnectTimeout(10 * time.Second)
	o.SetKeepAlive(30 * time.Second)
	o.SetWriteTimeout(10 * time.Second)
	// Subscriptions are restored by us in OnConnect (see onConnect), not from
	// paho's store, so that we subscribe exactly the current set.
	o.SetResumeSubs(false)
	// Messages are acknowledged only after their handler has run (see worker),
	// so a message that was received but not processed when the gateway died
	// is sent again by the broker. Repeats are caught by the consumer's dedup.
	o.SetAutoAckDisabled(true)
	// OrderMatters(false) would make paho start a goroutine per message, which
	// loses the order of gate events. We keep paho's in-order dispatch; our
	// callback only enqueues into the subscription's queue, so the network
	// loop is never held by a handler (except when that queue is full:
	// back-pressure rather than unbounded memory).
	o.SetOrderMatters(true)
	if cfg.DataDir != "" {
		dir := filepath.Join(cfg.DataDir, "mqtt-store")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, &ConfigError{Field: "data_dir", Err: err}
		}
		// Our QoS 1 publishes not yet acknowledged survive a gateway restart
		// on disk; paho resends them on the next connect (see splitStore).
		// Not paho's FileStore: it panics on a full disk (see FileStore).
		c.store = NewFileStore(dir)
		c.store.OnError = c.storeFailed
		o.SetStore(newSplitStore(c.store, cfg.Volatile))
	}
	if c.status != "" {
		// The broker publishes this when we vanish without a DISCONNECT, so
		// the monitor wall and patrol apps see that the gateway is down.
		o.SetBinaryWill(c.status, []byte(contract.StatusOffline), 1, true)
	}
	if u.Scheme == "ssl" {
		tc, err := tlsConfig(cfg.TLS)
		if err != nil {
			return nil, &ConfigError{Field: "tls", Err: err}
		}
		o.SetTLSConfig(tc)
	} else if cfg.Dial != nil {
		dial := cfg.Dial
		o.SetCustomOpenConnectionFn(func(uri *url.URL, opts paho.ClientOptions) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(context.Background(), opts.ConnectTimeout)
			defer cancel()
			return dial(ctx, "tcp", uri.Host)
		})
	}
	o.SetDefaultPublishHandler(c.onUnrouted)
	o.SetOnConnectHandler(c.onConnect)
	o.SetConnectionLostHandler(func(_ paho.Client, err error) {
		c.metrics.connected.Set(0)
		c.log.Warn("MQTT connection lost; reconnecting", "err", logx.RedactText(err.Error()))
	})
	o.SetReconnectingHandler(func(paho.Client, *paho.ClientOptions) {
		c.metrics.reconnects.Inc()
	})
	c.cli = paho.NewClient(o)
	return c, nil
}

// brokerURL accepts the schemes of the config file and maps them to paho's.
func brokerURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New(logx.RedactText(err.Error()))
	}
	switch strings.ToLower(u.Scheme) {
	case "tcp", "mqtt":
		u.Scheme = "tcp"
	case "ssl", "tls", "mqtts":
		u.Scheme = "ssl"
	default:
		return nil, fmt.Errorf("scheme %q: want tcp://, ssl://, mqtt:// or mqtts://", u.Scheme)
	}
	if u.Host == "" || u.Port() == "" {
		return nil, errors.New("want scheme://host:port")
	}
	return u, nil
}

func tlsConfig(t TLS) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificates", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("cert_file and key_file go together")
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Start begins connecting and returns once the first connection is up, with
// the subscriptions made so far in place (a message published after Start
// returns reaches them), or when ctx ends. When ctx ends first the client
// keeps trying in the background (the broker may simply be late) and Start
// returns ctx's error, which callers may log and ignore.
func (c *Client) Start(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed // workers are gone; make a new Client
	}
	if c.running {
		c.mu.Unlock()
		return nil
	}
	c.running = true
	c.mu.Unlock()
	tok := c.cli.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("mqttbus: connect: %s", logx.RedactText(err.Error()))
		}
	case <-ctx.Done():
		return fmt.Errorf("mqttbus: still connecting: %w", ctx.Err())
	}
	select {
	case <-c.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mqttbus: still connecting: %w", ctx.Err())
	}
}

// onConnect runs on every (re)connect: announce ourselves and subscribe the
// current set again. A persistent session normally keeps subscriptions, but
// an embedded broker that lost its store, or a different broker behind the
// same address, would not have them.
func (c *Client) onConnect(cl paho.Client) {
	c.metrics.connected.Set(1)
	c.log.Info("MQTT connected")
	if c.status != "" {
		// Not waited for: a slow PUBACK must not hold up resubscribing.
		cl.Publish(c.status, 1, true, []byte(contract.StatusOnline))
	}
	c.mu.Lock()
	subs := make([]*subscription, 0, len(c.subs))
	for _, s := range c.subs {
		subs = append(subs, s)
	}
	c.mu.Unlock()
	toks := make([]paho.Token, len(subs))
	for i, s := range subs {
		toks[i] = cl.Subscribe(s.filter, 1, s.deliver)
	}
	// paho runs this callback on a goroutine of its own, so waiting is fine.
	ok := true
	for i, tok := range toks {
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			ok = false
			c.log.Error("MQTT subscribe failed; retried on the next connect", "filter", subs[i].filter, "err", tok.Error())
		}
	}
	if ok {
		c.readyOnce.Do(func() { close(c.ready) })
	}
}

// Publish sends payload at QoS 1 and waits for the broker's PUBACK. When ctx
// ends first (broker slow or unreachable) it returns an error wrapping
// ErrQueued: the message stays in paho's store and goes out on reconnect.
func (c *Client) Publish(ctx context.Context, topic string, retained bool, payload []byte) error {
	if !c.isRunning() {
		return ErrClosed
	}
	tok := c.cli.Publish(topic, 1, retained, payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			c.metrics.publishErrors.Inc()
			return fmt.Errorf("mqttbus: publish %s: %w", topic, err)
		}
		c.metrics.published.Inc()
		return nil
	case <-ctx.Done():
		if err := c.putErr(tok); err != nil {
			c.metrics.publishErrors.Inc()
			return fmt.Errorf("%w: %s: %w", ErrNotStored, topic, err)
		}
		c.metrics.publishQueued.Inc()
		return fmt.Errorf("%w: %s: %w", ErrQueued, topic, ctx.Err())
	}
}

// putErr is the store's failure for tok's packet, nil when it was stored.
func (c *Client) putErr(tok paho.Token) error {
	pt, ok := tok.(*paho.PublishToken)
	if c.store == nil || !ok || pt.MessageID() == 0 {
		return nil
	}
	return c.store.PutErr(fmt.Sprintf("o.%d", pt.MessageID()))
}

// storeFailed is the FileStore's OnError: counted, and logged at most once
// every storeLogEvery (a full disk fails every publish).
func (c *Client) storeFailed(err error) {
	c.metrics.storeErrors.Inc()
	now := time.Now().UnixNano()
	if last := c.lastStoreLog.Load(); now-last >= int64(storeLogEvery) && c.lastStoreLog.CompareAndSwap(last, now) {
		c.log.Error("MQTT in-flight store failing: messages are sent but would not survive a restart", "err", err)
	}
}

const storeLogEvery = 10 * time.Second

// StoreErr reports the in-flight store's last failure; nil when its latest
// write succeeded or it has no store (no DataDir). /readyz shows it.
func (c *Client) StoreErr() error {
	if c.store == nil {
		return nil
	}
	return c.store.Err()
}

// PublishAsync sends payload at QoS 1 without waiting; done (may be nil) is
// called with the outcome once the broker acknowledged it. It is for
// producers that keep many messages in flight (simulators, benchmarks).
func (c *Client) PublishAsync(topic string, retained bool, payload []byte, done func(error)) {
	if !c.isRunning() {
		if done != nil {
			done(ErrClosed)
		}
		return
	}
	tok := c.cli.Publish(topic, 1, retained, payload)
	go func() {
		<-tok.Done()
		err := tok.Error()
		if err != nil {
			c.metrics.publishErrors.Inc()
		} else {
			c.metrics.published.Inc()
		}
		if done != nil {
			done(err)
		}
	}()
}

// Subscribe registers h for filter at QoS 1. It may be called before Start:
// the subscription is made on every connect. Messages of one filter reach h
// one at a time, in order, on a goroutine of their own; each is
// acknowledged after h returned.
func (c *Client) Subscribe(filter string, h Handler) error {
	return c.subscribe(filter, func(ms []Message) error { h(ms[0]); return nil }, 1)
}

// SubscribeBatch is Subscribe for handlers that take several messages at
// once: each call gets the next message plus whatever is already queued
// behind it (up to Config.MaxBatch), in order, and the whole batch is
// acknowledged, in order, after h returned. It never waits for a batch to
// fill: a lone message is handed on at once.
func (c *Client) SubscribeBatch(filter string, h BatchHandler) error {
	return c.subscribe(filter, h, c.cfg.MaxBatch)
}

func (c *Client) subscribe(filter string, h BatchHandler, maxBatch int) error {
	c.mu.Lock()
	if _, dup := c.subs[filter]; dup {
		c.mu.Unlock()
		return fmt.Errorf("mqttbus: %s: already subscribed", filter)
	}
	s := &subscription{filter: filter, h: h, max: maxBatch, queue: make(chan paho.Message, c.cfg.QueueSize), stopped: c.stopped,
		detached: make(chan struct{}), done: make(chan struct{})}
	c.subs[filter] = s
	c.wg.Add(1)
	go c.worker(s)
	c.mu.Unlock()
	// Route before any connection: a persistent session's queued messages
	// arrive right after CONNACK, before our SUBSCRIBE is answered, and paho
	// neither handles nor acknowledges a message without a route (they would
	// sit in the broker's in-flight window until the next reconnect).
	c.cli.AddRoute(filter, s.deliver)
	c.takeEarly(s)

	if !c.cli.IsConnectionOpen() {
		return nil // onConnect subscribes
	}
	tok := c.cli.Subscribe(filter, 1, s.deliver)
	if !tok.WaitTimeout(30 * time.Second) {
		return fmt.Errorf("mqttbus: subscribe %s: timed out (will retry on reconnect)", filter)
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("mqttbus: subscribe %s: %w", filter, err)
	}
	return nil
}

func (s *subscription) deliver(_ paho.Client, m paho.Message) {
	select {
	case <-s.detached:
		return // not acknowledged: the broker keeps it for the next session
	default:
	}
	select {
	case s.queue <- m:
	case <-s.stopped:
	case <-s.detached:
	}
}

func (c *Client) worker(s *subscription) {
	defer c.wg.Done()
	defer close(s.done)
	recv := c.metrics.received.WithLabelValues(s.filter)
	batch := make([]paho.Message, 0, s.max)
	for {
		select {
		case <-s.detached:
			return
		case <-c.stopped:
			return
		default:
		}
		select {
		case m := <-s.queue:
			batch = append(batch[:0], m)
		fill:
			for len(batch) < s.max {
				select {
				case m := <-s.queue:
					batch = append(batch, m)
				default:
					break fill
				}
			}
			recv.Add(float64(len(batch)))
			msgs := make([]Message, 0, len(batch))
			for _, m := range batch {
				msgs = append(msgs, Message{Topic: m.Topic(), Payload: m.Payload(), Retained: m.Retained()})
			}
			if err := c.handle(s, msgs); err != nil {
				// Not acknowledged: the broker keeps the batch and sends it
				// again with the next session.
				c.metrics.handlerErrors.Inc()
				c.log.Error("MQTT handler could not keep its messages; left unacknowledged for the broker to resend",
					"filter", s.filter, "messages", len(msgs), "err", err)
				clear(batch)
				continue
			}
			// Acknowledged only now, in arrival order: a message whose
			// batch was not handled completely is sent again.
			for i, m := range batch {
				m.Ack()
				batch[i] = nil
			}
		case <-c.stopped:
			return
		case <-s.detached:
			return
		}
	}
}

// Detach ends local delivery for filter without unsubscribing at the
// broker, and returns once its handler is no longer running (or after
// CloseTimeout). Messages received from then on are not acknowledged, so
// the broker keeps them in the persistent session and delivers them to the
// next process. Consumers call it from their Close so that nothing is
// acknowledged unhandled between their Close and the Client's.
func (c *Client) Detach(filter string) {
	c.mu.Lock()
	s := c.subs[filter]
	c.mu.Unlock()
	if s == nil {
		return
	}
	s.detachOnce.Do(func() { close(s.detached) })
	select {
	case <-s.done:
	case <-time.After(c.cfg.CloseTimeout):
		c.log.Error("MQTT handler still running at Detach", "filter", filter)
	}
}

// handle runs one handler call; a panicking handler must not take the
// subscription (and with it every later gate event) down.
// A panic is acknowledged like a success: sent again, the same message
// would panic again.
func (c *Client) handle(s *subscription, ms []Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.metrics.handlerPanics.Inc()
			c.log.Error("MQTT handler panicked", "filter", s.filter, "topic", ms[0].Topic, "messages", len(ms), "panic", r)
			err = nil
		}
	}()
	return s.h(ms)
}

func (c *Client) isRunning() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running
}

// Connected reports whether the connection is up right now.
func (c *Client) Connected() bool { return c.cli.IsConnectionOpen() }

// Close publishes "offline" (a clean disconnect suppresses the will), then
// disconnects and stops the subscription workers. Messages still queued and
// not yet handled are not acknowledged, so the broker sends them again on the
// next connect of the same client id.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	wasRunning := c.running
	c.running, c.closed = false, true
	c.mu.Unlock()
	if !wasRunning {
		close(c.stopped)
		c.waitWorkers()
		return nil
	}
	if c.status != "" && c.cli.IsConnectionOpen() {
		tok := c.cli.Publish(c.status, 1, true, []byte(contract.StatusOffline))
		tok.WaitTimeout(2 * time.Second)
	}
	c.cli.Disconnect(500)
	close(c.stopped)
	c.waitWorkers()
	c.metrics.connected.Set(0)
	return nil
}

// waitWorkers waits for handlers in progress, but not for ever: shutdown
// must finish within the contract's 10 s even if a handler is stuck. Its
// message is not acknowledged and comes again after the restart.
func (c *Client) waitWorkers() {
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(c.cfg.CloseTimeout):
		c.log.Error("MQTT handlers still running at Close; giving up on them")
	}
}

type metrics struct {
	published, publishErrors, publishQueued, reconnects, handlerPanics prometheus.Counter
	storeErrors, handlerErrors                                         prometheus.Counter
	received                                                           *prometheus.CounterVec
	connected                                                          prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &metrics{
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lanewatch_mqttbus_published_total", Help: "QoS 1 messages acknowledged by the broker."}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lanewatch_mqttbus_publish_errors_total", Help: "Publishes that failed."}),
		publishQueued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lanewatch_mqttbus_publish_queued_total", Help: "Publishes whose caller gave up waiting; kept in the store and sent on reconnect."}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lanewatch_mqttbus_reconnects_total", Help: "Reconnect attempts after a lost connection."}),
		handlerPanics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lanewatch_mqttbus_handler_panics_total", Help: "Subscription handlers that panicked."}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lanewatch_mqttbus_store_errors_total", Help: "Failed operations of the in-flight store under data_dir/mqtt-store (disk full, I/O errors, damaged files)."}),
		handlerErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lanewatch_mqttbus_handler_errors_total", Help: "Handler calls that returned an error; their messages were not acknowledged."}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanewatch_mqttbus_received_total", Help: "Messages received per subscription filter."}, []string{"filter"}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lanewatch_mqttbus_connected", Help: "1 while connected to the broker."}),
	}
	m.published = register(reg, m.published)
	m.publishErrors = register(reg, m.publishErrors)
	m.publishQueued = register(reg, m.publishQueued)
	m.reconnects = register(reg, m.reconnects)
	m.handlerPanics = register(reg, m.handlerPanics)
	m.storeErrors = register(reg, m.storeErrors)
	m.handlerErrors = register(reg, m.handlerErrors)
	m.received = register(reg, m.received)
	m.connected = register(reg, m.connected)
	return m
}

// register returns the collector already registered under the same name when
// there is one, so that two clients on one registry (e.g. a test that
// reconnects) share their counters instead of panicking.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(C); ok {
				return old
			}
		}
		panic(err)
	}
	return c
}

// FromConfig maps the config file's mqtt section to a client Config. For
// mqtt.broker "embedded" pass the embedded broker's URL (broker.URL()); it is
// ignored otherwise. Logger and Registerer are left for the caller.
func FromConfig(c *config.Config, embeddedURL string) Config {
	url := c.MQTT.Broker
	if url == "embedded" || url == "" {
		url = embeddedURL
	}
	id := c.MQTT.ClientID
	if id == "" {
		id = "lanewatch-" + c.GatewayID
	}
	prefix := c.MQTT.TopicPrefix
	if prefix == "" {
		prefix = config.DefaultTopicPrefix
	}
	return Config{
		Broker:    url,
		ClientID:  id,
		Username:  c.MQTT.Username,
		Password:  c.MQTT.Password,
		TLS:       TLS{CAFile: c.MQTT.CAFile, CertFile: c.MQTT.CertFile, KeyFile: c.MQTT.KeyFile},
		Topics:    Topics{Prefix: prefix, Site: c.Site.ID},
		GatewayID: c.GatewayID,
		DataDir:   c.DataDir,
	}
}
