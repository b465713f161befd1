package config

import (
	"time"
)

// Notify is one notification channel of contract section 10 (notify[]):
// where incidents that open, escalate or change severity are sent, and which.
type Notify struct {
	ID   string `yaml:"id"`
	Kind string `yaml:"kind"` // wecom, dingtalk, feishu, webhook, webpush
	// URL is the robot's webhook address (wecom, dingtalk, feishu) or the
	// receiver (webhook); webpush has none (the browsers subscribed).
	URL string `yaml:"url"`
	// Secret: dingtalk and feishu robots' signing secret ("SEC…" for
	// DingTalk); webhook: whsec_<base64> as for the platform. Optional.
	Secret string `yaml:"secret"`
	// Filters; empty matches everything.
	Severities []string `yaml:"severities"`
	Types      []string `yaml:"types"`
	Cameras    []string `yaml:"cameras"`
	Gates      []string `yaml:"gates"`
	Schedule   string   `yaml:"schedule"` // internal/schedule syntax in site.timezone; default "always"
	// MaxPerMinute: the receiver's rate budget; messages beyond it are
	// folded into summaries. Default: wecom and dingtalk 20, feishu 100
	// (spread as 5 per 3 s for its 5/s cap), webhook and webpush none.
	MaxPerMinute int           `yaml:"max_per_minute"`
	Timeout      time.Duration `yaml:"timeout"` // per attempt; default 10s
}

// NotifyKinds are the notify[].kind values.
var NotifyKinds = []string{"wecom", "dingtalk", "feishu", "webhook", "webpush"}

// Languages are the site.language values.
var Languages = []string{"zh", "en"}

// DefaultNotifyLinkTTL is how long an evidence link in a message opens.
const DefaultNotifyLinkTTL = 24 * time.Hour

func notifyDefaults(c *Config) {
	setString(&c.Site.Language, "zh")
	setDuration(&c.NotifyLinkTTL, DefaultNotifyLinkTTL)
	for i := range c.Notify {
		n := &c.Notify[i]
		setString(&n.Schedule, "always")
		setDuration(&n.Timeout, 10*time.Second)
	}
}

func (v *validator) notify(c *Config) {
	v.oneOf("site.language", c.Site.Language, Languages)
	v.positive("notify_link_ttl", c.NotifyLinkTTL)
	if c.Console.PublicURL != "" {
		v.httpURL("console.public_url", c.Console.PublicURL)
	}
	cams, gates := map[string]bool{}, map[string]bool{}
	for _, cam := range c.Cameras {
		cams[cam.ID] = true
	}
	for _, g := range c.Gates {
		gates[g.ID] = true
	}
	ids := make([]string, len(c.Notify))
	for i := range c.Notify {
		n := &c.Notify[i]
		p := joinIdx("notify", i)
		ids[i] = n.ID
		v.id(p+".id", n.ID)
		v.oneOf(p+".kind", n.Kind, NotifyKinds)
		switch n.Kind {
		case "webpush":
			if n.URL != "" {
				v.errf(p+".url", "webpush sends to the browsers subscribed on /patrol; it takes no url")
			}
		default:
			v.httpURL(p+".url", n.URL)
		}
		if n.Kind == "webhook" && n.Secret != "" {
			if err := checkSecret(n.Secret); err != nil {
				v.errf(p+".secret", "%v", err)
			}
		}
		if n.Secret != "" && (n.Kind == "wecom" || n.Kind == "webpush") {
			v.errf(p+".secret", "%s does not sign its messages; remove secret", n.Kind)
		}
		for j, s := range n.Severities {
			v.oneOf(joinIdx(p+".severities", j), s, severities)
		}
		for j, t := range n.Types {
			v.oneOf(joinIdx(p+".types", j), t, incidentTypes)
		}
		for j, cam := range n.Cameras {
			if !cams[cam] {
				v.errf(joinIdx(p+".cameras", j), "unknown camera %q", truncate(cam, 70))
			}
		}
		for j, g := range n.Gates {
			if !gates[g] {
				v.errf(joinIdx(p+".gates", j), "unknown gate %q", truncate(g, 70))
			}
		}
		v.schedule(p+".schedule", n.Schedule)
		if n.MaxPerMinute < 0 {
			v.errf(p+".max_per_minute", "must not be negative")
		}
		if n.MaxPerMinute > 0 && (n.Kind == "webhook" || n.Kind == "webpush") {
			v.errf(p+".max_per_minute", "%s messages are not folded; remove max_per_minute", n.Kind)
		}
		v.positive(p+".timeout", n.Timeout)
	}
	v.dupIDs("notify", ids)
}
