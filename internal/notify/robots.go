package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/outbox"
)

// Robot sends notes to a WeCom, DingTalk or Feishu group robot (custom bot)
// through its webhook, in the shape and with the signature that platform's
// documentation gives, and reads the platform's error code from the answer:
// these robots answer HTTP 200 with the error in the body.
type Robot struct {
	Kind    string // wecom, dingtalk, feishu
	URL     string
	Secret  string // dingtalk, feishu: the signing secret; empty: unsigned
	Timeout time.Duration
	Client  *http.Client
	Now     func() time.Time
}

// Send delivers one note.
func (r *Robot) Send(ctx context.Context, m outbox.Message) outbox.Result {
	return r.SendFolded(ctx, []outbox.Message{m})
}

// SendFolded delivers several notes as one summary message.
func (r *Robot) SendFolded(ctx context.Context, ms []outbox.Message) outbox.Result {
	ns := make([]Note, 0, len(ms))
	for _, m := range ms {
		n, err := DecodeNote(m.Body)
		if err != nil {
			return outbox.Result{Outcome: outbox.Dead, Response: []byte("unreadable message " + m.Key + ": " + err.Error())}
		}
		ns = append(ns, n)
	}
	now := r.Now()
	target, payload, err := r.request(ns, now)
	if err != nil {
		return outbox.Result{Outcome: outbox.Dead, Response: []byte(err.Error())}
	}
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(payload))
	if err != nil {
		return outbox.Result{Outcome: outbox.Dead, Response: []byte(outbox.TransportError(err))}
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	res, err := r.Client.Do(req)
	if err != nil {
		return outbox.Result{Outcome: outbox.Retry, Err: outbox.TransportError(err)}
	}
	defer res.Body.Close()
	body := outbox.ReadResponse(res.Body)
	return r.classify(res.StatusCode, res.Header, body, now)
}

// classify reads the robot's answer: its error code first (these robots
// answer HTTP 200 with the error in the body), then the HTTP status.
func (r *Robot) classify(status int, h http.Header, body []byte, now time.Time) outbox.Result {
	var ans struct {
		ErrCode    *int   `json:"errcode"` // wecom, dingtalk
		ErrMsg     string `json:"errmsg"`
		Code       *int   `json:"code"` // feishu
		Msg        string `json:"msg"`
		StatusCode *int   `json:"StatusCode"` // feishu's older answer
	}
	parsed := json.Unmarshal(body, &ans) == nil
	code := 0
	switch {
	case ans.ErrCode != nil:
		code = *ans.ErrCode
	case ans.Code != nil:
		code = *ans.Code
	case ans.StatusCode != nil:
		code = *ans.StatusCode
	}
	msg := ans.ErrMsg + ans.Msg
	// A rate-limit code means "later" whatever the HTTP status says
	// (Feishu answers its frequency limit with 429 or 400).
	if wait, limited := r.rateLimited(code, h, now); limited {
		return outbox.Result{Outcome: outbox.Retry, Status: code, RetryAfter: wait,
			Err: fmt.Sprintf("%s rate limit: code %d %s", r.Kind, code, truncate(msg, 200))}
	}
	if status/100 != 2 {
		return outbox.HTTPResult(&http.Response{StatusCode: status, Header: h}, body, now)
	}
	switch {
	case !parsed:
		// A 200 that is not the robot's JSON (a proxy's page): try again.
		return outbox.Result{Outcome: outbox.Retry, Status: status, Err: r.Kind + ": the answer is not the robot's JSON"}
	case code == 0:
		return outbox.Result{Outcome: outbox.Delivered, Status: status}
	case code == -1:
		// WeCom and DingTalk: "system busy".
		return outbox.Result{Outcome: outbox.Retry, Status: code, Err: fmt.Sprintf("%s busy: code -1 %s", r.Kind, truncate(msg, 200))}
	}
	// Bad signature, missing keyword, IP not allowed, unknown robot, bad
	// message: sending it again cannot help; an admin sees the answer.
	return outbox.Result{Outcome: outbox.Dead, Status: code, Response: body}
}

