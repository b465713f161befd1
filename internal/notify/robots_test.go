package notify

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

var cst = time.FixedZone("CST", 8*3600)

// names of the test site: 北门 is the north gate, 3号楼外立面 a zone.
func testNames() Names {
	return Names{Cameras: map[string]string{"b3": "3号楼"}, Zones: map[string]string{"b3/facade": "3号楼外立面"},
		Lines: map[string]string{}, Gates: map[string]string{"north": "北门"}}
}

func testInc(id string, typ incident.Type, sev incident.Severity, src incident.Source) incident.Incident {
	t0 := time.Date(2026, 11, 26, 23, 0, 0, 0, cst)
	return incident.Incident{ID: id, Site: "s1", Type: typ, Severity: sev, State: incident.Open,
		Title: "SOS at north", Description: "SOS button pressed", Source: src, StartedAt: t0, UpdatedAt: t0, Count: 1,
		Objects: []incident.Object{}, Acks: []incident.Ack{}, Evidence: incident.Evidence{Snapshot: "/api/incidents/" + id + "/snapshot.jpg"}, Version: 1}
}

func sos(id string) incidents.Change {
	return incidents.Change{Kind: incidents.Opened, Incident: testInc(id, incident.SOS, incident.Critical, incident.Source{Gate: "north"})}
}

func newTestNotifier(t *testing.T, chans []config.Notify, now func() time.Time) *Notifier {
	return startNotifier(t, testNotifyConfig(t, chans, now))
}

func testNotifyConfig(t *testing.T, chans []config.Notify, now func() time.Time) Config {
	return Config{Channels: chans, Dir: t.TempDir(), Loc: cst,
		Composer:    &Composer{L: &Localizer{Lang: Zh, Names: testNames(), Loc: cst}, Links: PlainLinks("https://gw-1.compound.lan:8443")},
		BaseBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, ShutdownTimeout: time.Second,
		Logger: slog.New(slog.DiscardHandler), Now: now}
}

func startNotifier(t *testing.T, cfg Config) *Notifier {
	t.Helper()
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.Start(t.Context())
	t.Cleanup(func() { n.Close() })
	return n
}

// Each robot gets its platform's message shape, signed as its platform
// checks it, with the title in Chinese, the place, time, severity and the
// link; a wrong secret is refused by the stand-in and dead-lettered with
// the platform's answer, listed per channel, and resend/discard work.
func TestRobotsShapeAndSignature(t *testing.T) {
	for _, kind := range []string{"wecom", "dingtalk", "feishu"} {
		t.Run(kind, func(t *testing.T) {
			secret := ""
			if kind != "wecom" {
				secret = "SEC0123456789abcdef"
			}
			s := newStandIn(t, kind, secret, nil)
			s.set(func(s *robotStandIn) { s.keyword = "lanewatch" })
			ch := config.Notify{ID: "patrol", Kind: kind, URL: s.url(), Secret: secret}
			bad := config.Notify{ID: "bad", Kind: kind, URL: s.url(), Secret: "SECwrong"}
			if kind == "wecom" {
				bad.URL = s.URL + "/cgi-bin/webhook/send?key=wrong"
				bad.Secret = ""
			}
			n := newTestNotifier(t, []config.Notify{ch, bad}, nil)
			if err := n.Notify(sos("inc_1")); err != nil {
				t.Fatal(err)
			}
			testenv.WaitFor(t, "delivery and a dead letter", 5*time.Second, func() bool {
				st := n.Stats()
				return len(s.messages()) == 1 && st.Dead == 1 && st.Pending == 0
			})
			msg := s.messages()[0]
			for _, want := range []string{"北门 SOS 求助", "紧急", "2026-11-26 23:00:00", "https://gw-1.compound.lan:8443/api/incidents/inc_1/snapshot.jpg", "北门"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q:\n%s", want, msg)
				}
			}
			wantCode := map[string]int{"wecom": 93000, "dingtalk": 310000, "feishu": 19021}[kind]
			list, _ := n.List(0)
			var dead *Entry
			for i := range list {
				if list[i].State == "dead" {
					dead = &list[i]
				}
			}
			if dead == nil || dead.Channel != "bad" || dead.Key != "bad:inc_1:1" || dead.Status != wantCode || !strings.Contains(dead.Response, "\"") {
				t.Fatalf("dead letter: %+v", dead)
			}
			if s.answered(wantCode) != 1 {
				t.Fatalf("stand-in refused %d times", s.answered(wantCode))
			}
			// Re-sent, it is refused again (the secret is still wrong) and
			// dead again; discarded, it is gone.
			if err := n.Resend("bad:inc_1:1"); err != nil {
				t.Fatal(err)
			}
			testenv.WaitFor(t, "second refusal", 5*time.Second, func() bool { return s.answered(wantCode) == 2 && n.Stats().Dead == 1 })
			if err := n.Discard("bad:inc_1:1"); err != nil {
				t.Fatal(err)
			}
			if st := n.Stats(); st.Dead != 0 || st.Pending != 0 {
				t.Fatalf("after discard: %+v", st)
			}
			if err := n.Discard("patrol:inc_1:1"); err == nil {
				t.Fatal("discarding a delivered message succeeded")
			}
			if err := n.Resend("nochannel:inc_1:1"); err == nil {
				t.Fatal("unknown channel accepted")
			}
		})
	}
}

