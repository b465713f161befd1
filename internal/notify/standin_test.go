package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// robotStandIn is a WeCom, DingTalk or Feishu group robot on loopback that
// checks what the real one checks: the token in the URL, the signature (as
// each platform computes it, within its one-hour window), the message shape
// and size; and answers with the platform's codes. It can be down (5xx) and
// enforces the 20-a-minute limit with the platform's rate-limit code.
type robotStandIn struct {
	*httptest.Server
	kind, token, secret string

	mu       sync.Mutex
	now      func() time.Time
	down     bool
	limit    int    // per minute; 0: none
	force    int    // answer the next request with this code (once)
	keyword  string // the robot's keyword security (dingtalk, feishu)
	sent     []time.Time
	accepted []string // the text of each accepted message
	answers  map[int]int
}

func newStandIn(t *testing.T, kind, secret string, now func() time.Time) *robotStandIn {
	s := &robotStandIn{kind: kind, token: "tok-" + kind, secret: secret, now: now, answers: map[int]int{}}
	if s.now == nil {
		s.now = time.Now
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// url is the webhook address an admin would paste into notify[].url.
func (s *robotStandIn) url() string {
	switch s.kind {
	case "wecom":
		return s.URL + "/cgi-bin/webhook/send?key=" + s.token
	case "dingtalk":
		return s.URL + "/robot/send?access_token=" + s.token
	}
	return s.URL + "/open-apis/bot/v2/hook/" + s.token
}

func (s *robotStandIn) set(f func(s *robotStandIn)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *robotStandIn) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.accepted...)
}

func (s *robotStandIn) answered(code int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.answers[code]
}

func (s *robotStandIn) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.down {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	code, msg, text := s.check(r, body, now)
	if code == 0 && s.kind != "wecom" && s.keyword != "" && !strings.Contains(text, s.keyword) {
		// DingTalk 310000 "keywords not in content", Feishu 19024 "Key Words Not Found".
		code, msg, text = map[string]int{"dingtalk": 310000, "feishu": 19024}[s.kind], "keywords not in content", ""
	}
	if s.force != 0 && code == 0 {
		code, msg, s.force = s.force, "forced by the test", 0
	}
	if code == 0 && s.limit > 0 {
		i := 0
		for i < len(s.sent) && !s.sent[i].Add(time.Minute).After(now) {
			i++
		}
		s.sent = s.sent[i:]
		if len(s.sent) >= s.limit {
			code, msg = map[string]int{"wecom": 45009, "dingtalk": 130101, "feishu": 11232}[s.kind], "send too fast"
		} else {
			s.sent = append(s.sent, now)
		}
	}
	s.answers[code]++
	if code == 0 {
		s.accepted = append(s.accepted, text)
	}
	w.Header().Set("Content-Type", "application/json")
	if s.kind == "feishu" {
		json.NewEncoder(w).Encode(map[string]any{"code": code, "msg": msg, "data": map[string]any{}})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"errcode": code, "errmsg": msg})
}

// within says whether a signature timestamp is inside the platforms' hour.
func within(ts, now time.Time) bool { return now.Sub(ts).Abs() <= time.Hour }

func (s *robotStandIn) check(r *http.Request, body []byte, now time.Time) (code int, msg, text string) {
	var m map[string]any
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || json.Unmarshal(body, &m) != nil {
		return map[string]int{"wecom": 40008, "dingtalk": 43004, "feishu": 9499}[s.kind], "bad request", ""
	}
	switch s.kind {
	case "wecom":
		if r.URL.Path != "/cgi-bin/webhook/send" || r.URL.Query().Get("key") != s.token {
			return 93000, "invalid webhook url", ""
		}
		md, _ := m["markdown"].(map[string]any)
		content, _ := md["content"].(string)
		if m["msgtype"] != "markdown" || content == "" {
			return 40008, "invalid message type", ""
		}
		if len(content) > 4096 {
			return 40058, "markdown.content exceed max length 4096", ""
		}
		return 0, "ok", content
	case "dingtalk":
		q := r.URL.Query()
		if r.URL.Path != "/robot/send" || q.Get("access_token") != s.token {
			return 300001, "token is not exist", ""
		}
		if s.secret != "" {
			ms, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
			// DingTalk: HMAC-SHA256 keyed with the secret over timestamp+"\n"+secret.
			mac := hmac.New(sha256.New, []byte(s.secret))
			mac.Write([]byte(q.Get("timestamp") + "\n" + s.secret))
			want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
			if err != nil || !within(time.UnixMilli(ms), now) || !hmac.Equal([]byte(q.Get("sign")), []byte(want)) {
				return 310000, "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]", ""
			}
		}
		md, _ := m["markdown"].(map[string]any)
		title, _ := md["title"].(string)
		content, _ := md["text"].(string)
		if m["msgtype"] != "markdown" || title == "" || content == "" {
			return 40035, "缺少参数 markdown", ""
		}
		if len(body) > 20000 {
			return 460101, "message too long", ""
		}
		return 0, "ok", title + "\n" + content
	default:
		if !strings.HasSuffix(r.URL.Path, "/"+s.token) {
			return 19001, "param invalid: incoming webhook access token invalid", ""
		}
		if s.secret != "" {
			ts, _ := m["timestamp"].(string)
			sign, _ := m["sign"].(string)
			sec, err := strconv.ParseInt(ts, 10, 64)
			// Feishu: HMAC-SHA256 keyed with timestamp+"\n"+secret over nothing.
			mac := hmac.New(sha256.New, []byte(ts+"\n"+s.secret))
			want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
			if err != nil || !within(time.Unix(sec, 0), now) || !hmac.Equal([]byte(sign), []byte(want)) {
				return 19021, "sign match fail or timestamp is not within one hour from current time", ""
			}
		}
		if len(body) > 20<<10 {
			return 9499, "request body too large", ""
		}
		card, _ := m["card"].(map[string]any)
		header, _ := card["header"].(map[string]any)
		title, _ := header["title"].(map[string]any)
		elements, _ := card["elements"].([]any)
		if m["msg_type"] != "interactive" || title["tag"] != "plain_text" || title["content"] == "" || len(elements) == 0 {
			return 9499, "Bad Request", ""
		}
		var b strings.Builder
		fmt.Fprintln(&b, title["content"])
		for _, e := range elements {
			eb, _ := json.Marshal(e)
			b.Write(eb)
			b.WriteByte('\n')
		}
		return 0, "success", b.String()
	}
}
