// Package config loads, expands and validates lanewatch's YAML configuration
// (contract section 8). The structs below are the schema; load.go reads them
// with line numbers so that every problem can be reported as FILE:LINE: path: msg.
package config

import "time"

// Defaults listed in the comments below are applied by Load after decoding;
// docs/configuration.md describes every key and its validation.

// Config is the whole configuration file.
type Config struct {
	Site      Site      `yaml:"site"`
	GatewayID string    `yaml:"gateway_id"`
	DataDir   string    `yaml:"data_dir"`
	Log       Log       `yaml:"log"`
	MQTT      MQTT      `yaml:"mqtt"`
	Console   Console   `yaml:"console"`
	Platform  *Platform `yaml:"platform"`
	Influx    *Influx   `yaml:"influx"`
	Detector  *Detector `yaml:"detector"`
	Cameras   []Camera  `yaml:"cameras"`
	Gates     []Gate    `yaml:"gates"`
	Vehicles  Vehicles  `yaml:"vehicles"`
	Incidents Incidents `yaml:"incidents"`
	Evidence  Evidence  `yaml:"evidence"`
	Outbox    Outbox    `yaml:"outbox"`
	Recording Recording `yaml:"recording"`
	Notify    []Notify  `yaml:"notify"` // notify.go
	Demo      *Demo     `yaml:"demo"`
	Cluster   *Cluster  `yaml:"cluster"` // cluster.go; nil: a single gateway

	// NotifyLinkTTL: how long evidence links in notifications open; default 24h.
	NotifyLinkTTL time.Duration `yaml:"notify_link_ttl"`

	loc *time.Location // Site.Timezone, loaded once by Load
}

// Location is the site's time zone (site.timezone), in which schedules and
// day boundaries are read. It is UTC for a Config that did not come from Load
// and whose time zone does not load.
func (c *Config) Location() *time.Location {
	if c.loc != nil {
		return c.loc
	}
	if loc, err := time.LoadLocation(c.Site.Timezone); err == nil {
		return loc
	}
	return time.UTC
}

type Site struct {
	ID       string `yaml:"id"`       // required; used in every MQTT topic
	Name     string `yaml:"name"`     // free text
	Timezone string `yaml:"timezone"` // IANA name; default "UTC"
	Language string `yaml:"language"` // zh (default) or en: titles in tickets, alerts and messages

	// Plan is the wall's site plan (siteplan.go).
	Plan *SitePlan `yaml:"plan"`
}

type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error; default info
	Format string `yaml:"format"` // text or json; default text
}

type MQTT struct {
	Broker      string `yaml:"broker"` // "embedded" (default), tcp://, ssl://, mqtt://, mqtts://
	Listen      string `yaml:"listen"` // embedded broker listener; default 127.0.0.1:1883
	Username    string `yaml:"username"`
	Password    string `yaml:"password"`
	TopicPrefix string `yaml:"topic_prefix"` // default "lanewatch"
	ClientID    string `yaml:"client_id"`    // default lanewatch-<gateway_id>; stable for the persistent session
	CAFile      string `yaml:"ca_file"`
	CertFile    string `yaml:"cert_file"`
	KeyFile     string `yaml:"key_file"`

	Users     []MQTTUser `yaml:"users"`      // embedded broker's accounts (mqttusers.go)
	TLSListen string     `yaml:"tls_listen"` // embedded broker's TLS listener, with TLS
	TLS       *MQTTTLS   `yaml:"tls"`
}

type Console struct {
	Listen string  `yaml:"listen"` // default 127.0.0.1:8080
	Users  []User  `yaml:"users"`
	Tokens []Token `yaml:"tokens"`
	MJPEG  MJPEG   `yaml:"mjpeg"`
	// PublicURL is the base of links in notifications (https://gw-1.compound.lan:8443).
	PublicURL string `yaml:"public_url"`
	// Limits, Login and TLS: see console_limits.go.
	Limits ConsoleLimits `yaml:"limits"`
	Login  ConsoleLogin  `yaml:"login"`
	TLS    *ConsoleTLS   `yaml:"tls"`
}

