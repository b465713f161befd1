package camsim

import (
	"context"
	"crypto/sha1" //nolint:gosec // a stable device id from a name, not security
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lanewatch/lanewatch/internal/onvif"
)

// SubSuffix names a camera's sub-stream: NAME-sub is NAME's sub profile.
const SubSuffix = "-sub"

// Limits of the ONVIF simulator.
const (
	onvifMaxQueue   = 1000             // messages kept per subscription; the oldest go first
	onvifMaxTTL     = 10 * time.Minute // longest subscription granted
	onvifDefaultTTL = time.Minute
	onvifMaxPull    = time.Minute // longest PullMessages wait
	onvifMaxSkew    = 5 * time.Minute
)

// ONVIF makes the cameras a Server serves look like ONVIF Profile S/T
// devices: every stream NAME that is not itself a NAME-sub is one device
// at http://Listen/onvif/NAME/device_service, with a main profile (rtsp
// .../NAME) and a sub profile (rtsp .../NAME-sub, or NAME again when no
// NAME-sub is served), events through PullPoint subscriptions, and
// WS-Discovery answers on Discovery. Every call but GetSystemDateAndTime
// needs a WS-UsernameToken digest of Username/Password.
//
// Events are scripted with Emit or, from outside the process, with
// POST /camsim/onvif/NAME/events and a JSON body
// {"topic": "tns1:RuleEngine/LineDetector/Crossed", "source": {...}, "data": {...}}.
// That control endpoint has no authentication: camsim is a test and demo
// tool, not for a network others share.
type ONVIF struct {
	// Listen is the HTTP address, e.g. "127.0.0.1:8080"; port 0 picks one.
	Listen string
	// Discovery is the UDP address WS-Discovery probes are answered on:
	// onvif.DiscoveryAddr joins the multicast group; a unicast address
	// (e.g. "127.0.0.1:0" in tests) answers probes sent to it; "" is off.
	Discovery string
	// RTSP is the started server whose streams are the devices.
	RTSP *Server
	// Username and Password every call must carry.
	Username, Password string
	// ClockSkew sets the device's clock ahead (or behind) ours: tokens are
	// checked against it, as a camera without NTP does.
	ClockSkew time.Duration
	// ImmediatePull answers PullMessages at once, messages or not, as some
	// cameras do whatever timeout they are asked to wait.
	ImmediatePull bool
	Logger        *slog.Logger

	mu       sync.Mutex
	httpSrv  *http.Server
	addr     string // bound HTTP address, kept for restarts
	udp      *net.UDPConn
	udpAddr  string // bound discovery address, kept for restarts
	closing  chan struct{}
	subs     map[string]*onvifSub
	nextSub  int
	nonces   map[string]time.Time // seen nonces, against replays
	done     sync.WaitGroup
	refused  atomic.Uint64
	answered atomic.Uint64
}

type onvifSub struct {
	id, device string
	expires    time.Time
	queue      []onvif.Notification
	wake       chan struct{} // closed and replaced when messages arrive
}

func (o *ONVIF) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

// Start listens for HTTP (and discovery when set). After Close it may be
// started again on the same addresses: subscriptions do not survive, as on
// a camera that reboots.
func (o *ONVIF) Start(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.httpSrv != nil {
		return ErrRunning
	}
	if o.RTSP == nil {
		return errors.New("camsim: ONVIF needs the RTSP server")
	}
	listen := o.Listen
	if o.addr != "" {
		listen = o.addr
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("camsim: ONVIF listen on %s: %w", listen, err)
	}
	if o.Discovery != "" {
		if err := o.listenDiscovery(); err != nil {
			l.Close()
			return err
		}
	}
	o.addr = l.Addr().String()
	o.closing = make(chan struct{})
	o.subs = map[string]*onvifSub{}
	o.nonces = map[string]time.Time{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /onvif/{dev}/{svc...}", o.serveSOAP)
	mux.HandleFunc("POST /camsim/onvif/{dev}/events", o.serveControl)
	o.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	srv, udp, closing := o.httpSrv, o.udp, o.closing
	o.done.Add(1)
	go func() {
		defer o.done.Done()
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.logger().Error("camsim: ONVIF server", "err", err)
		}
	}()
	if udp != nil {
		o.done.Add(1)
		go func() { defer o.done.Done(); o.serveDiscovery(udp) }()
	}
	go func() {
		select {
		case <-ctx.Done():
			o.Close()
		case <-closing:
		}
	}()
	for _, d := range o.devicesLocked() {
		o.logger().Info("camsim: ONVIF device", "url", "http://"+o.addr+"/onvif/"+d+"/device_service", "discovery", o.udpAddr)
	}
	return nil
}

