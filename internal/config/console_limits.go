package config

import "time"

// ConsoleLimits bound what clients of the console may hold: connections,
// live streams and the time a request may take. Every default lives in
// DefaultConsoleLimits.
type ConsoleLimits struct {
	// MaxConns caps open TCP connections to the console; beyond it a new
	// connection gets a 503 and is closed at once.
	MaxConns int `yaml:"max_conns"`
	// MaxConnsPerAddress caps the connections of one client address, so that
	// one device cannot take every slot.
	MaxConnsPerAddress int `yaml:"max_conns_per_address"`
	// MaxStreams and MaxStreamsPerUser cap live streams (SSE and MJPEG)
	// over everyone and per user or token name; beyond them: 503.
	MaxStreams        int `yaml:"max_streams"`
	MaxStreamsPerUser int `yaml:"max_streams_per_user"`
	// ReadHeaderTimeout, ReadTimeout (headers and body), WriteTimeout and
	// IdleTimeout (keep-alive) of the HTTP server. Streams lift the read and
	// write deadlines and use StreamStall instead.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	// StreamStall drops a stream whose client has not taken one write for
	// this long (a dead or stalled viewer).
	StreamStall time.Duration `yaml:"stream_stall"`
}

// ConsoleLogin limits password guessing.
type ConsoleLogin struct {
	// MaxFailures wrong passwords for one user from one address within
	// Window block that pair (not the user elsewhere) until the window has
	// passed; an address gets four times as many over all names.
	MaxFailures int           `yaml:"max_failures"`
	Window      time.Duration `yaml:"window"`
	// FloodFailures failed logins within Window over all users and addresses
	// switch on the global slow-down: then at most one login is checked per
	// FloodInterval, the others wait for their turn (or get 429).
	FloodFailures int           `yaml:"flood_failures"`
	FloodInterval time.Duration `yaml:"flood_interval"`
	// SessionIdle ends a session unused for this long.
	SessionIdle time.Duration `yaml:"session_idle"`
}

// ConsoleTLS serves the console over HTTPS (cookies are then Secure).
type ConsoleTLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// DefaultConsoleLimits are the limits of a console that sets none: enough
// for a security room with several walls, small enough that a flood from
// the LAN cannot exhaust file descriptors.
var DefaultConsoleLimits = ConsoleLimits{
	MaxConns:           1024,
	MaxConnsPerAddress: 128,
	MaxStreams:         128,
	MaxStreamsPerUser:  32,
	ReadHeaderTimeout:  5 * time.Second,
	ReadTimeout:        15 * time.Second,
	WriteTimeout:       60 * time.Second,
	IdleTimeout:        2 * time.Minute,
	StreamStall:        15 * time.Second,
}

// DefaultConsoleLogin is the login limit of a console that sets none.
var DefaultConsoleLogin = ConsoleLogin{
	MaxFailures:   5,
	Window:        time.Minute,
	FloodFailures: 100,
	FloodInterval: 500 * time.Millisecond,
	SessionIdle:   12 * time.Hour,
}

// WithDefaults fills the unset limits from DefaultConsoleLimits.
func (l ConsoleLimits) WithDefaults() ConsoleLimits {
	d := DefaultConsoleLimits
	setInt(&l.MaxConns, d.MaxConns)
	setInt(&l.MaxConnsPerAddress, d.MaxConnsPerAddress)
	setInt(&l.MaxStreams, d.MaxStreams)
	setInt(&l.MaxStreamsPerUser, d.MaxStreamsPerUser)
	setDuration(&l.ReadHeaderTimeout, d.ReadHeaderTimeout)
	setDuration(&l.ReadTimeout, d.ReadTimeout)
	setDuration(&l.WriteTimeout, d.WriteTimeout)
	setDuration(&l.IdleTimeout, d.IdleTimeout)
	setDuration(&l.StreamStall, d.StreamStall)
	return l
}

// WithDefaults fills the unset login limits from DefaultConsoleLogin.
func (l ConsoleLogin) WithDefaults() ConsoleLogin {
	d := DefaultConsoleLogin
	setInt(&l.MaxFailures, d.MaxFailures)
	setDuration(&l.Window, d.Window)
	setInt(&l.FloodFailures, d.FloodFailures)
	setDuration(&l.FloodInterval, d.FloodInterval)
	setDuration(&l.SessionIdle, d.SessionIdle)
	return l
}

func (v *validator) consoleLimits(c *Console) {
	l := c.Limits
	for _, f := range []struct {
		key string
		n   int
	}{{"max_conns", l.MaxConns}, {"max_conns_per_address", l.MaxConnsPerAddress},
		{"max_streams", l.MaxStreams}, {"max_streams_per_user", l.MaxStreamsPerUser}} {
		if f.n < 1 {
			v.errf("console.limits."+f.key, "must be at least 1")
		}
	}
	if l.MaxConns >= 1 && l.MaxConnsPerAddress > l.MaxConns {
		v.errf("console.limits.max_conns_per_address", "must not exceed max_conns (%d)", l.MaxConns)
	}
	if l.MaxStreams >= 1 && l.MaxStreamsPerUser > l.MaxStreams {
		v.errf("console.limits.max_streams_per_user", "must not exceed max_streams (%d)", l.MaxStreams)
	}
	for _, f := range []struct {
		key string
		d   time.Duration
	}{{"read_header_timeout", l.ReadHeaderTimeout}, {"read_timeout", l.ReadTimeout},
		{"write_timeout", l.WriteTimeout}, {"idle_timeout", l.IdleTimeout}, {"stream_stall", l.StreamStall}} {
		v.positive("console.limits."+f.key, f.d)
	}
	g := c.Login
	if g.MaxFailures < 1 {
		v.errf("console.login.max_failures", "must be at least 1")
	}
	if g.FloodFailures < g.MaxFailures {
		v.errf("console.login.flood_failures", "must be at least max_failures (%d)", g.MaxFailures)
	}
	v.positive("console.login.window", g.Window)
	v.positive("console.login.flood_interval", g.FloodInterval)
	v.positive("console.login.session_idle", g.SessionIdle)
	if c.TLS != nil {
		v.required("console.tls.cert", c.TLS.Cert)
		v.required("console.tls.key", c.TLS.Key)
	}
}