type MJPEG struct {
	FPS     float64 `yaml:"fps"`     // default 5
	Width   int     `yaml:"width"`   // default 640
	Quality int     `yaml:"quality"` // default 75
}

type User struct {
	Name         string `yaml:"name"`
	Role         string `yaml:"role"` // viewer, operator, admin
	PasswordHash string `yaml:"password_hash"`
}

type Token struct {
	Name  string `yaml:"name"`
	Role  string `yaml:"role"`
	Token string `yaml:"token"`
}

type Platform struct {
	URL     string        `yaml:"url"`
	Secret  string        `yaml:"secret"`
	Timeout time.Duration `yaml:"timeout"` // per attempt; default 10s
}

type Influx struct {
	URL    string `yaml:"url"`
	Token  string `yaml:"token"`
	Org    string `yaml:"org"`
	Bucket string `yaml:"bucket"` // default "lanewatch"
	// BufferPoints bounds the points held while InfluxDB is unreachable; default 100000.
	BufferPoints int `yaml:"buffer_points"`
}

type Detector struct {
	Kind      string  `yaml:"kind"` // darknet, onnx
	Model     string  `yaml:"model"`
	Config    string  `yaml:"config"`
	SHA256    string  `yaml:"sha256"`
	Input     int     `yaml:"input"`     // square network input, multiple of 32 in 128..1280; default 320
	Threshold float64 `yaml:"threshold"` // score threshold in (0, 1]; default 0.35
	// Pool: networks shared by all cameras; default one per core.
	Pool int `yaml:"pool"`
}

type Camera struct {
	ID        string `yaml:"id"`
	Name      string `yaml:"name"` // default: the id
	URL       string `yaml:"url"`
	Transport string `yaml:"transport"` // tcp (default) or udp
	// ReadBatch: over TCP, read the stream in batches every this long
	// rather than packet by packet: less CPU for at most this much latency.
	// Default 100ms; negative ("-1s") reads every packet as it comes.
	ReadBatch time.Duration `yaml:"read_batch"`
	Detect    Detect        `yaml:"detect"`
	Zones     []Zone        `yaml:"zones"`
	Lines     []Line        `yaml:"lines"`
	Masks     []Mask        `yaml:"masks"`
	Tamper    *bool         `yaml:"tamper"` // camera_tamper rule; default on
	Record    Record        `yaml:"record"`
	ONVIF     *ONVIF        `yaml:"onvif"` // onvif.go
}

type Detect struct {
	// URL of the sub-stream to analyse (contract 11); optional. Accepted and
	// validated; the camera pipeline does not read it yet (issue 15 item 1).
	URL   string  `yaml:"url"`
	FPS   float64 `yaml:"fps"`   // analysed frames per second; default 5
	Width int     `yaml:"width"` // detection width, aspect kept; default 640
	// KeyframesWhenIdle: after this long without motion decode only key frames.
	// Default 30s; 0 keeps the default, negative ("-1s") disables it.
	KeyframesWhenIdle time.Duration `yaml:"keyframes_when_idle"`
	// Sweep: with a model detector, search the zones this often whether or
	// not anything moves, so that objects that never move (a car parked
	// before the gateway started) are found. Default 10s; negative disables.
	Sweep   time.Duration `yaml:"sweep"`
	MinArea float64       `yaml:"min_area"` // fraction of the frame; default 0.0005
}

// Point is [x, y] as fractions of the frame.
type Point [2]float64

