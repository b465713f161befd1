package console

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/logx"
	"github.com/prometheus/client_golang/prometheus"
)

// limitListener caps open connections in total and per client address.
// golang.org/x/net/netutil.LimitListener only blocks Accept at the cap, so
// one device holding every slot would queue everyone else in the kernel's
// backlog; this one accepts and sheds the excess at once with a 503, and
// keeps a share for every other address.
type limitListener struct {
	net.Listener
	max, perAddr int
	// plain: the connection speaks HTTP, so a refusal can be a 503 response;
	// under TLS a refused connection is just closed.
	plain   bool
	open    prometheus.Gauge
	refused *prometheus.CounterVec

	mu     sync.Mutex
	total  int
	byAddr map[string]int
}

// reserveShare: 1/reserveShare of MaxConns is kept for addresses holding
// fewer than newcomerConns connections.
const (
	reserveShare  = 8
	newcomerConns = 4
)

func newLimitListener(ln net.Listener, max, perAddr int, plain bool, m *serverMetrics) *limitListener {
	return &limitListener{Listener: ln, max: max, perAddr: perAddr, plain: plain,
		open: m.conns, refused: m.connsRefused, byAddr: map[string]int{}}
}

// refusal is written raw on a shed connection: the server never reads its request.
var refusal = func() []byte {
	body := `{"error":"too many connections, retry later"}` + "\n"
	return []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n" +
		"Connection: close\r\nRetry-After: 5\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}()

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := hostOf(c.RemoteAddr())
		if reason := l.admit(addr); reason != "" {
			l.refused.WithLabelValues(reason).Inc()
			if l.plain {
				// The reply fits in any socket buffer; the deadline only guards
				// against a peer that already vanished.
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				_, _ = c.Write(refusal)
			}
			_ = c.Close()
			continue
		}
		l.open.Inc()
		return &limitedConn{Conn: c, l: l, addr: addr}, nil
	}
}

func (l *limitListener) admit(addr string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.byAddr[addr]
	switch {
	case l.total >= l.max:
		return "total"
	case n >= l.perAddr:
		return "address"
	case l.total >= l.max-l.max/reserveShare && n >= newcomerConns:
		// The last slots are kept for addresses that hold almost none, so
		// that a flood from a few devices leaves the guard's browser a way in.
		return "total"
	}
	l.total++
	l.byAddr[addr]++
	return ""
}

func (l *limitListener) release(addr string) {
	l.mu.Lock()
	l.total--
	if l.byAddr[addr]--; l.byAddr[addr] <= 0 {
		delete(l.byAddr, addr)
	}
	l.mu.Unlock()
	l.open.Dec()
}

type limitedConn struct {
	net.Conn
	l    *limitListener
	addr string
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.addr) })
	return err
}

func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// streamLimiter caps live streams (SSE and MJPEG) in total and per principal.
type streamLimiter struct {
	max, perUser int
	refused      *prometheus.CounterVec

	mu     sync.Mutex
	total  int
	byUser map[string]int
}

func newStreamLimiter(max, perUser int, m *serverMetrics) *streamLimiter {
	return &streamLimiter{max: max, perUser: perUser, refused: m.streamsRefused, byUser: map[string]int{}}
}

// acquire takes a stream slot for the request's principal, or answers 503
// and returns false. release must be called when the stream ends.
func (l *streamLimiter) acquire(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	name := principal(r).Name
	l.mu.Lock()
	reason, msg := "", ""
	switch {
	case l.total >= l.max:
		reason, msg = "total", "too many live streams on this gateway ("+strconv.Itoa(l.max)+"), retry later"
	case l.byUser[name] >= l.perUser:
		reason, msg = "user", fmt.Sprintf("too many live streams for %s (at most %d)", name, l.perUser)
	default:
		l.total++
		l.byUser[name]++
	}
	l.mu.Unlock()
	if reason != "" {
		l.refused.WithLabelValues(reason).Inc()
		w.Header().Set("Retry-After", "10")
		auth.WriteError(w, http.StatusServiceUnavailable, msg)
		return nil, false
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.total--
			if l.byUser[name]--; l.byUser[name] <= 0 {
				delete(l.byUser, name)
			}
			l.mu.Unlock()
		})
	}, true
}

// streamDeadlines lifts the server's write timeout for a stream, which
// lasts as long as someone watches (net/http already lifts the read deadline
// while a handler runs; it is cleared here too so that does not depend on an
// implementation detail). Each write then sets its own deadline through the
// returned function, so a stalled viewer still goes after StreamStall.
func streamDeadlines(w http.ResponseWriter, stall time.Duration) (beforeWrite func()) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	return func() { _ = rc.SetWriteDeadline(time.Now().Add(stall)) }
}

// throttledWriter turns net/http's ErrorLog lines into throttled slog lines.
type throttledWriter struct {
	t     *logx.Throttle
	level slog.Level
}

func (w throttledWriter) Write(p []byte) (int, error) {
	w.t.Logf(w.level, "http-server", "http server", "msg", strings.TrimSpace(string(p)))
	return len(p), nil
}
