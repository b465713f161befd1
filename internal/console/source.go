package console

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
	"gocv.io/x/gocv"
)

// The console declares what it needs from the rest of the gateway; the
// gateway's wiring adapts the real components to these interfaces.

// Errors the data interfaces return (wrapped is fine) so that the API can
// answer with the right status.
var (
	// ErrNotFound: no such camera, incident, gate, visitor or outbox key (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the action does not fit the current state, such as
	// acknowledging a resolved incident (409).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the request is well-formed but refused by the component (400).
	ErrInvalid = errors.New("invalid request")
	// ErrUnavailable: the component cannot serve right now, e.g. MQTT down (503).
	ErrUnavailable = errors.New("unavailable")
)

// CameraStatus is one row of GET /api/cameras and the data of a "camera" SSE
// event. Never carries the camera URL.
type CameraStatus struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	State       string     `json:"state"` // online, degraded, offline
	FPSIn       float64    `json:"fps_in"`
	FPSDecoded  float64    `json:"fps_decoded"`
	FPSAnalyzed float64    `json:"fps_analyzed"`
	LastFrameAt *time.Time `json:"last_frame_at"`
	Reconnects  int        `json:"reconnects"`
	// Since is when the camera entered State; the wall shows "offline since".
	Since *time.Time `json:"since,omitempty"`
	// Reason says why the camera is not online. The console redacts any
	// credentials in it before it leaves the gateway.
	Reason string `json:"reason,omitempty"`
	// Streams is each stream's own state for a camera analysed on a
	// sub-stream (main first); absent for a camera with one stream.
	Streams []StreamStatus `json:"streams,omitempty"`
	// Gateway is the gateway that runs the camera, in a cluster (contract 12).
	Gateway string `json:"gateway,omitempty"`
}

// StreamStatus is one stream of a camera.
type StreamStatus struct {
	Name   string  `json:"name"` // main or sub
	State  string  `json:"state"`
	Reason string  `json:"reason,omitempty"`
	FPSIn  float64 `json:"fps_in"`
	Width  int     `json:"width,omitempty"`
	Height int     `json:"height,omitempty"`
}

// CameraSource is the cameras and their frames (internal/camera and internal/analytics).
type CameraSource interface {
	// Cameras lists every configured camera in configuration order.
	Cameras() []CameraStatus
	// Snapshot is the latest raw frame as JPEG; ErrNotFound for an unknown
	// camera, ErrUnavailable when it has no frame yet.
	Snapshot(ctx context.Context, id string) ([]byte, error)
	// Annotated copies the latest annotated BGR frame into dst (reusing its
	// memory); false when there is none (unknown camera, no frame yet).
	Annotated(id string, dst *gocv.Mat) bool
	// SubscribeStatus delivers every status change until cancel is called;
	// cancel closes the channel.
	SubscribeStatus() (ch <-chan CameraStatus, cancel func())
}

// IncidentFilter selects incidents for List; zero fields match everything.
type IncidentFilter struct {
	State incident.State
	Type  incident.Type
	Since time.Time // updated at or after
	Limit int       // always set by the console, 1..1000
	// Until (started at or before), Before (an incident id: the page after
	// it), Camera and Gate (the source) page and filter the wall's history.
	Until  time.Time
	Before string
	Camera string
	Gate   string
}

// Engine is the filter as internal/incidents takes it.
func (f IncidentFilter) Engine() incidents.Filter {
	return incidents.Filter{State: f.State, Type: f.Type, Since: f.Since, Limit: f.Limit,
		Until: f.Until, Before: f.Before, Camera: f.Camera, Gate: f.Gate}
}

// IncidentStore is the incident engine (internal/incidents) plus evidence
// (internal/evidence).
type IncidentStore interface {
	List(f IncidentFilter) ([]incident.Incident, error)
	Get(id string) (incident.Incident, error)
	// Ack and Resolve return the incident after the change; ErrNotFound,
	// ErrConflict for a resolved one.
	Ack(id, by, note string) (incident.Incident, error)
	Resolve(id, by, note string) (incident.Incident, error)
	// Subscribe delivers every incident change (its new state) until cancel
	// is called; cancel closes the channel.
	Subscribe() (ch <-chan incident.Incident, cancel func())
	// Snapshot is the incident's JPEG; ErrNotFound when there is none.
	Snapshot(id string) ([]byte, error)
	// Clip opens the incident's MP4 clip; ErrNotFound when there is none.
	// The console closes it.
	Clip(id string) (io.ReadSeekCloser, time.Time, error)
}