type Zone struct {
	ID       string   `yaml:"id"`
	Name     string   `yaml:"name"`     // display name in messages (3号楼外立面); default: the id
	Rule     string   `yaml:"rule"`     // intrusion, loitering, crowd, fire_lane_blocked, falling_object
	Objects  []string `yaml:"objects"`  // person, vehicle, motion, any; default by rule (fire_lane_blocked: vehicle, falling_object: motion, else person)
	Schedule string   `yaml:"schedule"` // internal/schedule syntax; default "always"
	Polygon  []Point  `yaml:"polygon"`
	// Dwell is the confirmation / loiter / stationary time; default by rule:
	// intrusion 1s, loitering 60s, crowd 10s, fire_lane_blocked 2m, falling_object 0.
	Dwell    time.Duration `yaml:"dwell"`
	MinCount int           `yaml:"min_count"` // crowd only; default 5
	Severity string        `yaml:"severity"`
	Cooldown time.Duration `yaml:"cooldown"`
}

type Line struct {
	ID        string   `yaml:"id"`
	Name      string   `yaml:"name"`      // display name in messages; default: the id
	Rule      string   `yaml:"rule"`      // line_crossing (the default)
	Direction string   `yaml:"direction"` // in, out, any (default)
	Objects   []string `yaml:"objects"`
	Points    []Point  `yaml:"points"`
	Schedule  string   `yaml:"schedule"`
	Severity  string   `yaml:"severity"`
}

type Mask struct {
	ID      string  `yaml:"id"`
	Kind    string  `yaml:"kind"` // privacy (default; blacked out everywhere) or ignore (no motion)
	Polygon []Point `yaml:"polygon"`
}

type Gate struct {
	ID      string   `yaml:"id"`
	Name    string   `yaml:"name"`    // default: the id
	Cameras []string `yaml:"cameras"` // ids of cameras watching this gate
	// DoorHeldOpen: door open longer than this raises door_held_open; default 60s.
	DoorHeldOpen time.Duration `yaml:"door_held_open"`
	// AccessWindow: a door_open within this of access_granted is authorised; default 15s.
	AccessWindow time.Duration `yaml:"access_window"`
}

type Vehicles struct {
	ResidentsFile string        `yaml:"residents_file"`
	Watchlist     []string      `yaml:"watchlist"` // plates; Load stores them normalised (plate.NormalizePlate)
	Overstay      time.Duration `yaml:"overstay"`  // default 24h
	Retention     time.Duration `yaml:"retention"` // default 90 days (2160h)
}

// Incidents configures the incident engine.
type Incidents struct {
	// Severity overrides the default severity per incident type.
	Severity map[string]string `yaml:"severity"`
	// Cooldown per incident type: quiet this long and a repeat opens a new incident. Default 5m.
	Cooldown map[string]time.Duration `yaml:"cooldown"`
	// Escalate after this long unacknowledged, per severity. Defaults: critical 2m, high 5m, medium 15m, low never.
	// Load fills missing severities with the defaults; 0 switches escalation off for one.
	Escalate map[string]time.Duration `yaml:"escalate"`
	// EscalationTopic: extra topic (below the site prefix) escalated incidents go to; default "alerts/escalated".
	EscalationTopic string `yaml:"escalation_topic"`
}

type Evidence struct {
	Retention time.Duration `yaml:"retention"` // default 30 days (720h)
	MaxBytes  int64         `yaml:"max_bytes"` // disk cap; default 2 GiB; units KiB MiB GiB KB MB GB accepted
	PreRoll   time.Duration `yaml:"pre_roll"`  // default 10s
	PostRoll  time.Duration `yaml:"post_roll"` // default 10s
}

type Outbox struct {
	MaxBytes int64 `yaml:"max_bytes"` // size cap of accepted tickets; default 1 GiB
}

// Demo drives `make run`: cameras served by the built-in simulator and simulated gate traffic.
type Demo struct {
	Camsim      string            `yaml:"camsim"` // listen address for the built-in simulator, e.g. 127.0.0.1:8554
	Clips       map[string]string `yaml:"clips"`  // stream name -> file
	GateTraffic bool              `yaml:"gate_traffic"`
}
