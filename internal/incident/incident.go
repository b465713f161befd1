// Package incident is the incident vocabulary of contract section 3: types,
// severities, states, the Incident object, the Signal rules send and the
// Raiser they send it to. It imports nothing of lanewatch's own, so that
// config can validate against the same lists the engine (package incidents)
// and the rules use.
package incident

import (
	"context"
	"time"
)

// Type is the incident type of contract section 3.
type Type string

const (
	Intrusion          Type = "intrusion"
	LineCrossing       Type = "line_crossing"
	Loitering          Type = "loitering"
	Crowd              Type = "crowd"
	FireLaneBlocked    Type = "fire_lane_blocked"
	FallingObject      Type = "falling_object"
	CameraOffline      Type = "camera_offline"
	CameraTamper       Type = "camera_tamper"
	GateForced         Type = "gate_forced"
	DoorHeldOpen       Type = "door_held_open"
	Tailgating         Type = "tailgating"
	BlacklistedVehicle Type = "blacklisted_vehicle"
	VehicleOverstay    Type = "vehicle_overstay"
	SOS                Type = "sos"
)

// Types lists every incident type, in contract order.
var Types = []Type{Intrusion, LineCrossing, Loitering, Crowd, FireLaneBlocked, FallingObject,
	CameraOffline, CameraTamper, GateForced, DoorHeldOpen, Tailgating, BlacklistedVehicle,
	VehicleOverstay, SOS}

type Severity string

const (
	Low      Severity = "low"
	Medium   Severity = "medium"
	High     Severity = "high"
	Critical Severity = "critical"
)

// Severities lists every severity, lowest first.
var Severities = []Severity{Low, Medium, High, Critical}

// TypeNames is Types as strings, for validating configuration files.
func TypeNames() []string { return names(Types) }

// SeverityNames is Severities as strings, for validating configuration files.
func SeverityNames() []string { return names(Severities) }

func names[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

type State string

const (
	Open         State = "open"
	Acknowledged State = "acknowledged"
	Escalated    State = "escalated"
	Resolved     State = "resolved"
)

// Source says where an incident comes from; its fields together with the type
// are the folding key.
type Source struct {
	Camera string `json:"camera,omitempty"`
	Zone   string `json:"zone,omitempty"`
	Line   string `json:"line,omitempty"`
	Gate   string `json:"gate,omitempty"`
	// Origin is "camera" for what the camera's own analytics reported
	// (ONVIF events, contract 11); empty for lanewatch's own rules.
	Origin string `json:"origin,omitempty"`
}

// Object is one detected object behind an incident.
type Object struct {
	Label      string     `json:"label"` // person, vehicle, motion
	Track      int        `json:"track"`
	Box        [4]float64 `json:"box"` // x, y, w, h as fractions of the frame
	Confidence float64    `json:"confidence"`
}

type Ack struct {
	By   string    `json:"by"`
	At   time.Time `json:"at"`
	Note string    `json:"note,omitempty"`
}

type Evidence struct {
	Snapshot string `json:"snapshot,omitempty"`
	Clip     string `json:"clip,omitempty"`
}

// Incident is the JSON object of contract section 3.
type Incident struct {
	ID          string     `json:"id"`
	Site        string     `json:"site"`
	Type        Type       `json:"type"`
	Severity    Severity   `json:"severity"`
	State       State      `json:"state"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	Source      Source     `json:"source"`
	StartedAt   time.Time  `json:"started_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	ResolvedAt  *time.Time `json:"resolved_at"`
	Count       int        `json:"count"`
	Objects     []Object   `json:"objects"`
	Plate       string     `json:"plate,omitempty"`
	Acks        []Ack      `json:"acks"`
	Evidence    Evidence   `json:"evidence"`
	// Version is 1 on open and grows by one on every change; the ticket's version.
	Version int `json:"-"`
	// Gateway is the gateway that owns the incident, in a cluster's site-wide
	// listings (contract 12); the engine never sets it, so tickets, alerts
	// and single boxes do not carry it.
	Gateway string `json:"gateway,omitempty"`
}

// Signal is one rule hit. Rules send a Signal every time they fire; the engine
// decides whether it opens an incident or folds into an open one.
type Signal struct {
	Type        Type
	Severity    Severity // empty: the configured or default severity of Type
	Source      Source
	At          time.Time
	Title       string
	Description string
	Objects     []Object
	Plate       string
	// Snapshot is an annotated JPEG of the moment, if the rule has one.
	Snapshot []byte
	// Clear says the condition is over (a camera back online); the engine may
	// resolve the incident automatically.
	Clear bool
	// Cooldown, when positive, replaces incidents.cooldown of the type for
	// folding this signal: a zone's own cooldown (zones[].cooldown).
	Cooldown time.Duration
}

// Raiser takes rule hits. The engine implements it; rules depend only on this.
type Raiser interface {
	Raise(s Signal)
}

// WaitRaiser is a Raiser that can also report when a signal is stored (the
// engine): callers that acknowledge an outside event use it.
type WaitRaiser interface {
	Raiser
	RaiseWait(ctx context.Context, s Signal) error
}

// RaiserFunc adapts a function to Raiser.
type RaiserFunc func(Signal)

func (f RaiserFunc) Raise(s Signal) { f(s) }
