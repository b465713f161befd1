package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// wecomRobot is a WeCom group robot: outside the compound, so a stand-in.
// It checks the key in the URL and the markdown message shape as WeCom does.
type wecomRobot struct {
	srv  *httptest.Server
	mu   sync.Mutex
	msgs []string
}

func newWecomRobot(t *testing.T) *wecomRobot {
	r := &wecomRobot{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var m struct {
			MsgType  string `json:"msgtype"`
			Markdown struct {
				Content string `json:"content"`
			} `json:"markdown"`
		}
		switch {
		case req.URL.Query().Get("key") != "good-key":
			fmt.Fprint(w, `{"errcode":93000,"errmsg":"invalid webhook url"}`)
		case json.Unmarshal(body, &m) != nil || m.MsgType != "markdown" || m.Markdown.Content == "" || len(m.Markdown.Content) > 4096:
			fmt.Fprint(w, `{"errcode":40008,"errmsg":"invalid message type"}`)
		default:
			r.mu.Lock()
			r.msgs = append(r.msgs, m.Markdown.Content)
			r.mu.Unlock()
			fmt.Fprint(w, `{"errcode":0,"errmsg":"ok"}`)
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *wecomRobot) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

// An SOS at the north gate reaches the patrol group's robot in the site's
// language (zh by default) with the place and the evidence link; the MQTT
// alert keeps the contract's JSON and adds title_local and links; the ticket
// carries the localised title; a channel the robot refuses shows its
// dead letter at /api/outbox beside the tickets, and discard works on it.
func TestNotifyChannelsAndAlertPayload(t *testing.T) {
	plat := newPlatform(t)
	robot := newWecomRobot(t)
	s := startSite(t, siteOpts{PlatformURL: plat.URL(), Extra: fmt.Sprintf(`notify:
  - {id: patrol-group, kind: wecom, url: %q, severities: [critical]}
  - {id: lows, kind: wecom, url: %q, severities: [low]}
  - {id: wrong-key, kind: wecom, url: %q}
`, robot.srv.URL+"/cgi-bin/webhook/send?key=good-key", robot.srv.URL+"/cgi-bin/webhook/send?key=good-key", robot.srv.URL+"/cgi-bin/webhook/send?key=bad-key")})
	patrol := mqttClient(t, s.Mosquitto.URL, "patrol-app")
	alerts := subscribe(t, patrol, "lanewatch/test-site/alerts")
	sensor := mqttClient(t, s.Mosquitto.URL, "gate-north")
	publish(t, sensor, "lanewatch/test-site/gates/north/events", `{"id":"sos-1","type":"sos","ts":"`+time.Now().Format(time.RFC3339)+`"}`)
	alert := alerts.wait(t, "sos alert", 10*time.Second, func(m mqtt.Message) bool { return strings.Contains(string(m.Payload()), `"type":"sos"`) })
	var inc map[string]any
	if err := json.Unmarshal(alert.Payload(), &inc); err != nil {
		t.Fatal(err)
	}
	id, _ := inc["id"].(string)
	links, _ := inc["links"].(map[string]any)
	if inc["title_local"] != "North gate SOS 求助" || !strings.Contains(fmt.Sprint(inc["description_local"]), "SOS") ||
		links["snapshot"] != "/api/incidents/"+id+"/snapshot.jpg" || inc["severity"] != "critical" || inc["state"] != "open" {
		t.Fatalf("alert: %s", alert.Payload())
	}
	for _, f := range []string{"site", "type", "title", "description", "source", "started_at", "updated_at", "count", "objects", "acks", "evidence"} {
		if _, ok := inc[f]; !ok {
			t.Errorf("alert lacks the contract's %q", f)
		}
	}
	eventually(t, "the robot's message", 10*time.Second, func() bool { return len(robot.messages()) == 1 })
	msg := robot.messages()[0]
	for _, want := range []string{"North gate SOS 求助", "紧急", "/api/incidents/" + id + "/snapshot.jpg"} {
		if !strings.Contains(msg, want) {
			t.Errorf("robot message lacks %q:\n%s", want, msg)
		}
	}
	eventually(t, "the ticket", 15*time.Second, func() bool { _, byKey, _, _ := plat.snapshot(); return byKey[id+":1"] > 0 })
	tickets, _, _, _ := plat.snapshot()
	if tickets[0].Incident["title"] != "North gate SOS 求助" {
		t.Fatalf("ticket title %v", tickets[0].Incident["title"])
	}

	var rows []map[string]any
	eventually(t, "the refused message at /api/outbox", 10*time.Second, func() bool {
		rows = nil
		getJSON(t, s, "/api/outbox", adminToken, &rows)
		return len(rows) == 1
	})
	if rows[0]["key"] != "wrong-key:"+id+":1" || rows[0]["channel"] != "wrong-key" || rows[0]["state"] != "dead" || rows[0]["incident_id"] != id {
		t.Fatalf("outbox rows: %v", rows)
	}
	if resp := s.api(t, "POST", "/api/outbox/wrong-key:"+id+":1/discard", adminToken, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("discard: %d %s", resp.StatusCode, mustBody(t, resp))
	} else {
		resp.Body.Close()
	}
	getJSON(t, s, "/api/outbox", adminToken, &rows)
	if len(rows) != 0 {
		t.Fatalf("after discard: %v", rows)
	}
	if len(robot.messages()) != 1 {
		t.Fatalf("the low-severity channel got the SOS: %q", robot.messages())
	}
}
