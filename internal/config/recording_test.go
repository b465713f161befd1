package config

import (
	"testing"
	"time"
)

func TestCheckRecording(t *testing.T) {
	tests := []struct {
		name  string
		yml   string
		wants []want
	}{
		{"continuous with days and GB", cam + `    record: {mode: continuous, retain: 7d}
recording: {max_disk: 200GB}
`, nil},
		{"unknown mode", cam + `    record: {mode: always}
`, []want{{5, "cameras[0].record.mode", `"always" is not one of off, events, continuous`}}},
		{"retention too short", cam + `    record: {mode: events, retain: 10m}
`, []want{{5, "cameras[0].record.retain", "at least 1h"}}},
		{"privacy mask and continuous", cam + `    masks:
      - {id: window, polygon: [[0, 0], [0.2, 0], [0.2, 0.2]]}
    record: {mode: continuous}
`, []want{{7, "cameras[0].record.mode", "privacy mask cannot be recorded"}}},
		{"ignore mask may record", cam + `    masks:
      - {id: tree, kind: ignore, polygon: [[0, 0], [0.2, 0], [0.2, 0.2]]}
    record: {mode: continuous}
`, nil},
		{"disk cap too small", cam + `recording: {max_disk: 1MB, segment: 5s}
`, []want{{5, "recording.max_disk", "at least 100MB"}, {5, "recording.segment", "10s..10m"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkProblems(t, tc.yml, tc.wants) })
	}
}

func TestRecordingDefaultsAndUnits(t *testing.T) {
	c, err := Parse("t.yaml", []byte(cam+`    record: {mode: continuous, retain: 3d}
recording: {max_disk: 2GiB}
`))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Cameras[0].Record; r.Mode != RecordContinuous || r.Retain != 72*time.Hour {
		t.Errorf("record = %+v", r)
	}
	if c.Recording.MaxDisk != 2<<30 || c.Recording.Segment != DefaultRecordingSplit {
		t.Errorf("recording = %+v", c.Recording)
	}
	c, err = Parse("t.yaml", []byte(cam))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Cameras[0].Record; r.Mode != RecordOff || r.Retain != DefaultRecordRetain {
		t.Errorf("default record = %+v", r)
	}
}