func (o *ONVIF) listenDiscovery() error {
	addr := o.Discovery
	if o.udpAddr != "" {
		addr = o.udpAddr
	}
	ua, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return fmt.Errorf("camsim: discovery address %q: %w", addr, err)
	}
	var c *net.UDPConn
	if ua.IP.IsMulticast() {
		c, err = net.ListenMulticastUDP("udp4", nil, ua)
	} else {
		c, err = net.ListenUDP("udp4", ua)
	}
	if err != nil {
		return fmt.Errorf("camsim: discovery on %s: %w", addr, err)
	}
	o.udp = c
	if ua.IP.IsMulticast() {
		o.udpAddr = addr
	} else {
		o.udpAddr = c.LocalAddr().String()
	}
	return nil
}

// Close stops answering and drops every subscription. Safe to call twice.
func (o *ONVIF) Close() error {
	o.mu.Lock()
	srv, udp := o.httpSrv, o.udp
	if srv == nil {
		o.mu.Unlock()
		return nil
	}
	o.httpSrv, o.udp = nil, nil
	close(o.closing) // ends waiting PullMessages
	o.subs = nil
	o.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := srv.Shutdown(ctx)
	if udp != nil {
		udp.Close()
	}
	o.done.Wait()
	return err
}

// Addr is the bound HTTP address.
func (o *ONVIF) Addr() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.addr
}

// DiscoveryAddr is the bound discovery address ("" when off).
func (o *ONVIF) DiscoveryAddr() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.udpAddr
}

// DeviceURL is a device's device-service address.
func (o *ONVIF) DeviceURL(name string) string {
	return "http://" + loopbackIfUnspecified(o.Addr()) + "/onvif/" + name + "/device_service"
}

// Answered counts calls answered (refused ones not included).
func (o *ONVIF) Answered() uint64 { return o.answered.Load() }

// Refused counts calls refused for their credentials.
func (o *ONVIF) Refused() uint64 { return o.refused.Load() }

// Subscriptions counts the live subscriptions to a device.
func (o *ONVIF) Subscriptions(device string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	now := time.Now()
	for _, s := range o.subs {
		if s.device == device && now.Before(s.expires) {
			n++
		}
	}
	return n
}

