package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/plate"
	"github.com/lanewatch/lanewatch/internal/schedule"
)

// IDPattern is the shape of every configured id (contract: <site>, <gate>,
// <camera>, <zone>); ids end up in MQTT topics and URLs.
var IDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

var (
	bcryptRE = regexp.MustCompile(`^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$`)
	sha256RE = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
)

// Enumerations of the file format. Incident types and severities come from
// the leaf package incident, the one list the engine and the rules use too.
var (
	zoneRules     = []string{"intrusion", "loitering", "crowd", "fire_lane_blocked", "falling_object"}
	objectKinds   = []string{"person", "vehicle", "motion", "any"}
	severities    = incident.SeverityNames()
	roles         = []string{"viewer", "operator", "admin"}
	incidentTypes = incident.TypeNames()
)

// Limits that keep validation (and the rules engine) bounded on hostile or
// mistaken input.
const (
	maxPolygonPoints = 256
	maxLinePoints    = 64
)

type validator struct {
	d *decoder
}

func (v *validator) errf(path, format string, args ...any) {
	if v.d.isBroken(path) {
		return // already reported as undecodable
	}
	v.d.addf(v.d.lineOf(path), path, format, args...)
}

func (v *validator) required(path, val string) bool {
	if strings.TrimSpace(val) == "" {
		v.errf(path, "required")
		return false
	}
	return true
}

func (v *validator) id(path, val string) {
	if v.required(path, val) && !IDPattern.MatchString(val) {
		v.errf(path, "%q is not a valid id (lower-case letters, digits, _ and -, starting with a letter or digit, at most 64)", truncate(val, 70))
	}
}

func (v *validator) oneOf(path, val string, allowed []string) {
	if !slices.Contains(allowed, val) {
		v.errf(path, "%q is not one of %s", truncate(val, 40), strings.Join(allowed, ", "))
	}
}

func (v *validator) positive(path string, d time.Duration) {
	if d <= 0 {
		v.errf(path, "must be a positive duration")
	}
}

func (v *validator) hostPort(path, val string) {
	host, port, err := net.SplitHostPort(val)
	if err != nil {
		v.errf(path, "%q is not host:port", val)
		return
	}
	_ = host // empty host listens on every interface, which is allowed
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.errf(path, "%q: port must be 0..65535", val)
	}
}

// httpURL checks an http(s) URL with a host.
func (v *validator) httpURL(path, val string) {
	if !v.required(path, val) {
		return
	}
	u, err := url.Parse(val)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.errf(path, "must be an http:// or https:// URL with a host")
	}
}

// dupIDs reports every repeat of an id within one list.
func (v *validator) dupIDs(prefix string, ids []string) {
	first := map[string]int{}
	for i, id := range ids {
		if id == "" {
			continue
		}
		if j, ok := first[id]; ok {
			v.errf(joinIdx(prefix, i)+".id", "duplicate id %q (also %s)", id, joinIdx(prefix, j))
			continue
		}
		first[id] = i
	}
}

func (v *validator) config(c *Config) {
	v.id("site.id", c.Site.ID)
	if _, err := time.LoadLocation(c.Site.Timezone); err != nil {
		v.errf("site.timezone", "unknown time zone %q", c.Site.Timezone)
	}
	v.id("gateway_id", c.GatewayID)
	v.oneOf("log.level", c.Log.Level, []string{"debug", "info", "warn", "error"})
	v.oneOf("log.format", c.Log.Format, []string{"text", "json"})
	v.mqtt(&c.MQTT)
	v.mqttUsers(c)
	v.console(&c.Console)
	if c.Platform != nil {
		v.platform(c.Platform)
	}
	if c.Influx != nil {
		v.httpURL("influx.url", c.Influx.URL)
		v.required("influx.bucket", c.Influx.Bucket)
		if c.Influx.BufferPoints <= 0 {
			v.errf("influx.buffer_points", "must be positive")
		}
	}
	if c.Detector != nil {
		v.detector(c.Detector)
	}
	cams := map[string]bool{}
	ids := make([]string, len(c.Cameras))
	for i := range c.Cameras {
		ids[i] = c.Cameras[i].ID
		cams[c.Cameras[i].ID] = true
		v.camera(joinIdx("cameras", i), &c.Cameras[i])
	}
	v.dupIDs("cameras", ids)
	ids = make([]string, len(c.Gates))
	for i := range c.Gates {
		ids[i] = c.Gates[i].ID
		v.gate(joinIdx("gates", i), &c.Gates[i], cams)
	}
	v.dupIDs("gates", ids)
	v.vehicles(&c.Vehicles)
	v.incidents(&c.Incidents)
	v.positive("evidence.retention", c.Evidence.Retention)
	v.positive("evidence.pre_roll", c.Evidence.PreRoll)
	v.positive("evidence.post_roll", c.Evidence.PostRoll)
	if c.Evidence.MaxBytes <= 0 {
		v.errf("evidence.max_bytes", "must be positive")
	}
	if c.Outbox.MaxBytes <= 0 {
		v.errf("outbox.max_bytes", "must be positive")
	}
	v.recording(c)
	v.sitePlan(c)
	if c.Demo != nil {
		v.demo(c.Demo)
	}
	v.notify(c)
	v.cluster(c)
}

