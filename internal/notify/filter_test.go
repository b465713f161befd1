package notify

import (
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestFilter(t *testing.T) {
	// Thursday 26 Nov 2026 in the site's zone (UTC+8).
	at := func(hhmm string) time.Time {
		tm, _ := time.ParseInLocation("2006-01-02 15:04", "2026-11-26 "+hhmm, cst)
		return tm
	}
	gate := testInc("i", incident.SOS, incident.Critical, incident.Source{Gate: "north"})
	cam := testInc("i", incident.FallingObject, incident.High, incident.Source{Camera: "b3", Zone: "facade"})
	low := testInc("i", incident.Loitering, incident.Low, incident.Source{Camera: "lawn", Zone: "lawn"})
	tests := []struct {
		name string
		ch   config.Notify
		inc  incident.Incident
		at   time.Time
		want bool
	}{
		{"no filters", config.Notify{}, low, at("12:00"), true},
		{"severity in", config.Notify{Severities: []string{"high", "critical"}}, gate, at("12:00"), true},
		{"severity out", config.Notify{Severities: []string{"high", "critical"}}, low, at("12:00"), false},
		{"type in", config.Notify{Types: []string{"sos", "falling_object"}}, cam, at("12:00"), true},
		{"type out", config.Notify{Types: []string{"sos"}}, cam, at("12:00"), false},
		{"camera in", config.Notify{Cameras: []string{"b3"}}, cam, at("12:00"), true},
		{"camera out", config.Notify{Cameras: []string{"b3"}}, low, at("12:00"), false},
		{"gate in", config.Notify{Gates: []string{"north"}}, gate, at("12:00"), true},
		{"gate list, camera incident", config.Notify{Gates: []string{"north"}}, cam, at("12:00"), false},
		{"cameras or gates", config.Notify{Cameras: []string{"b3"}, Gates: []string{"north"}}, gate, at("12:00"), true},
		{"night shift, in the evening", config.Notify{Schedule: "22:00-06:00"}, gate, at("23:30"), true},
		{"night shift, after midnight", config.Notify{Schedule: "22:00-06:00"}, gate, at("05:59"), true},
		{"night shift, by day", config.Notify{Schedule: "22:00-06:00"}, gate, at("06:00"), false},
		{"weekdays, Thursday", config.Notify{Schedule: "Mon-Fri 08:00-18:00"}, gate, at("09:00"), true},
		{"weekends, Thursday", config.Notify{Schedule: "Sat,Sun 00:00-24:00"}, gate, at("09:00"), false},
		// 23:30 UTC+8 is 15:30 UTC: the schedule is read in the site's zone.
		{"site zone, not UTC", config.Notify{Schedule: "22:00-06:00"}, gate, at("23:30").UTC(), true},
		{"all filters", config.Notify{Severities: []string{"critical"}, Types: []string{"sos"}, Gates: []string{"north"}, Schedule: "22:00-06:00"}, gate, at("22:00"), true},
		{"all but one", config.Notify{Severities: []string{"critical"}, Types: []string{"sos"}, Gates: []string{"north"}, Schedule: "22:00-06:00"}, gate, at("21:59"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ch.ID = "c"
			f, err := NewFilter(tt.ch, cst)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Match(tt.inc, tt.at); got != tt.want {
				t.Fatalf("Match = %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := NewFilter(config.Notify{ID: "c", Schedule: "25:00-26:00"}, cst); err == nil {
		t.Fatal("bad schedule accepted")
	}
}

// Only the changes that alert patrol staff go out, and only to channels
// whose filters match at the moment of the change.
func TestNotifyFiltersChanges(t *testing.T) {
	clk := time.Date(2026, 11, 26, 23, 0, 0, 0, cst)
	s := newStandIn(t, "wecom", "", nil)
	n := newTestNotifier(t, []config.Notify{
		{ID: "all", Kind: "wecom", URL: s.url()},
		{ID: "day", Kind: "wecom", URL: s.url(), Schedule: "08:00-18:00"},
		{ID: "falls", Kind: "wecom", URL: s.url(), Types: []string{"falling_object"}},
	}, func() time.Time { return clk })
	open := sos("inc_f")
	acked := open
	acked.Kind, acked.Incident.Version = incidents.Acked, 2
	esc := open
	esc.Kind, esc.Incident.Version = incidents.Escalation, 3
	for _, c := range []incidents.Change{open, acked, esc} {
		if err := n.Notify(c); err != nil {
			t.Fatal(err)
		}
	}
	// "all" takes open and escalated (not the ack); "day" is off at 23:00;
	// "falls" takes no SOS.
	// The stand-in has the second message a moment before its queue marks
	// it delivered: wait for both.
	testenvWait(t, func() bool { return len(s.messages()) == 2 && n.Stats().Pending == 0 })
	l, _ := n.List(0)
	if st := n.Stats(); st.Pending != 0 || len(l) != 0 {
		t.Fatalf("stats %+v list %v", st, l)
	}
	for ch, want := range map[string]float64{"all": 2, "day": 0, "falls": 0} {
		if got := testutil.ToFloat64(n.queued.WithLabelValues(ch)); got != want {
			t.Errorf("channel %s: %v queued, want %v", ch, got, want)
		}
	}
	if got := testutil.ToFloat64(n.skipped.WithLabelValues("day")); got != 2 {
		t.Errorf("day shift filtered %v, want 2", got)
	}
	msgs := s.messages()
	if !contains(msgs[0], "新告警") || !contains(msgs[1], "已升级") {
		t.Fatalf("messages: %q", msgs)
	}
}
