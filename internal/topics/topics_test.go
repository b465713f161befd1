package topics

import (
	"encoding/json"
	"testing"
	"time"
)

// The topic names of contract section 2, spelled out.
func TestContractTopics(t *testing.T) {
	tp := Topics{Prefix: "lanewatch", Site: "s1"}
	for got, want := range map[string]string{
		tp.GateEvents("north"):    "lanewatch/s1/gates/north/events",
		tp.AllGateEvents():        "lanewatch/s1/gates/+/events",
		tp.GateCommands("north"):  "lanewatch/s1/gates/north/commands",
		tp.Alerts():               "lanewatch/s1/alerts",
		tp.IncidentState("inc_1"): "lanewatch/s1/incidents/inc_1/state",
		tp.IncidentAcks():         "lanewatch/s1/incidents/+/ack",
		tp.IncidentResolves():     "lanewatch/s1/incidents/+/resolve",
		tp.CameraStatus("lawn"):   "lanewatch/s1/cameras/lawn/status",
		tp.Passages():             "lanewatch/s1/vehicles/passages",
		tp.GatewayStatus("gw-1"):  "lanewatch/s1/gateway/gw-1/status",
		tp.GatewayAlerts("gw-1"):  "lanewatch/s1/gateway/gw-1/alerts",
		tp.GatewayProbe("gw-1"):   "lanewatch/s1/gateway/gw-1/status/probe",
		tp.Escalations(""):        "lanewatch/s1/alerts/escalated",
		tp.Escalations("/x/y/"):   "lanewatch/s1/x/y",
		Segment(tp.Alerts(), 2):   "alerts",
		Segment(tp.Alerts(), 9):   "",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

// The payloads' JSON field names of contract section 2.
func TestPayloadFields(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{GateCommand{Action: "open", By: "op", Reason: "r", ID: "cmd_1"}, `{"action":"open","by":"op","reason":"r","id":"cmd_1"}`},
		{CameraStatus{State: "online", FPSIn: 25, FPSAnalyzed: 5, Since: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
			`{"state":"online","fps_in":25,"fps_analyzed":5,"since":"2026-01-02T03:04:05Z"}`},
		{IncidentCommand{By: "patrol-07", Note: "n"}, `{"by":"patrol-07","note":"n"}`},
	} {
		b, _ := json.Marshal(tc.v)
		if string(b) != tc.want {
			t.Errorf("%s, want %s", b, tc.want)
		}
	}
}
