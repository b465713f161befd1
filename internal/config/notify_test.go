package config

import (
	"testing"
	"time"
)

func TestNotifyConfig(t *testing.T) {
	tests := []struct {
		name  string
		yml   string
		wants []want
	}{
		{"valid channels", `site: {id: s1, language: en}
cameras:
  - id: cam
    url: rtsp://10.0.0.2/stream
gates: [{id: north, name: 北门}]
notify:
  - {id: patrol-group, kind: wecom, url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", severities: [high, critical]}
  - {id: night, kind: dingtalk, url: "https://oapi.dingtalk.com/robot/send?access_token=t", secret: SECx, types: [sos, falling_object], schedule: "22:00-06:00"}
  - {id: ops, kind: feishu, url: "https://open.feishu.cn/open-apis/bot/v2/hook/h", secret: s, cameras: [cam], gates: [north], max_per_minute: 10}
  - {id: hook, kind: webhook, url: "https://ops.example/hook", secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}
  - {id: phones, kind: webpush}
console: {public_url: "https://gw-1.compound.lan:8443"}
`, nil},
		{"every mistake", cam + `notify:
  - {id: Bad, kind: telegram, url: "ftp://x"}
  - {id: a, kind: wecom, url: "https://x/", secret: s, severities: [urgent], types: [fire], cameras: [nope], gates: [nope], schedule: "25:00-26:00", max_per_minute: -1}
  - {id: a, kind: webpush, url: "https://x/"}
  - {id: w, kind: webhook, url: "https://x/", secret: plain, max_per_minute: 5}
notify_link_ttl: -1s
`, []want{
			{6, "notify[0].id", "not a valid id"},
			{6, "notify[0].kind", "not one of wecom, dingtalk, feishu, webhook, webpush"},
			{6, "notify[0].url", "http:// or https://"},
			{7, "notify[1].secret", "does not sign"},
			{7, "notify[1].severities[0]", "not one of"},
			{7, "notify[1].types[0]", "not one of"},
			{7, "notify[1].cameras[0]", "unknown camera"},
			{7, "notify[1].gates[0]", "unknown gate"},
			{7, "notify[1].schedule", "out of range"},
			{7, "notify[1].max_per_minute", "negative"},
			{8, "notify[2].url", "takes no url"},
			{8, "notify[2].id", "duplicate"},
			{9, "notify[3].secret", "whsec_"},
			{9, "notify[3].max_per_minute", "not folded"},
			{10, "notify_link_ttl", "positive"},
		}},
		{"language", `site: {id: s1, language: fr}
`, []want{{1, "site.language", "not one of zh, en"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkProblems(t, tt.yml, tt.wants) })
	}
}

func TestNotifyDefaults(t *testing.T) {
	c, err := Parse("t.yaml", []byte(cam+`notify: [{id: g, kind: wecom, url: "https://x/"}]
`))
	if err != nil {
		t.Fatal(err)
	}
	n := c.Notify[0]
	if c.Site.Language != "zh" || c.NotifyLinkTTL != 24*time.Hour || n.Schedule != "always" || n.Timeout != 10*time.Second {
		t.Fatalf("defaults: language %q ttl %v channel %+v", c.Site.Language, c.NotifyLinkTTL, n)
	}
}
