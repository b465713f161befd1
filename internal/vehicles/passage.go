package vehicles

import (
	"time"

	"github.com/lanewatch/lanewatch/internal/sensors"
)

// Class is the classification of a plate at the time of its passage.
type Class string

const (
	ClassResident    Class = "resident"
	ClassVisitor     Class = "visitor"
	ClassBlacklisted Class = "blacklisted"
	ClassUnknown     Class = "unknown"
)

// Passage is one vehicle passing a gate (contract section 5).
type Passage struct {
	ID        string            `json:"id"`
	Site      string            `json:"site"`
	Gate      string            `json:"gate"`
	Direction sensors.Direction `json:"direction"`
	Plate     string            `json:"plate"`
	Class     Class             `json:"class"`
	At        time.Time         `json:"at"`
	EntryAt   *time.Time        `json:"entry_at"`
	DwellS    *int64            `json:"dwell_s"`
	Snapshot  string            `json:"snapshot,omitempty"`
	// Lane is the sensor's lane number when it sent one; not part of the
	// contract's JSON, kept for pairing and the console.
	Lane int `json:"-"`
	// Confirmed says a barrier_open or loop event followed the plate read, so
	// the vehicle very likely went through rather than only being seen.
	Confirmed bool `json:"-"`
}

// InsideVehicle is a vehicle that entered and has not left yet.
type InsideVehicle struct {
	Plate   string        `json:"plate"`
	Class   Class         `json:"class"`
	Gate    string        `json:"gate"`
	EntryAt time.Time     `json:"entry_at"`
	Dwell   time.Duration `json:"-"`
	// DwellS mirrors Dwell in whole seconds for JSON consumers.
	DwellS int64 `json:"dwell_s"`
}