func (v *validator) mqtt(m *MQTT) {
	if m.Broker != "embedded" {
		u, err := url.Parse(m.Broker)
		if err != nil || u.Host == "" || !slices.Contains([]string{"tcp", "ssl", "mqtt", "mqtts"}, u.Scheme) {
			v.errf("mqtt.broker", "must be embedded or a tcp://, ssl://, mqtt:// or mqtts:// URL with a host")
		}
	} else {
		v.hostPort("mqtt.listen", m.Listen)
	}
	p := m.TopicPrefix
	if strings.ContainsAny(p, "+#\x00") || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
		v.errf("mqtt.topic_prefix", "%q: no wildcards (+ #) and no leading or trailing /", p)
	}
	if len(m.ClientID) > 65535 {
		v.errf("mqtt.client_id", "too long")
	}
	if (m.CertFile == "") != (m.KeyFile == "") {
		v.errf("mqtt.cert_file", "cert_file and key_file go together")
	}
}

func (v *validator) console(c *Console) {
	v.hostPort("console.listen", c.Listen)
	names := map[string]int{}
	for i, u := range c.Users {
		p := joinIdx("console.users", i)
		if v.required(p+".name", u.Name) {
			if j, ok := names[u.Name]; ok {
				v.errf(p+".name", "duplicate user %q (also console.users[%d])", u.Name, j)
			}
			names[u.Name] = i
		}
		v.oneOf(p+".role", u.Role, roles)
		if v.required(p+".password_hash", u.PasswordHash) && !bcryptRE.MatchString(u.PasswordHash) {
			v.errf(p+".password_hash", "not a bcrypt hash ($2a$, $2b$ or $2y$); make one with `lanewatch passwd`")
		}
	}
	tokNames := map[string]int{}
	tokens := map[string]int{}
	for i, t := range c.Tokens {
		p := joinIdx("console.tokens", i)
		if v.required(p+".name", t.Name) {
			if j, ok := tokNames[t.Name]; ok {
				v.errf(p+".name", "duplicate token name %q (also console.tokens[%d])", t.Name, j)
			}
			tokNames[t.Name] = i
		}
		v.oneOf(p+".role", t.Role, roles)
		if v.required(p+".token", t.Token) {
			// Never echo the token itself: problems end up in logs.
			if j, ok := tokens[t.Token]; ok {
				v.errf(p+".token", "same token as console.tokens[%d]", j)
			}
			tokens[t.Token] = i
			// A short token is guessable; internal/auth refuses it at start too.
			if len(t.Token) < 16 {
				v.errf(p+".token", "must have at least 16 characters")
			}
		}
	}
	m := c.MJPEG
	if m.FPS <= 0 || m.FPS > 30 {
		v.errf("console.mjpeg.fps", "must be in (0, 30]")
	}
	if m.Width < 64 || m.Width > 3840 {
		v.errf("console.mjpeg.width", "must be 64..3840")
	}
	if m.Quality < 1 || m.Quality > 100 {
		v.errf("console.mjpeg.quality", "must be 1..100")
	}
	v.consoleLimits(c)
}

func (v *validator) platform(p *Platform) {
	v.httpURL("platform.url", p.URL)
	if p.Secret != "" {
		if err := checkSecret(p.Secret); err != nil {
			v.errf("platform.secret", "%v", err)
		}
	}
	v.positive("platform.timeout", p.Timeout)
}

// checkSecret validates a Standard Webhooks secret without ever putting the
// secret into the message.
func checkSecret(s string) error {
	b64, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return fmt.Errorf("must be whsec_ followed by a base64 key")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return fmt.Errorf("the part after whsec_ is not valid base64")
	}
	if len(key) < 16 {
		return fmt.Errorf("key is %d bytes, want at least 16", len(key))
	}
	return nil
}

