package onvif

import "strings"

// Kind is what a camera's event means to lanewatch.
type Kind string

const (
	KindNone         Kind = ""               // not a topic lanewatch acts on
	KindLineCrossing Kind = "line_crossing"  // RuleEngine/LineDetector/Crossed
	KindIntrusion    Kind = "intrusion"      // RuleEngine/FieldDetector/ObjectsInside
	KindTamper       Kind = "camera_tamper"  // VideoSource/GlobalSceneChange/*, */Tamper*
	KindSignalLoss   Kind = "camera_offline" // VideoSource/SignalLoss
	KindMotion       Kind = "motion"         // VideoSource/MotionAlarm, RuleEngine/CellMotionDetector/Motion: wakes analysis, no incident
)

// Event is a Notification read for what it means.
type Event struct {
	Kind Kind
	// Active: the condition holds (State/IsInside/IsMotion true, or a
	// Crossed, which has no state). False: it is over.
	Active bool
	// Initial: the device's report of the current state on subscribing
	// (PropertyOperation="Initialized"), not a change.
	Initial bool
	// Rule is the device's rule name (Source item "Rule"), if any.
	Rule string
	// Source is the video source token, if any.
	Source string
	N      Notification
}

// TopicPath is the topic without namespace prefixes on its segments:
// "tns1:RuleEngine/tnsaxis:LineDetector/Crossed" -> "RuleEngine/LineDetector/Crossed".
func TopicPath(topic string) string {
	parts := strings.Split(strings.TrimSpace(topic), "/")
	for i, p := range parts {
		parts[i] = localName(p)
	}
	return strings.Join(parts, "/")
}

// Classify maps a notification to the kinds lanewatch acts on, by the ONVIF
// Core/Analytics topics cameras use. Unknown topics are KindNone.
func Classify(n Notification) Event {
	path := TopicPath(n.Topic)
	ev := Event{N: n, Initial: strings.EqualFold(n.Operation, "Initialized"), Rule: n.Source["Rule"]}
	for _, k := range []string{"VideoSourceConfigurationToken", "VideoSourceToken", "Source"} {
		if v := n.Source[k]; v != "" {
			ev.Source = v
			break
		}
	}
	lower := strings.ToLower(path)
	switch {
	case strings.HasPrefix(path, "RuleEngine/LineDetector/Crossed"):
		ev.Kind, ev.Active = KindLineCrossing, true
	case strings.HasPrefix(path, "RuleEngine/FieldDetector/ObjectsInside"):
		ev.Kind, ev.Active = KindIntrusion, state(n.Data, "IsInside", "State")
	case strings.HasPrefix(path, "VideoSource/SignalLoss"):
		ev.Kind, ev.Active = KindSignalLoss, state(n.Data, "State")
	case strings.HasPrefix(path, "VideoSource/GlobalSceneChange"), strings.Contains(lower, "tamper"):
		ev.Kind, ev.Active = KindTamper, state(n.Data, "State", "IsTamper")
	case strings.HasPrefix(path, "VideoSource/MotionAlarm"):
		ev.Kind, ev.Active = KindMotion, state(n.Data, "State")
	case strings.HasPrefix(path, "RuleEngine/CellMotionDetector/Motion"):
		ev.Kind, ev.Active = KindMotion, state(n.Data, "IsMotion", "State")
	}
	return ev
}

// state reads the first present boolean item; absent means active (a
// device that sends the topic at all reports the condition).
func state(data map[string]string, names ...string) bool {
	for _, n := range names {
		if v, ok := data[n]; ok {
			v = strings.ToLower(strings.TrimSpace(v))
			return v == "true" || v == "1"
		}
	}
	return true
}