// Codes: rate-limit answers are retried later (not before the wait the
// platform asks for), "system busy" retried, a bad keyword or signature
// dead-lettered with the answer.
func TestRobotCodes(t *testing.T) {
	tests := []struct {
		kind  string
		code  int
		retry bool
		wait  time.Duration // at least this before the retry
	}{
		{"wecom", 45009, true, time.Minute}, {"wecom", -1, true, 0}, {"wecom", 93000, false, 0}, {"wecom", 40058, false, 0},
		{"dingtalk", 130101, true, 10 * time.Minute}, {"dingtalk", 410100, true, 10 * time.Minute}, {"dingtalk", -1, true, 0},
		{"dingtalk", 310000, false, 0}, {"dingtalk", 300001, false, 0},
		{"feishu", 11232, true, time.Minute}, {"feishu", 99991400, true, time.Minute}, {"feishu", 19021, false, 0}, {"feishu", 19024, false, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s_%d", tt.kind, tt.code), func(t *testing.T) {
			clk := testenv.NewClock(time.Now())
			s := newStandIn(t, tt.kind, "", clk.Now)
			s.set(func(s *robotStandIn) { s.force = tt.code })
			n := newTestNotifier(t, []config.Notify{{ID: "c", Kind: tt.kind, URL: s.url()}}, clk.Now)
			n.Notify(sos("inc_c"))
			testenv.WaitFor(t, "the forced answer", 5*time.Second, func() bool { return s.answered(tt.code) == 1 })
			if !tt.retry {
				testenv.WaitFor(t, "dead letter", 5*time.Second, func() bool { return n.Stats().Dead == 1 })
				l, _ := n.List(0)
				if l[0].Status != tt.code || !strings.Contains(l[0].Response, strconv.Itoa(tt.code)) {
					t.Fatalf("dead letter %+v", l[0])
				}
				return
			}
			// The retry is scheduled (from the fake now) before the clock moves.
			testenv.WaitFor(t, "the retry scheduled", 5*time.Second, func() bool {
				l, _ := n.List(0)
				return len(l) == 1 && l[0].LastError != ""
			})
			if tt.wait > 0 {
				clk.Add(tt.wait - time.Second)
				n.Kick()
				time.Sleep(50 * time.Millisecond)
				if len(s.messages()) != 0 || n.Stats().Pending != 1 {
					t.Fatalf("retried before the platform's wait")
				}
			}
			clk.Add(2 * time.Second)
			n.Kick()
			testenv.WaitFor(t, "delivery on retry", 5*time.Second, func() bool { return len(s.messages()) == 1 && n.Stats().Pending == 0 })
		})
	}
}

func testenvWait(t *testing.T, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, "the stand-in's messages", 5*time.Second, cond)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// The robot's address carries its token; what /api/outbox and the log show
// of a failed attempt must not.
func TestRobotErrorsHideToken(t *testing.T) {
	s := newStandIn(t, "dingtalk", "", nil)
	s.Close()
	n := newTestNotifier(t, []config.Notify{{ID: "c", Kind: "dingtalk", URL: s.url()}}, nil)
	n.Notify(sos("inc_t"))
	var e Entry
	testenv.WaitFor(t, "a failed attempt", 5*time.Second, func() bool {
		l, _ := n.List(0)
		if len(l) == 1 {
			e = l[0]
		}
		return e.LastError != ""
	})
	if strings.Contains(e.LastError, s.token) || !strings.Contains(e.LastError, "refused") {
		t.Fatalf("last error %q", e.LastError)
	}
}
