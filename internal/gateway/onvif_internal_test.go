package gateway

import (
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/onvif"
)

func TestONVIFSignal(t *testing.T) {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	ev := func(topic, op string, data map[string]string) onvif.Event {
		return onvif.Classify(onvif.Notification{Topic: topic, Operation: op, Time: now.Add(-2 * time.Second),
			Source: map[string]string{"Rule": "North Gate/Line 1"}, Data: data})
	}
	cases := []struct {
		name  string
		ev    onvif.Event
		typ   incident.Type
		line  string
		zone  string
		clear bool
		ok    bool
	}{
		{"line crossed", ev("tns1:RuleEngine/LineDetector/Crossed", "", map[string]string{"ObjectId": "3"}), incident.LineCrossing, "north-gate-line-1", "", false, true},
		{"object inside", ev("tns1:RuleEngine/FieldDetector/ObjectsInside", "Changed", map[string]string{"IsInside": "true"}), incident.Intrusion, "", "north-gate-line-1", false, true},
		{"object left", ev("tns1:RuleEngine/FieldDetector/ObjectsInside", "Changed", map[string]string{"IsInside": "false"}), "", "", "", false, false},
		{"inside at subscribe", ev("tns1:RuleEngine/FieldDetector/ObjectsInside", "Initialized", map[string]string{"IsInside": "true"}), "", "", "", false, false},
		{"scene change", ev("tns1:VideoSource/GlobalSceneChange/ImagingService", "Changed", map[string]string{"State": "true"}), incident.CameraTamper, "", "", false, true},
		{"tamper over", ev("tns1:RuleEngine/TamperDetector/Tamper", "Changed", map[string]string{"IsTamper": "false"}), "", "", "", false, false},
		{"signal lost", ev("tns1:VideoSource/SignalLoss", "Changed", map[string]string{"State": "true"}), incident.CameraOffline, "", "", false, true},
		{"signal lost at subscribe", ev("tns1:VideoSource/SignalLoss", "Initialized", map[string]string{"State": "true"}), incident.CameraOffline, "", "", false, true},
		{"signal back", ev("tns1:VideoSource/SignalLoss", "Changed", map[string]string{"State": "false"}), incident.CameraOffline, "", "", true, true},
		{"signal fine at subscribe", ev("tns1:VideoSource/SignalLoss", "Initialized", map[string]string{"State": "false"}), "", "", "", false, false},
		{"motion is no incident", ev("tns1:VideoSource/MotionAlarm", "Changed", map[string]string{"State": "true"}), "", "", "", false, false},
	}
	for _, c := range cases {
		sig, ok := onvifSignal("gate", c.ev, now)
		if ok != c.ok {
			t.Errorf("%s: ok %v", c.name, ok)
			continue
		}
		if !ok {
			continue
		}
		if sig.Type != c.typ || sig.Source.Line != c.line || sig.Source.Zone != c.zone || sig.Clear != c.clear ||
			sig.Source.Camera != "gate" || sig.Source.Origin != "camera" || !sig.At.Equal(now.Add(-2*time.Second)) || sig.Description == "" {
			t.Errorf("%s: %+v", c.name, sig)
		}
	}
	// A camera clock far off is not trusted for the incident's time.
	far := ev("tns1:RuleEngine/LineDetector/Crossed", "", nil)
	far.N.Time = now.Add(-3 * time.Hour)
	if sig, _ := onvifSignal("gate", far, now); !sig.At.Equal(now) {
		t.Errorf("skewed clock: at %v", sig.At)
	}
}
