package config

import (
	"maps"
	"runtime"
	"slices"
	"time"
)

// The defaults of every key live here and nowhere else: Load applies them,
// and components that may get a Camera or Incidents not from Load (tests,
// the eval) resolve it with ResolveCamera / ResolveIncidents instead of
// keeping defaults of their own.
const (
	DefaultTimezone       = "UTC"
	DefaultGatewayID      = "gw-1"
	DefaultDataDir        = "./data"
	DefaultBroker         = "embedded"
	DefaultBrokerListen   = "127.0.0.1:1883"
	DefaultTopicPrefix    = "lanewatch"
	DefaultConsoleListen  = "127.0.0.1:8080"
	DefaultEscalation     = "alerts/escalated"
	DefaultDetectorInput  = 320
	DefaultDetectorThresh = 0.35

	DefaultReadBatch         = 100 * time.Millisecond
	DefaultDetectFPS         = 5.0
	DefaultDetectWidth       = 640
	DefaultKeyframesWhenIdle = 30 * time.Second
	DefaultSweep             = 10 * time.Second
	DefaultMinArea           = 0.0005

	DefaultMJPEGFPS     = 5.0
	DefaultMJPEGWidth   = 640
	DefaultMJPEGQuality = 75

	DefaultOverstay         = 24 * time.Hour
	DefaultVehicleRetention = 2160 * time.Hour // 90 days

	DefaultDoorHeldOpen = 60 * time.Second
	DefaultAccessWindow = 15 * time.Second

	DefaultPlatformTimeout    = 10 * time.Second
	DefaultInfluxBucket       = "lanewatch"
	DefaultInfluxBufferPoints = 100000

	DefaultEvidenceRetention = 720 * time.Hour // 30 days
	DefaultEvidenceMaxBytes  = 2 * gib
	DefaultPreRoll           = 10 * time.Second
	DefaultPostRoll          = 10 * time.Second
	DefaultOutboxMaxBytes    = 1 * gib

	// DefaultCooldown is incidents.cooldown of a type the file does not list.
	DefaultCooldown = 5 * time.Minute
)

const gib = 1 << 30

// DefaultEscalate is the escalation delay per severity when the file does not
// set one; low is absent: low-severity incidents never escalate by themselves.
var DefaultEscalate = map[string]time.Duration{
	"critical": 2 * time.Minute,
	"high":     5 * time.Minute,
	"medium":   15 * time.Minute,
}

// defaultDwell is the per-rule confirmation time for zones that set none:
// long enough to ignore a passer-by for loitering and a brief stop for the
// fire lane, short for intrusion where speed matters.
var defaultDwell = map[string]time.Duration{
	"intrusion":         time.Second,
	"loitering":         60 * time.Second,
	"crowd":             10 * time.Second,
	"fire_lane_blocked": 2 * time.Minute,
	"falling_object":    0,
}

// defaultObjects is what a zone rule looks at when objects is not given.
var defaultObjects = map[string][]string{
	"intrusion":         {"person"},
	"loitering":         {"person"},
	"crowd":             {"person"},
	"fire_lane_blocked": {"vehicle"},
	"falling_object":    {"motion"},
	"line_crossing":     {"person"},
}

// DefaultCrowdMinCount is the people count a crowd zone needs when min_count is unset.
const DefaultCrowdMinCount = 5

func setString(p *string, def string) {
	if *p == "" {
		*p = def
	}
}

func setDuration(p *time.Duration, def time.Duration) {
	if *p == 0 {
		*p = def
	}
}

func setFloat(p *float64, def float64) {
	if *p == 0 {
		*p = def
	}
}

func setInt(p *int, def int) {
	if *p == 0 {
		*p = def
	}
}

func setInt64(p *int64, def int64) {
	if *p == 0 {
		*p = def
	}
}