// rateLimited knows each platform's "too many messages" codes and how long
// they ask to wait.
func (r *Robot) rateLimited(code int, h http.Header, now time.Time) (time.Duration, bool) {
	switch r.Kind {
	case "wecom":
		// 45009: api freq out of limit (20 messages a minute per robot).
		if code == 45009 {
			return time.Minute, true
		}
	case "dingtalk":
		// 130101: send too fast, exceed 20 times per minute; 410100 and
		// 660026 the same in newer answers. DingTalk then holds the robot
		// for 10 minutes.
		if code == 130101 || code == 410100 || code == 660026 {
			return 10 * time.Minute, true
		}
	case "feishu":
		// 11232: frequency limited; 99991400: request trigger frequency
		// limit, with the wait in x-ogw-ratelimit-reset (seconds).
		if code == 11232 || code == 99991400 {
			wait := time.Minute
			if s, err := strconv.Atoi(h.Get("x-ogw-ratelimit-reset")); err == nil && s > 0 && s <= 3600 {
				wait = time.Duration(s) * time.Second
			}
			return max(wait, outbox.ParseRetryAfter(h.Get("Retry-After"), now)), true
		}
	}
	return 0, false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// request builds the platform's URL and JSON body for ns (one note, or a
// folded summary of several).
func (r *Robot) request(ns []Note, now time.Time) (string, []byte, error) {
	var title, text string
	if len(ns) == 1 {
		title, text = headline(ns[0]), markdown(ns[0])
	} else {
		title, text = foldedTitle(ns), foldedMarkdown(ns)
	}
	switch r.Kind {
	case "wecom":
		// https://developer.work.weixin.qq.com/document/path/91770
		b, err := json.Marshal(map[string]any{"msgtype": "markdown", "markdown": map[string]string{"content": text}})
		return r.URL, b, err
	case "dingtalk":
		// https://open.dingtalk.com/document/robots/custom-robot-access
		target := r.URL
		if r.Secret != "" {
			u, err := url.Parse(r.URL)
			if err != nil {
				return "", nil, fmt.Errorf("dingtalk: bad url")
			}
			ts := strconv.FormatInt(now.UnixMilli(), 10)
			q := u.Query()
			q.Set("timestamp", ts)
			q.Set("sign", DingTalkSign(r.Secret, ts))
			u.RawQuery = q.Encode()
			target = u.String()
		}
		b, err := json.Marshal(map[string]any{"msgtype": "markdown", "markdown": map[string]string{"title": title, "text": text}})
		return target, b, err
	case "feishu":
		// https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot
		body := map[string]any{"msg_type": "interactive", "card": feishuCard(ns, title)}
		if r.Secret != "" {
			ts := strconv.FormatInt(now.Unix(), 10)
			body["timestamp"] = ts
			body["sign"] = FeishuSign(r.Secret, ts)
		}
		b, err := json.Marshal(body)
		return r.URL, b, err
	}
	return "", nil, fmt.Errorf("unknown robot kind %q", r.Kind)
}

// DingTalkSign is DingTalk's signature: base64 of HMAC-SHA256 keyed with the
// secret over timestamp+"\n"+secret (timestamp in milliseconds).
func DingTalkSign(secret, ts string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "\n" + secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// FeishuSign is Feishu's signature: the string timestamp+"\n"+secret is the
// HMAC-SHA256 key, over empty data; base64 (timestamp in seconds).
func FeishuSign(secret, ts string) string {
	mac := hmac.New(sha256.New, []byte(ts+"\n"+secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// feishuCard is an interactive card: a coloured header, the facts in
// lark_md, and a button to the snapshot.
func feishuCard(ns []Note, title string) map[string]any {
	template := "orange"
	var text string
	var button map[string]any
	if len(ns) == 1 {
		n := ns[0]
		if n.Incident.Severity == incident.Critical || n.Incident.Severity == incident.High {
			template = "red"
		}
		lines := []string{
			fmt.Sprintf("**%s**: %s", tr(n, "事件", "Event"), n.EventLocal),
			fmt.Sprintf("**%s**: %s", tr(n, "地点", "Place"), mdEscape.Replace(n.Place)),
			fmt.Sprintf("**%s**: %s", tr(n, "时间", "Time"), n.Time),
			fmt.Sprintf("**%s**: %s · **%s**: %d", tr(n, "级别", "Severity"), n.Severity, tr(n, "次数", "Count"), n.Incident.Count),
		}
		if d := n.Incident.Description; d != "" {
			lines = append(lines, mdEscape.Replace(d))
		}
		text = strings.Join(lines, "\n") + footer
		if n.Links.Snapshot != "" {
			button = map[string]any{"tag": "button", "type": "primary", "url": n.Links.Snapshot,
				"text": map[string]string{"tag": "plain_text", "content": tr(n, "查看现场快照", "Open the snapshot")}}
		}
	} else {
		md := foldedMarkdown(ns)
		text = md[strings.IndexByte(md, '\n')+1:] // the list without the heading
	}
	elements := []any{map[string]any{"tag": "div", "text": map[string]string{"tag": "lark_md", "content": text}}}
	if button != nil {
		elements = append(elements, map[string]any{"tag": "action", "actions": []any{button}})
	}
	return map[string]any{
		"config":   map[string]bool{"wide_screen_mode": true},
		"header":   map[string]any{"template": template, "title": map[string]string{"tag": "plain_text", "content": title}},
		"elements": elements,
	}
}
