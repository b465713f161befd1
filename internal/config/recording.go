package config

import "time"

// Record is a camera's recording (contract 11).
type Record struct {
	// Mode: off (default), events (segments kept only around incidents on
	// this camera) or continuous.
	Mode   string        `yaml:"mode"`
	Retain time.Duration `yaml:"retain"` // default 7d
}

// Recording holds what all cameras' recordings share.
type Recording struct {
	// MaxDisk caps all recordings together; the oldest segments go first.
	// Default 20GB; units as for max_bytes.
	MaxDisk int64 `yaml:"max_disk"`
	// Segment is the target length of one MP4 file, cut at the first key
	// frame after it. Default 60s.
	Segment time.Duration `yaml:"segment"`
}

// Recording modes.
const (
	RecordOff        = "off"
	RecordEvents     = "events"
	RecordContinuous = "continuous"
)

const (
	DefaultRecordRetain   = 7 * 24 * time.Hour
	DefaultRecordingDisk  = 20 * 1000 * 1000 * 1000
	DefaultRecordingSplit = 60 * time.Second
)

func (c *Config) recordingDefaults() {
	setInt64(&c.Recording.MaxDisk, DefaultRecordingDisk)
	setDuration(&c.Recording.Segment, DefaultRecordingSplit)
	for i := range c.Cameras {
		r := &c.Cameras[i].Record
		setString(&r.Mode, RecordOff)
		setDuration(&r.Retain, DefaultRecordRetain)
	}
}

func (v *validator) recording(c *Config) {
	if c.Recording.MaxDisk < 100*1000*1000 {
		v.errf("recording.max_disk", "must be at least 100MB")
	}
	if c.Recording.Segment < 10*time.Second || c.Recording.Segment > 10*time.Minute {
		v.errf("recording.segment", "must be 10s..10m")
	}
	for i := range c.Cameras {
		cam := &c.Cameras[i]
		p := joinIdx("cameras", i) + ".record"
		v.oneOf(p+".mode", cam.Record.Mode, []string{RecordOff, RecordEvents, RecordContinuous})
		if cam.Record.Retain < time.Hour {
			v.errf(p+".retain", "must be at least 1h")
		}
		if cam.Record.Mode == RecordOff {
			continue
		}
		for _, m := range cam.Masks {
			if m.Kind == "privacy" {
				// Segments are the camera's own encoded stream, copied
				// without decoding: a privacy mask cannot be applied.
				v.errf(p+".mode", "a camera with a privacy mask cannot be recorded (recordings are not re-encoded); "+
					"set the mask on the camera itself and remove it here, or use record.mode: off")
				break
			}
		}
	}
}
