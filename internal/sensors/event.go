// Package sensors decodes and validates the gate and door sensor payloads of
// contract section 2.1 and hands accepted events on; everything else is
// rejected with a reason, counted and logged without flooding.
package sensors

import "time"

// Type is a gate/door event type.
type Type string

const (
	PlateRead     Type = "plate_read"
	BarrierOpen   Type = "barrier_open"
	BarrierClose  Type = "barrier_close"
	Loop          Type = "loop"
	AccessGranted Type = "access_granted"
	AccessDenied  Type = "access_denied"
	DoorOpen      Type = "door_open"
	DoorClose     Type = "door_close"
	SOS           Type = "sos"
	Heartbeat     Type = "heartbeat"
)

// Direction of travel through a gate.
type Direction string

const (
	In  Direction = "in"
	Out Direction = "out"
)

// Event is one accepted sensor event.
type Event struct {
	Gate       string    // from the topic
	ID         string    // sender's id, may be empty
	TS         time.Time // time at the sensor, or of receipt when absent
	Received   time.Time
	Type       Type
	Plate      string // normalised
	Direction  Direction
	Confidence float64
	Lane       int
	HasLane    bool
	// CredentialHash is a salted hash of the credential; the credential itself
	// is never kept.
	CredentialHash string
}
