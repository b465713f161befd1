package config

import (
	"runtime"
	"time"
)

// Defaults that other packages may want to refer to (e.g. in help text).
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
	setFloat(&c.Console.MJPEG.FPS, 5)
	setInt(&c.Console.MJPEG.Width, 640)
	setInt(&c.Console.MJPEG.Quality, 75)
	c.Console.Limits, c.Console.Login = c.Console.Limits.WithDefaults(), c.Console.Login.WithDefaults()

	if c.Platform != nil {
		setDuration(&c.Platform.Timeout, 10*time.Second)
	}
	if c.Influx != nil {
		setString(&c.Influx.Bucket, "lanewatch")
		setInt(&c.Influx.BufferPoints, 100000)
	}
	if c.Detector != nil {
		setInt(&c.Detector.Input, DefaultDetectorInput)
		setFloat(&c.Detector.Threshold, DefaultDetectorThresh)
		setInt(&c.Detector.Pool, runtime.NumCPU())
	}

	for i := range c.Cameras {
		cam := &c.Cameras[i]
		setString(&cam.Name, cam.ID)
		setString(&cam.Transport, "tcp")
		setDuration(&cam.ReadBatch, 100*time.Millisecond)
		setFloat(&cam.Detect.FPS, 5)
		setInt(&cam.Detect.Width, 640)
		setDuration(&cam.Detect.KeyframesWhenIdle, 30*time.Second)
		setDuration(&cam.Detect.Sweep, 10*time.Second)
		setFloat(&cam.Detect.MinArea, 0.0005)
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
	for i := range c.Gates {
		g := &c.Gates[i]
		setString(&g.Name, g.ID)
		setDuration(&g.DoorHeldOpen, 60*time.Second)
		setDuration(&g.AccessWindow, 15*time.Second)
	}

	setDuration(&c.Vehicles.Overstay, 24*time.Hour)
	setDuration(&c.Vehicles.Retention, 2160*time.Hour)

	if c.Incidents.Escalate == nil {
		c.Incidents.Escalate = map[string]time.Duration{}
	}
	for sev, d := range DefaultEscalate {
		if _, set := c.Incidents.Escalate[sev]; !set {
			c.Incidents.Escalate[sev] = d
		}
	}
	setString(&c.Incidents.EscalationTopic, DefaultEscalation)

	setDuration(&c.Evidence.Retention, 720*time.Hour)
	setInt64(&c.Evidence.MaxBytes, 2*gib)
	setDuration(&c.Evidence.PreRoll, 10*time.Second)
	setDuration(&c.Evidence.PostRoll, 10*time.Second)

	setInt64(&c.Outbox.MaxBytes, 1*gib)
	c.recordingDefaults()
	c.clusterDefaults()
}
