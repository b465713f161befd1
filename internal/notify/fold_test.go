package notify

import (
	"fmt"
	"log/slog"
	"regexp"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

var incRE = regexp.MustCompile(`/api/incidents/(inc_\d+)/snapshot\.jpg`)

// reached counts, per incident, the accepted messages that link to it.
func reached(msgs []string) map[string]int {
	seen := map[string]int{}
	for _, m := range msgs {
		for _, id := range incRE.FindAllStringSubmatch(m, -1) {
			seen[id[1]]++
		}
	}
	return seen
}

// drive moves the fake clock on by step until done, giving the queues a
// moment after each step; it fails after max of fake time.
func drive(t *testing.T, clk *testenv.Clock, n *Notifier, step, max time.Duration, done func() bool) {
	t.Helper()
	start := clk.Now()
	for !done() {
		if clk.Now().Sub(start) > max {
			t.Fatalf("not done after %v of fake time: %+v", max, n.Stats())
		}
		clk.Add(step)
		n.Kick()
		time.Sleep(3 * time.Millisecond)
	}
}

func burst(t *testing.T, n *Notifier, count int, kind incident.Type) {
	t.Helper()
	for i := range count {
		c := incidents.Change{Kind: incidents.Opened,
			Incident: testInc(fmt.Sprintf("inc_%04d", i), kind, incident.Critical, incident.Source{Camera: "b3", Zone: "facade"})}
		if err := n.Notify(c); err != nil {
			t.Fatal(err)
		}
	}
}

// 1,000 incidents in a burst to a robot that takes 20 messages a minute
// (the stand-in refuses the 21st with WeCom's 45009): nothing is lost, the
// rest are folded into summaries, and every incident is reachable from
// exactly one accepted message.
func TestBurstFoldedWithinRobotLimit(t *testing.T) {
	clk := testenv.NewClock(time.Date(2026, 11, 26, 23, 0, 0, 0, cst))
	s := newStandIn(t, "wecom", "", clk.Now)
	s.set(func(s *robotStandIn) { s.limit = 20 })
	n := newTestNotifier(t, []config.Notify{{ID: "patrol", Kind: "wecom", URL: s.url()}}, clk.Now)
	start := clk.Now()
	burst(t, n, 1000, incident.FallingObject)
	drive(t, clk, n, time.Second, time.Hour, func() bool { return n.Stats().Pending == 0 && len(reached(s.messages())) == 1000 })
	msgs := s.messages()
	for id, k := range reached(msgs) {
		if k != 1 {
			t.Errorf("%s in %d messages", id, k)
		}
	}
	if got := s.answered(45009); got != 0 {
		t.Fatalf("the robot's rate limit was hit %d times", got)
	}
	if st := n.Stats(); st.Dead != 0 {
		t.Fatalf("dead letters: %+v", st)
	}
	// 1,000 incidents in 20-a-minute messages of at most 10: at least 100
	// messages, at most 5 minutes plus the individual sends before the
	// burst was seen as one.
	took := clk.Now().Sub(start)
	if len(msgs) < 100 || len(msgs) > 140 || took > 8*time.Minute {
		t.Fatalf("%d messages over %v", len(msgs), took)
	}
	if !contains(msgs[len(msgs)-1], "条告警（机器人限速，合并发送）") || !contains(msgs[len(msgs)-1], "3号楼外立面 高空抛物") {
		t.Fatalf("last message is not a summary:\n%s", msgs[len(msgs)-1])
	}
	t.Logf("%d messages over %v of fake time", len(msgs), took)
}

// Robots down (502) for an hour, then back: every message is delivered,
// once per incident and channel, signatures made at the retry's time still
// verify, and the backlog is folded within each robot's budget.
func TestRobotsDownForAnHour(t *testing.T) {
	clk := testenv.NewClock(time.Date(2026, 11, 26, 23, 0, 0, 0, cst))
	kinds := []string{"wecom", "dingtalk", "feishu"}
	stands := map[string]*robotStandIn{}
	var chans []config.Notify
	for _, k := range kinds {
		secret := ""
		if k != "wecom" {
			secret = "SEC-" + k
		}
		s := newStandIn(t, k, secret, clk.Now)
		s.set(func(s *robotStandIn) {
			s.down = true
			s.limit = map[string]int{"wecom": 20, "dingtalk": 20, "feishu": 100}[k]
		})
		stands[k] = s
		chans = append(chans, config.Notify{ID: k, Kind: k, URL: s.url(), Secret: secret})
	}
	n, err := New(Config{Channels: chans, Dir: t.TempDir(), Loc: cst,
		Composer:    &Composer{L: &Localizer{Lang: Zh, Names: testNames(), Loc: cst}, Links: PlainLinks("https://gw-1.compound.lan:8443")},
		BaseBackoff: time.Second, MaxBackoff: 5 * time.Minute, ShutdownTimeout: time.Second, Now: clk.Now,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	n.Start(t.Context())
	defer n.Close()
	burst(t, n, 60, incident.SOS)
	end := clk.Now().Add(time.Hour)
	drive(t, clk, n, 10*time.Second, 2*time.Hour, func() bool { return !clk.Now().Before(end) })
	for _, k := range kinds {
		if len(stands[k].messages()) != 0 {
			t.Fatalf("%s accepted while down", k)
		}
		stands[k].set(func(s *robotStandIn) { s.down = false })
	}
	if st := n.Stats(); st.Pending != 180 || st.Dead != 0 {
		t.Fatalf("after an hour down: %+v", st)
	}
	// Back-off is capped at 5 minutes: all is through within 15 more.
	drive(t, clk, n, 10*time.Second, 15*time.Minute, func() bool { return n.Stats().Pending == 0 })
	for _, k := range kinds {
		got := reached(stands[k].messages())
		if len(got) != 60 {
			t.Errorf("%s: %d incidents reached, want 60", k, len(got))
		}
		for id, c := range got {
			if c != 1 {
				t.Errorf("%s: %s delivered %d times", k, id, c)
			}
		}
		for _, code := range []int{45009, 130101, 11232, 310000, 19021} {
			if stands[k].answered(code) != 0 {
				t.Errorf("%s answered %d", k, code)
			}
		}
	}
}