// applyDefaults fills every unset optional field. It runs after decoding and
// before validation, so validation sees the values the gateway will use.
func applyDefaults(c *Config) {
	setString(&c.Site.Timezone, DefaultTimezone)
	setString(&c.GatewayID, DefaultGatewayID)
	setString(&c.DataDir, DefaultDataDir)
	setString(&c.Log.Level, "info")
	setString(&c.Log.Format, "text")

	setString(&c.MQTT.Broker, DefaultBroker)
	setString(&c.MQTT.Listen, DefaultBrokerListen)
	setString(&c.MQTT.TopicPrefix, DefaultTopicPrefix)
	setString(&c.MQTT.ClientID, "lanewatch-"+c.GatewayID)

	setString(&c.Console.Listen, DefaultConsoleListen)
	notifyDefaults(c)
	setFloat(&c.Console.MJPEG.FPS, DefaultMJPEGFPS)
	setInt(&c.Console.MJPEG.Width, DefaultMJPEGWidth)
	setInt(&c.Console.MJPEG.Quality, DefaultMJPEGQuality)
	c.Console.Limits, c.Console.Login = c.Console.Limits.WithDefaults(), c.Console.Login.WithDefaults()

	if c.Platform != nil {
		setDuration(&c.Platform.Timeout, DefaultPlatformTimeout)
	}
	if c.Influx != nil {
		setString(&c.Influx.Bucket, DefaultInfluxBucket)
		setInt(&c.Influx.BufferPoints, DefaultInfluxBufferPoints)
	}
	if c.Detector != nil {
		setInt(&c.Detector.Input, DefaultDetectorInput)
		setFloat(&c.Detector.Threshold, DefaultDetectorThresh)
		setInt(&c.Detector.Pool, runtime.NumCPU())
	}

	for i := range c.Cameras {
		applyCameraDefaults(&c.Cameras[i])
	}
	for i := range c.Gates {
		g := &c.Gates[i]
		setString(&g.Name, g.ID)
		setDuration(&g.DoorHeldOpen, DefaultDoorHeldOpen)
		setDuration(&g.AccessWindow, DefaultAccessWindow)
	}

	setDuration(&c.Vehicles.Overstay, DefaultOverstay)
	setDuration(&c.Vehicles.Retention, DefaultVehicleRetention)

	c.Incidents = ResolveIncidents(c.Incidents)

	setDuration(&c.Evidence.Retention, DefaultEvidenceRetention)
	setInt64(&c.Evidence.MaxBytes, DefaultEvidenceMaxBytes)
	setDuration(&c.Evidence.PreRoll, DefaultPreRoll)
	setDuration(&c.Evidence.PostRoll, DefaultPostRoll)

	setInt64(&c.Outbox.MaxBytes, DefaultOutboxMaxBytes)
	c.recordingDefaults()
	c.clusterDefaults()
}

// ResolveCamera returns c with every unset optional field at its default,
// as Load leaves it; a camera from Load comes back unchanged. Its zone, line
// and mask slices are copies: c is not modified.
func ResolveCamera(c Camera) Camera {
	c.Zones = slices.Clone(c.Zones)
	c.Lines = slices.Clone(c.Lines)
	c.Masks = slices.Clone(c.Masks)
	applyCameraDefaults(&c)
	return c
}

func applyCameraDefaults(cam *Camera) {
	setString(&cam.Name, cam.ID)
	setString(&cam.Transport, "tcp")
	setDuration(&cam.ReadBatch, DefaultReadBatch)
	setFloat(&cam.Detect.FPS, DefaultDetectFPS)
	setInt(&cam.Detect.Width, DefaultDetectWidth)
	setDuration(&cam.Detect.KeyframesWhenIdle, DefaultKeyframesWhenIdle)
	setDuration(&cam.Detect.Sweep, DefaultSweep)
	setFloat(&cam.Detect.MinArea, DefaultMinArea)
	if cam.Tamper == nil {
		on := true
		cam.Tamper = &on
	}
	for j := range cam.Zones {
		z := &cam.Zones[j]
		setString(&z.Schedule, "always")
		if len(z.Objects) == 0 {
			z.Objects = append([]string(nil), defaultObjects[z.Rule]...)
		}
		setDuration(&z.Dwell, defaultDwell[z.Rule])
		if z.Rule == "crowd" {
			setInt(&z.MinCount, DefaultCrowdMinCount)
		}
	}
	for j := range cam.Lines {
		l := &cam.Lines[j]
		setString(&l.Rule, "line_crossing")
		setString(&l.Direction, "any")
		setString(&l.Schedule, "always")
		if len(l.Objects) == 0 {
			l.Objects = append([]string(nil), defaultObjects["line_crossing"]...)
		}
	}
	for j := range cam.Masks {
		setString(&cam.Masks[j].Kind, "privacy")
	}
}

// ResolveIncidents returns in with the escalation delays of unlisted
// severities and the escalation topic at their defaults, as Load leaves
// them; the Escalate map is a copy.
func ResolveIncidents(in Incidents) Incidents {
	esc := make(map[string]time.Duration, len(DefaultEscalate)+len(in.Escalate))
	maps.Copy(esc, in.Escalate)
	for sev, d := range DefaultEscalate {
		if _, set := esc[sev]; !set {
			esc[sev] = d
		}
	}
	in.Escalate = esc
	setString(&in.EscalationTopic, DefaultEscalation)
	return in
}