// devicesLocked lists the device names: every stream that is not the
// NAME-sub of a served NAME.
func (o *ONVIF) devicesLocked() []string {
	var out []string
	for name := range o.RTSP.Streams {
		if base, ok := strings.CutSuffix(name, SubSuffix); ok {
			if _, has := o.RTSP.Streams[base]; has {
				continue
			}
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func (o *ONVIF) isDevice(name string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, d := range o.devicesLocked() {
		if d == name {
			return true
		}
	}
	return false
}

// Emit queues a notification for every live subscription to device and
// returns how many it reached. A zero Time is now.
func (o *ONVIF) Emit(device string, n onvif.Notification) (int, error) {
	if !o.isDevice(device) {
		return 0, fmt.Errorf("%w %q", ErrUnknownStream, device)
	}
	if n.Time.IsZero() {
		n.Time = time.Now()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	reached := 0
	now := time.Now()
	for _, s := range o.subs {
		if s.device != device || !now.Before(s.expires) {
			continue
		}
		if len(s.queue) == onvifMaxQueue {
			s.queue = s.queue[1:]
		}
		s.queue = append(s.queue, n)
		close(s.wake)
		s.wake = make(chan struct{})
		reached++
	}
	return reached, nil
}

// controlEvent is the JSON body of the control endpoint.
type controlEvent struct {
	Topic     string            `json:"topic"`
	Operation string            `json:"operation"`
	Source    map[string]string `json:"source"`
	Data      map[string]string `json:"data"`
}

func (o *ONVIF) serveControl(w http.ResponseWriter, r *http.Request) {
	var ev controlEvent
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil || ev.Topic == "" {
		http.Error(w, "want JSON {topic, operation, source, data}", http.StatusBadRequest)
		return
	}
	n, err := o.Emit(r.PathValue("dev"), onvif.Notification{Topic: ev.Topic, Operation: ev.Operation, Source: ev.Source, Data: ev.Data})
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "{\"subscriptions\":%d}\n", n)
}

// soapReply writes an envelope with status.
func soapReply(w http.ResponseWriter, status int, relatesTo, body string) {
	w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(onvif.Envelope(onvif.Header{MessageID: onvif.NewMessageID(), RelatesTo: relatesTo}, body))
}

func (o *ONVIF) serveSOAP(w http.ResponseWriter, r *http.Request) {
	dev := r.PathValue("dev")
	if !o.isDevice(dev) {
		http.NotFound(w, r)
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, onvif.MaxMessage+1))
	if err != nil {
		return
	}
	m, err := onvif.ParseMessage(data)
	if err != nil {
		soapReply(w, http.StatusBadRequest, "", onvif.FaultBody("Sender", "WellFormed", "not a SOAP 1.2 envelope"))
		return
	}
	if m.Operation != "GetSystemDateAndTime" {
		if err := o.checkAuth(m.Header.Security); err != nil {
			o.refused.Add(1)
			o.logger().Info("camsim: ONVIF call refused", "device", dev, "operation", m.Operation, "err", err)
			soapReply(w, http.StatusUnauthorized, m.Header.MessageID, onvif.FaultBody("Sender", "NotAuthorized", "Sender not authorized"))
			return
		}
	}
	status, body := o.answer(r, dev, r.PathValue("svc"), m)
	o.answered.Add(1)
	soapReply(w, status, m.Header.MessageID, body)
}

// checkAuth verifies the token and refuses a nonce seen before.
func (o *ONVIF) checkAuth(tok *onvif.UsernameToken) error {
	now := time.Now()
	if err := tok.Verify(o.Username, o.Password, now.Add(o.ClockSkew), onvifMaxSkew); err != nil {
		return err
	}
	key := base64.StdEncoding.EncodeToString(tok.Nonce)
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, seen := o.nonces[key]; seen {
		return onvif.ErrReusedNonce
	}
	if len(o.nonces) >= 10000 {
		for k, t := range o.nonces {
			if now.Sub(t) > 2*onvifMaxSkew {
				delete(o.nonces, k)
			}
		}
	}
	o.nonces[key] = now
	return nil
}

func (o *ONVIF) answer(r *http.Request, dev, svc string, m *onvif.Message) (int, string) {
	base := "http://" + requestHost(r, o.Addr()) + "/onvif/" + dev
	switch m.Operation {
	case "GetSystemDateAndTime":
		return http.StatusOK, onvif.SystemDateAndTimeResponse(time.Now().Add(o.ClockSkew))
	case "GetDeviceInformation":
		return http.StatusOK, onvif.DeviceInformationResponse(onvif.DeviceInfo{Manufacturer: "lanewatch", Model: "camsim",
			FirmwareVersion: "1.0", SerialNumber: deviceUUID(dev)[:8], HardwareID: "camsim"})
	case "GetCapabilities":
		return http.StatusOK, onvif.CapabilitiesResponse(o.services(base))
	case "GetServices":
		return http.StatusOK, onvif.ServicesResponse(o.services(base))
	case "GetProfiles":
		return http.StatusOK, onvif.ProfilesResponse(o.profiles(dev))
	case "GetStreamUri":
		var req struct {
			ProfileToken string `xml:"ProfileToken"`
		}
		if err := xml.Unmarshal(m.Body, &req); err != nil {
			return http.StatusBadRequest, onvif.FaultBody("Sender", "InvalidArgVal", "bad GetStreamUri")
		}
		name, ok := o.profileStream(dev, strings.TrimSpace(req.ProfileToken))
		if !ok {
			return http.StatusBadRequest, onvif.FaultBody("Sender", "NoProfile", "no such profile")
		}
		return http.StatusOK, onvif.StreamURIResponse(o.rtspURL(r, name))
	case "CreatePullPointSubscription":
		var req struct {
			InitialTerminationTime string `xml:"InitialTerminationTime"`
		}
		_ = xml.Unmarshal(m.Body, &req)
		ttl := termination(req.InitialTerminationTime)
		return http.StatusOK, onvif.SubscriptionResponse(o.subscribe(dev, base, ttl))
	case "PullMessages", "Renew", "Unsubscribe":
		id, ok := strings.CutPrefix(svc, "events/sub/")
		if !ok {
			return http.StatusBadRequest, onvif.FaultBody("Sender", "ActionNotSupported", m.Operation+" goes to a subscription's address")
		}
		return o.subscriptionCall(r.Context(), id, m)
	}
	return http.StatusBadRequest, onvif.FaultBody("Sender", "ActionNotSupported", "camsim does not simulate "+m.Operation)
}

func (o *ONVIF) services(base string) onvif.Services {
	return onvif.Services{Device: base + "/device_service", Media: base + "/media", Events: base + "/events"}
}

// profileStream maps a profile token to its stream.
func (o *ONVIF) profileStream(dev, token string) (string, bool) {
	switch token {
	case "main":
		return dev, true
	case "sub":
		if _, ok := o.RTSP.Info(dev + SubSuffix); ok {
			return dev + SubSuffix, true
		}
		return dev, true
	}
	return "", false
}

func (o *ONVIF) profiles(dev string) []onvif.Profile {
	var out []onvif.Profile
	for _, tok := range []string{"main", "sub"} {
		name, _ := o.profileStream(dev, tok)
		info, ok := o.RTSP.Info(name)
		if !ok {
			continue
		}
		out = append(out, onvif.Profile{Token: tok, Name: dev + " " + tok, Encoding: info.Codec, Width: info.Width, Height: info.Height, FPS: info.FPS})
	}
	return out
}

// rtspURL is a stream's URL with the host the client reached us on when
// the RTSP server listens on every interface.
func (o *ONVIF) rtspURL(r *http.Request, name string) string {
	u := o.RTSP.URL(name)
	host, _, err := net.SplitHostPort(o.RTSP.Addr())
	if ip := net.ParseIP(host); err == nil && (host == "" || ip != nil && ip.IsUnspecified()) {
		if pu, err := url.Parse(u); err == nil {
			reqHost, _, err := net.SplitHostPort(r.Host)
			if err != nil {
				reqHost = r.Host
			}
			pu.Host = net.JoinHostPort(strings.Trim(reqHost, "[]"), pu.Port())
			return pu.String()
		}
	}
	return u
}

// termination reads InitialTerminationTime (a duration or a dateTime);
// absent or unreadable gives the default, and it is capped.
func termination(s string) time.Duration {
	ttl := onvifDefaultTTL
	if s = strings.TrimSpace(s); s != "" {
		if d, err := onvif.ParseDuration(s); err == nil {
			ttl = d
		} else if t, err := onvif.ParseDateTime(s); err == nil {
			ttl = time.Until(t)
		}
	}
	return min(max(ttl, time.Second), onvifMaxTTL)
}

func (o *ONVIF) subscribe(dev, base string, ttl time.Duration) onvif.Subscription {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	for id, s := range o.subs {
		if now.After(s.expires.Add(time.Minute)) {
			delete(o.subs, id)
		}
	}
	o.nextSub++
	id := strconv.Itoa(o.nextSub)
	s := &onvifSub{id: id, device: dev, expires: now.Add(ttl), wake: make(chan struct{})}
	// Like cameras, report the current state of the motion property first.
	s.queue = append(s.queue, onvif.Notification{Topic: "tns1:VideoSource/MotionAlarm", Operation: "Initialized", Time: now,
		Source: map[string]string{"Source": "vs-" + dev}, Data: map[string]string{"State": "false"}})
	o.subs[id] = s
	return onvif.Subscription{Address: base + "/events/sub/" + id, CurrentTime: now, TerminationTime: s.expires}
}

func (o *ONVIF) subscriptionCall(ctx context.Context, id string, m *onvif.Message) (int, string) {
	o.mu.Lock()
	s, ok := o.subs[id]
	closing := o.closing
	if ok && !time.Now().Before(s.expires) {
		delete(o.subs, id)
		ok = false
	}
	if !ok {
		o.mu.Unlock()
		return http.StatusBadRequest, onvif.FaultBody("Sender", "ResourceUnknownFault", "no such subscription")
	}
	switch m.Operation {
	case "Unsubscribe":
		delete(o.subs, id)
		o.mu.Unlock()
		return http.StatusOK, onvif.UnsubscribeResponseBody
	case "Renew":
		var req struct {
			TerminationTime string `xml:"TerminationTime"`
		}
		_ = xml.Unmarshal(m.Body, &req)
		now := time.Now()
		s.expires = now.Add(termination(req.TerminationTime))
		exp := s.expires
		o.mu.Unlock()
		return http.StatusOK, onvif.RenewResponse(now, exp)
	}
	// PullMessages
	var req struct {
		Timeout      string `xml:"Timeout"`
		MessageLimit int    `xml:"MessageLimit"`
	}
	_ = xml.Unmarshal(m.Body, &req)
	wait, err := onvif.ParseDuration(req.Timeout)
	if err != nil {
		wait = 10 * time.Second
	}
	wait = min(wait, onvifMaxPull)
	if o.ImmediatePull {
		wait = 0
	}
	limit := req.MessageLimit
	if limit <= 0 || limit > onvifMaxQueue {
		limit = onvifMaxQueue
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for len(s.queue) == 0 {
		wake := s.wake
		o.mu.Unlock()
		timedOut := false
		select {
		case <-wake:
		case <-closing:
		case <-timer.C:
			timedOut = true
		case <-ctx.Done():
			timedOut = true
		}
		o.mu.Lock()
		if o.subs == nil || o.subs[id] != s {
			o.mu.Unlock()
			return http.StatusBadRequest, onvif.FaultBody("Sender", "ResourceUnknownFault", "subscription ended")
		}
		if timedOut {
			break
		}
	}
	n := min(limit, len(s.queue))
	msgs := append([]onvif.Notification(nil), s.queue[:n]...)
	s.queue = s.queue[n:]
	// A pull keeps the subscription alive no longer than it was; only Renew extends it.
	res := onvif.PullResult{CurrentTime: time.Now(), TerminationTime: s.expires, Messages: msgs}
	o.mu.Unlock()
	return http.StatusOK, onvif.PullMessagesResponse(res)
}

// serveDiscovery answers probes until the socket closes.
func (o *ONVIF) serveDiscovery(c *net.UDPConn) {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			return
		}
		id, types, err := onvif.ParseProbe(buf[:n])
		if err != nil || !wantsNVT(types) {
			continue
		}
		host := localHostFor(o.Addr(), from)
		o.mu.Lock()
		devs := o.devicesLocked()
		o.mu.Unlock()
		var ms []onvif.ProbeMatch
		for _, d := range devs {
			ms = append(ms, onvif.ProbeMatch{Endpoint: "urn:uuid:" + deviceUUID(d),
				Types:  []string{onvif.TypeNVT, "tds:Device"},
				Scopes: []string{"onvif://www.onvif.org/type/video_encoder", "onvif://www.onvif.org/Profile/Streaming", "onvif://www.onvif.org/name/" + url.PathEscape(d), "onvif://www.onvif.org/hardware/camsim"},
				XAddrs: []string{"http://" + host + "/onvif/" + d + "/device_service"}})
		}
		// One answer per device, as cameras send theirs: a datagram stays small.
		for _, m := range ms {
			if _, err := c.WriteToUDP(onvif.ProbeMatchesMessage(id, []onvif.ProbeMatch{m}), from); err != nil {
				o.logger().Debug("camsim: discovery answer", "to", from.String(), "err", err)
			}
		}
	}
}

// wantsNVT: the probe asks for any type, or for one a camera is.
func wantsNVT(types []string) bool {
	if len(types) == 0 {
		return true
	}
	for _, t := range types {
		if _, local, _ := strings.Cut(t, ":"); local == "NetworkVideoTransmitter" || local == "Device" || t == "NetworkVideoTransmitter" {
			return true
		}
	}
	return false
}

// localHostFor is host:port of the HTTP listener as the prober can reach
// it: the listen address, or, when that is unspecified, the local address
// of the route to the prober.
func localHostFor(listen string, to *net.UDPAddr) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return listen
	}
	if c, err := net.DialUDP("udp4", nil, to); err == nil { // no packet is sent
		defer c.Close()
		return net.JoinHostPort(c.LocalAddr().(*net.UDPAddr).IP.String(), port)
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// requestHost is the host:port the client used, for addresses in answers.
func requestHost(r *http.Request, fallback string) string {
	if r.Host != "" {
		return r.Host
	}
	return loopbackIfUnspecified(fallback)
}

func loopbackIfUnspecified(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// deviceUUID is a stable UUID for a device name, so that discovery sees the
// same endpoint across restarts.
func deviceUUID(name string) string {
	h := sha1.Sum([]byte("camsim/" + name)) //nolint:gosec // an id, not security
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}
