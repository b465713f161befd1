package notify

import (
	"testing"

	"github.com/lanewatch/lanewatch/internal/incident"
)

// Every incident type has its words in both languages.
func TestCatalogueComplete(t *testing.T) {
	for _, typ := range incident.Types {
		e, ok := catalogue[typ]
		if !ok || e.zh == "" || e.en == "" || e.zhDesc == "" || e.enDesc == "" {
			t.Errorf("%s: %+v", typ, e)
		}
	}
	for _, s := range []incident.Severity{incident.Low, incident.Medium, incident.High, incident.Critical} {
		if _, ok := severityNames[s]; !ok {
			t.Errorf("severity %s has no name", s)
		}
	}
}

func TestTitles(t *testing.T) {
	names := testNames()
	names.Lines["b3/fence"] = ""
	tests := []struct {
		lang string
		inc  incident.Incident
		want string
	}{
		{Zh, testInc("i", incident.SOS, incident.Critical, incident.Source{Gate: "north"}), "北门 SOS 求助"},
		{Zh, testInc("i", incident.FallingObject, incident.High, incident.Source{Camera: "b3", Zone: "facade"}), "3号楼外立面 高空抛物"},
		{En, testInc("i", incident.SOS, incident.Critical, incident.Source{Gate: "north"}), "SOS at 北门"},
		{Zh, testInc("i", incident.LineCrossing, incident.Medium, incident.Source{Camera: "b3", Line: "fence"}), "fence 越线"}, // unnamed: the id
		{Zh, testInc("i", incident.CameraOffline, incident.High, incident.Source{Camera: "b3"}), "3号楼 摄像头离线"},
		{Zh, func() incident.Incident {
			i := testInc("i", incident.BlacklistedVehicle, incident.High, incident.Source{Gate: "north"})
			i.Plate = "沪A12345"
			return i
		}(), "北门 黑名单车辆 沪A12345"},
		{Zh, testInc("i", incident.Type("new_type"), incident.Low, incident.Source{}), "new_type"},
	}
	for _, tt := range tests {
		l := &Localizer{Lang: tt.lang, Names: names, Loc: cst}
		if got := l.Title(tt.inc); got != tt.want {
			t.Errorf("%s %s: %q, want %q", tt.lang, tt.inc.Type, got, tt.want)
		}
	}
	// Localize changes only the title and the description.
	l := &Localizer{Lang: Zh, Names: names, Loc: cst}
	in := testInc("i", incident.SOS, incident.Critical, incident.Source{Gate: "north"})
	out := l.Localize(in)
	if out.Title != "北门 SOS 求助" || out.Description != "北门 有人按下 SOS 求助按钮，请立即前往。" {
		t.Fatalf("localized: %q %q", out.Title, out.Description)
	}
	out.Title, out.Description = in.Title, in.Description
	if out.ID != in.ID || out.Severity != in.Severity || out.Source != in.Source || !out.StartedAt.Equal(in.StartedAt) {
		t.Fatalf("other fields changed: %+v", out)
	}
	// English keeps the engine's detailed description.
	en := &Localizer{Lang: En, Names: names}
	if d := en.Description(in); d != in.Description {
		t.Fatalf("en description %q", d)
	}
	if got := l.Time(in.StartedAt.UTC()); got != "2026-11-26 23:00:00" {
		t.Fatalf("time in the site's zone: %s", got)
	}
}