// Passage is contract section 5.
type Passage struct {
	ID        string     `json:"id"`
	Site      string     `json:"site"`
	Gate      string     `json:"gate"`
	Direction string     `json:"direction"`
	Plate     string     `json:"plate"`
	Class     string     `json:"class"`
	At        time.Time  `json:"at"`
	EntryAt   *time.Time `json:"entry_at"`
	DwellS    *int64     `json:"dwell_s"` // whole seconds
	Snapshot  string     `json:"snapshot,omitempty"`
}

// PassageQuery selects passages; zero fields match everything.
type PassageQuery struct {
	Plate string // normalised
	Gate  string
	Since time.Time
	Until time.Time
	Limit int // always set by the console
}

// Inside is a vehicle now inside the compound.
type Inside struct {
	Plate   string    `json:"plate"`
	Class   string    `json:"class"`
	Gate    string    `json:"gate"`
	EntryAt time.Time `json:"entry_at"`
	DwellS  int64     `json:"dwell_s"`
	// Overstay: inside longer than vehicles.overstay (the wall marks it).
	Overstay bool `json:"overstay,omitempty"`
}

// Visitor is a temporary visitor plate.
type Visitor struct {
	Plate      string    `json:"plate"`
	ValidFrom  time.Time `json:"valid_from"`
	ValidUntil time.Time `json:"valid_until"`
	Unit       string    `json:"unit"`
	Note       string    `json:"note"`
}

// VehicleLog is internal/vehicles.
type VehicleLog interface {
	// Passages returns matching passages, newest first.
	Passages(ctx context.Context, q PassageQuery) ([]Passage, error)
	Inside(ctx context.Context) ([]Inside, error)
	Visitors(ctx context.Context) ([]Visitor, error)
	// AddVisitor adds or replaces the visitor with v.Plate.
	AddVisitor(ctx context.Context, v Visitor) error
	// RemoveVisitor: ErrNotFound if the plate is not a visitor.
	RemoveVisitor(ctx context.Context, plate string) error
}

// OutboxTicket is one row of GET /api/outbox.
type OutboxTicket struct {
	Key        string     `json:"key"` // <incident id>:<version>
	IncidentID string     `json:"incident_id"`
	Version    int        `json:"version"`
	State      string     `json:"state"` // pending, sending, blocked (behind a dead one), dead
	Attempts   int        `json:"attempts"`
	CreatedAt  time.Time  `json:"created_at"` // accepted into the outbox
	NextTryAt  *time.Time `json:"next_attempt_at,omitempty"`
	Bytes      int64      `json:"bytes,omitempty"`
	LastStatus int        `json:"last_status,omitempty"` // dead: the platform's answer
	LastError  string     `json:"last_error,omitempty"`
	// Response is the platform's answer that dead-lettered the ticket.
	Response string `json:"response,omitempty"`
	// Channel is the notification channel (notify[].id) of a message; empty
	// for a ticket to the platform. A channel's key is <channel>:<id>:<version>.
	Channel string `json:"channel,omitempty"`
}

// OutboxAdmin is internal/outbox.
type OutboxAdmin interface {
	List(ctx context.Context) ([]OutboxTicket, error)
	// Resend puts a dead-lettered ticket back in the queue; ErrNotFound.
	Resend(ctx context.Context, key string) error
	// Discard drops a dead-lettered ticket so that the incident's later
	// versions are delivered; ErrNotFound.
	Discard(ctx context.Context, key string) error
}

// GateOpener publishes the gate command of contract 2.3 (internal/mqttbus).
type GateOpener interface {
	// OpenGate publishes {"action":"open","by":by,"reason":reason,"id":id}
	// and returns the command id; ErrNotFound for an unknown gate.
	OpenGate(ctx context.Context, gate, by, reason string) (id string, err error)
}
