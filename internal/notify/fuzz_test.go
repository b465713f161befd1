package notify

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lanewatch/lanewatch/internal/outbox"
)

// FuzzRobotAnswer: whatever a robot (or a proxy in front of it) answers,
// classifying it never panics, a message counts as delivered only on a 2xx
// whose JSON says code 0, and a retry's wait stays within an hour.
func FuzzRobotAnswer(f *testing.F) {
	for _, seed := range []struct {
		kind   string
		status int
		body   string
	}{
		{"wecom", 200, `{"errcode":0,"errmsg":"ok"}`},
		{"wecom", 200, `{"errcode":45009,"errmsg":"api freq out of limit"}`},
		{"dingtalk", 200, `{"errcode":310000,"errmsg":"sign not match"}`},
		{"feishu", 200, `{"code":19021,"msg":"sign match fail","data":{}}`},
		{"feishu", 429, `{"code":99991400,"msg":"request trigger frequency limit"}`},
		{"feishu", 200, `{"StatusCode":0,"StatusMessage":"success"}`},
		{"dingtalk", 502, `<html>bad gateway</html>`},
		{"wecom", 200, `not json`},
		{"feishu", 200, `{"code":"0"}`},
	} {
		f.Add(seed.kind, seed.status, []byte(seed.body), "52")
	}
	now := time.Date(2026, 11, 26, 23, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, kind string, status int, body []byte, reset string) {
		r := &Robot{Kind: kind}
		h := http.Header{}
		if utf8.ValidString(reset) {
			h.Set("x-ogw-ratelimit-reset", reset)
			h.Set("Retry-After", reset)
		}
		res := r.classify(status, h, body, now)
		if res.RetryAfter < 0 || res.RetryAfter > time.Hour {
			t.Fatalf("wait %v", res.RetryAfter)
		}
		if res.Outcome == outbox.Delivered {
			var ans map[string]any
			if status/100 != 2 || json.Unmarshal(body, &ans) != nil {
				t.Fatalf("delivered on %d %q", status, body)
			}
			for _, k := range []string{"errcode", "code", "StatusCode"} {
				if v, ok := ans[k]; ok && v != 0.0 && v != nil {
					if _, isNum := v.(float64); isNum {
						t.Fatalf("delivered with %s=%v", k, v)
					}
				}
			}
		}
	})
}