func (v *validator) detector(d *Detector) {
	v.oneOf("detector.kind", d.Kind, []string{"darknet", "onnx"})
	v.required("detector.model", d.Model)
	if d.Kind == "darknet" {
		v.required("detector.config", d.Config)
	}
	if d.SHA256 != "" && !sha256RE.MatchString(d.SHA256) {
		v.errf("detector.sha256", "must be 64 hex digits")
	}
	if d.Input < 128 || d.Input > 1280 || d.Input%32 != 0 {
		v.errf("detector.input", "must be a multiple of 32 in 128..1280")
	}
	if d.Threshold <= 0 || d.Threshold > 1 {
		v.errf("detector.threshold", "must be in (0, 1]")
	}
	if d.Pool < 1 || d.Pool > 64 {
		v.errf("detector.pool", "must be 1..64")
	}
}

func (v *validator) camera(p string, c *Camera) {
	v.id(p+".id", c.ID)
	if v.required(p+".url", c.URL) {
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") || u.Hostname() == "" {
			// The URL may carry credentials: say what is wrong, not what it is.
			v.errf(p+".url", "must be an rtsp:// or rtsps:// URL with a host")
		}
	}
	v.oneOf(p+".transport", c.Transport, []string{"tcp", "udp"})
	if c.ReadBatch > time.Second {
		// Frames would reach analysis up to this late, and a batch would
		// outgrow the socket buffer.
		v.errf(p+".read_batch", "must be at most 1s (negative: off)")
	}
	v.detectURL(p+".detect.url", c.Detect.URL)
	v.onvif(p+".onvif", c.ONVIF)
	if c.Detect.FPS <= 0 || c.Detect.FPS > 30 {
		v.errf(p+".detect.fps", "must be in (0, 30]")
	}
	if c.Detect.Width < 64 || c.Detect.Width > 3840 {
		v.errf(p+".detect.width", "must be 64..3840")
	}
	if c.Detect.Sweep > 0 && c.Detect.Sweep < time.Second {
		// Each sweep runs the detector on the zones for a few frames.
		v.errf(p+".detect.sweep", "must be at least 1s (negative: off)")
	}
	if c.Detect.MinArea < 0 || c.Detect.MinArea >= 1 {
		v.errf(p+".detect.min_area", "must be a fraction of the frame in [0, 1)")
	}
	ids := make([]string, len(c.Zones))
	for i := range c.Zones {
		ids[i] = c.Zones[i].ID
		v.zone(joinIdx(p+".zones", i), &c.Zones[i])
	}
	v.dupIDs(p+".zones", ids)
	ids = make([]string, len(c.Lines))
	for i := range c.Lines {
		ids[i] = c.Lines[i].ID
		v.line(joinIdx(p+".lines", i), &c.Lines[i])
	}
	v.dupIDs(p+".lines", ids)
	ids = make([]string, len(c.Masks))
	for i, m := range c.Masks {
		mp := joinIdx(p+".masks", i)
		ids[i] = m.ID
		if m.ID != "" {
			v.id(mp+".id", m.ID)
		}
		v.oneOf(mp+".kind", m.Kind, []string{"privacy", "ignore"})
		v.polygon(mp+".polygon", m.Polygon)
	}
	v.dupIDs(p+".masks", ids)
}

func (v *validator) objects(p string, objs []string) {
	for i, o := range objs {
		v.oneOf(joinIdx(p, i), o, objectKinds)
	}
}

func (v *validator) schedule(p, s string) {
	if _, err := schedule.Parse(s); err != nil {
		v.errf(p, "%v", err)
	}
}

func (v *validator) severity(p, s string) {
	if s != "" {
		v.oneOf(p, s, severities)
	}
}

func (v *validator) zone(p string, z *Zone) {
	v.id(p+".id", z.ID)
	if v.required(p+".rule", z.Rule) {
		v.oneOf(p+".rule", z.Rule, zoneRules)
	}
	v.objects(p+".objects", z.Objects)
	v.schedule(p+".schedule", z.Schedule)
	v.polygon(p+".polygon", z.Polygon)
	if z.Dwell < 0 {
		v.errf(p+".dwell", "must not be negative")
	}
	if z.Cooldown < 0 {
		v.errf(p+".cooldown", "must not be negative")
	}
	if z.Rule == "crowd" && z.MinCount < 2 {
		v.errf(p+".min_count", "a crowd needs min_count of at least 2")
	}
	if z.Rule != "crowd" && z.MinCount != 0 {
		v.errf(p+".min_count", "only crowd zones use min_count")
	}
	v.severity(p+".severity", z.Severity)
}

func (v *validator) line(p string, l *Line) {
	v.id(p+".id", l.ID)
	v.oneOf(p+".rule", l.Rule, []string{"line_crossing"})
	v.oneOf(p+".direction", l.Direction, []string{"in", "out", "any"})
	v.objects(p+".objects", l.Objects)
	v.schedule(p+".schedule", l.Schedule)
	v.severity(p+".severity", l.Severity)
	pts := p + ".points"
	switch {
	case len(l.Points) < 2:
		v.errf(pts, "a line needs at least 2 points, got %d", len(l.Points))
		return
	case len(l.Points) > maxLinePoints:
		v.errf(pts, "at most %d points, got %d", maxLinePoints, len(l.Points))
		return
	}
	if !v.inFrame(pts, l.Points) {
		return
	}
	for i := 1; i < len(l.Points); i++ {
		if l.Points[i] == l.Points[i-1] {
			v.errf(joinIdx(pts, i), "repeats the previous point")
		}
	}
}

// inFrame checks every point is a fraction of the frame; false if any is not.
func (v *validator) inFrame(p string, pts []Point) bool {
	ok := true
	for i, pt := range pts {
		if pt[0] < 0 || pt[0] > 1 || pt[1] < 0 || pt[1] > 1 {
			v.errf(joinIdx(p, i), "point [%g, %g] is outside the frame (x and y must be 0..1)", pt[0], pt[1])
			ok = false
		}
	}
	return ok
}

func (v *validator) polygon(p string, pts []Point) {
	switch {
	case len(pts) < 3:
		v.errf(p, "a polygon needs at least 3 points, got %d", len(pts))
		return
	case len(pts) > maxPolygonPoints:
		v.errf(p, "at most %d points, got %d", maxPolygonPoints, len(pts))
		return
	}
	if !v.inFrame(p, pts) {
		return
	}
	if i, j, bad := selfIntersection(pts); bad {
		v.errf(p, "polygon crosses itself (edge %d-%d meets edge %d-%d)", i, (i+1)%len(pts), j, (j+1)%len(pts))
		return
	}
	if polygonArea(pts) < 1e-9 {
		v.errf(p, "polygon has no area")
	}
}

func (v *validator) gate(p string, g *Gate, cams map[string]bool) {
	v.id(p+".id", g.ID)
	for i, c := range g.Cameras {
		if !cams[c] {
			v.errf(joinIdx(p+".cameras", i), "no camera with id %q", truncate(c, 70))
		}
	}
	v.positive(p+".door_held_open", g.DoorHeldOpen)
	v.positive(p+".access_window", g.AccessWindow)
}

// vehicles validates the watchlist and stores each plate normalised, so that
// consumers compare it directly with normalised reads.
func (v *validator) vehicles(ve *Vehicles) {
	seen := map[string]int{}
	for i, raw := range ve.Watchlist {
		p := joinIdx("vehicles.watchlist", i)
		n, ok := plate.NormalizePlate(raw)
		if !ok {
			v.errf(p, "%q is not a plate (2-12 Latin letters, digits or CJK ideographs after removing spaces, dots, dashes)", truncate(raw, 40))
			continue
		}
		if j, dup := seen[n]; dup {
			v.errf(p, "plate %s is already vehicles.watchlist[%d]", n, j)
		}
		seen[n] = i
		ve.Watchlist[i] = n
	}
	v.positive("vehicles.overstay", ve.Overstay)
	v.positive("vehicles.retention", ve.Retention)
}

func (v *validator) incidents(in *Incidents) {
	for _, t := range sortedKeys(in.Severity) {
		p := joinKey("incidents.severity", t)
		v.oneOf(p, t, incidentTypes)
		v.oneOf(p, in.Severity[t], severities)
	}
	for _, t := range sortedKeys(in.Cooldown) {
		p := joinKey("incidents.cooldown", t)
		v.oneOf(p, t, incidentTypes)
		if in.Cooldown[t] < 0 {
			v.errf(p, "must not be negative")
		}
	}
	for _, s := range sortedKeys(in.Escalate) {
		p := joinKey("incidents.escalate", s)
		v.oneOf(p, s, severities)
		// 0 is allowed: it switches escalation off for that severity.
		if in.Escalate[s] < 0 {
			v.errf(p, "must not be negative (0 disables escalation)")
		}
	}
	t := in.EscalationTopic
	if strings.ContainsAny(t, "+#\x00") || strings.HasPrefix(t, "/") || strings.HasSuffix(t, "/") {
		v.errf("incidents.escalation_topic", "%q: no wildcards (+ #) and no leading or trailing /", t)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (v *validator) demo(d *Demo) {
	if v.required("demo.camsim", d.Camsim) {
		v.hostPort("demo.camsim", d.Camsim)
	}
	for _, name := range sortedKeys(d.Clips) {
		p := joinKey("demo.clips", name)
		if !IDPattern.MatchString(name) {
			v.errf(p, "stream name %q is not a valid id", truncate(name, 70))
		}
		v.required(p, d.Clips[name])
	}
}
