package sensors

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/lanewatch/lanewatch/internal/plate"
)

// MaxPayload is the largest accepted payload (contract 2.1). Real events are
// a few hundred bytes; the bound keeps a misbehaving sender from making us
// parse megabytes per message.
const MaxPayload = 64 << 10

// Limits on string fields: generous for real senders, small enough that the
// dedup memory bound (MaxIDs ids) stays a few MB.
const (
	maxIDLen         = 128
	maxCredentialLen = 1024
	maxLane          = 9999
)

// Reject reasons, the label values of lanewatch_sensor_rejected_total.
const (
	ReasonInvalidJSON   = "invalid_json"
	ReasonTooLarge      = "too_large"
	ReasonUnknownType   = "unknown_type"
	ReasonMissingField  = "missing_field"
	ReasonBadPlate      = "bad_plate"
	ReasonBadDirection  = "bad_direction"
	ReasonBadConfidence = "bad_confidence"
	ReasonBadTimestamp  = "bad_timestamp"
	ReasonBadLane       = "bad_lane"
	ReasonBadID         = "bad_id"
	ReasonBadCredential = "bad_credential"
	ReasonBadGate       = "bad_gate"
)

// Reasons lists every reject reason, so that metrics can be pre-created at 0.
var Reasons = []string{
	ReasonInvalidJSON, ReasonTooLarge, ReasonUnknownType, ReasonMissingField,
	ReasonBadPlate, ReasonBadDirection, ReasonBadConfidence, ReasonBadTimestamp,
	ReasonBadLane, ReasonBadID, ReasonBadCredential, ReasonBadGate,
}

// RejectError says why a payload was rejected. Reason is one of the Reason
// constants; Field names the offending JSON field when there is one.
type RejectError struct {
	Reason string
	Field  string
	Msg    string
}

func (e *RejectError) Error() string {
	if e.Field != "" {
		return "sensors: rejected (" + e.Reason + "): " + e.Field + ": " + e.Msg
	}
	return "sensors: rejected (" + e.Reason + "): " + e.Msg
}

func reject(reason, field, format string, args ...any) *RejectError {
	return &RejectError{Reason: reason, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// GateIDPattern is the contract's id syntax for configured ids.
var GateIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// requirements per type: which fields the type needs.
type need struct{ plate, direction, confidence, credential bool }

var types = map[Type]need{
	PlateRead:     {plate: true, direction: true, confidence: true},
	BarrierOpen:   {},
	BarrierClose:  {},
	Loop:          {direction: true},
	AccessGranted: {direction: true, credential: true},
	AccessDenied:  {credential: true},
	DoorOpen:      {},
	DoorClose:     {},
	SOS:           {},
	Heartbeat:     {},
}

// Decoder turns gate payloads into Events. Salt keys the credential hash; it
// must be the same across restarts (see LoadOrCreateSalt) or hashes of the
// same card will not compare equal, and at least 16 bytes long.
type Decoder struct {
	Salt []byte
}

// wire is the payload as sent. Unknown fields are tolerated on purpose:
// a controller firmware that adds a field must not have every event
// rejected. RawMessage lets us tell a missing field from a wrong type.
type wire struct {
	ID         json.RawMessage `json:"id"`
	TS         json.RawMessage `json:"ts"`
	Type       json.RawMessage `json:"type"`
	Plate      json.RawMessage `json:"plate"`
	Direction  json.RawMessage `json:"direction"`
	Confidence json.RawMessage `json:"confidence"`
	Lane       json.RawMessage `json:"lane"`
	Credential json.RawMessage `json:"credential"`
}

// absent is true for a field that was not sent or sent as null.
func absent(r json.RawMessage) bool { return len(r) == 0 || string(r) == "null" }

func str(r json.RawMessage, field, reason string) (string, error) {
	var s string
	if err := json.Unmarshal(r, &s); err != nil {
		return "", reject(reason, field, "want a string")
	}
	return s, nil
}

// Decode validates one payload from gate's events topic; now is the time of
// receipt. The error is always a *RejectError.
func (d *Decoder) Decode(gate string, payload []byte, now time.Time) (Event, error) {
	if !GateIDPattern.MatchString(gate) {
		return Event{}, reject(ReasonBadGate, "", "gate id %q not [a-z0-9][a-z0-9_-]{0,63}", truncate(gate))
	}
	if len(payload) > MaxPayload {
		return Event{}, reject(ReasonTooLarge, "", "%d bytes, limit %d", len(payload), MaxPayload)
	}
	var w wire
	if err := decodeObject(payload, &w); err != nil {
		return Event{}, err
	}
	ev := Event{Gate: gate, Received: now, TS: now}

	if absent(w.Type) {
		return Event{}, reject(ReasonMissingField, "type", "required")
	}
	t, err := str(w.Type, "type", ReasonUnknownType)
	if err != nil {
		return Event{}, err
	}
	req, ok := types[Type(t)]
	if !ok {
		return Event{}, reject(ReasonUnknownType, "type", "%q", truncate(t))
	}
	ev.Type = Type(t)

	if !absent(w.ID) {
		id, err := str(w.ID, "id", ReasonBadID)
		if err != nil {
			return Event{}, err
		}
		if len(id) > maxIDLen || !utf8.ValidString(id) {
			return Event{}, reject(ReasonBadID, "id", "longer than %d bytes or not UTF-8", maxIDLen)
		}
		ev.ID = id
	}
	if !absent(w.TS) {
		s, err := str(w.TS, "ts", ReasonBadTimestamp)
		if err != nil {
			return Event{}, err
		}
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return Event{}, reject(ReasonBadTimestamp, "ts", "not RFC 3339: %q", truncate(s))
		}
		ev.TS = ts
	}

	// The plate belongs to plate_read and barrier_open only; elsewhere it is
	// ignored like any other field the type does not use.
	if ev.Type == PlateRead || ev.Type == BarrierOpen {
		if absent(w.Plate) {
			if req.plate {
				return Event{}, reject(ReasonMissingField, "plate", "required for %s", ev.Type)
			}
		} else {
			s, err := str(w.Plate, "plate", ReasonBadPlate)
			if err != nil {
				return Event{}, err
			}
			// barrier_open sends "" when no plate was read: that is "unknown".
			if s != "" || req.plate {
				p, ok := plate.NormalizePlate(s)
				if !ok {
					return Event{}, reject(ReasonBadPlate, "plate", "%q is not 2-12 letters, digits or CJK ideographs", truncate(s))
				}
				ev.Plate = p
			}
		}
	}

	if absent(w.Direction) {
		if req.direction {
			return Event{}, reject(ReasonMissingField, "direction", "required for %s", ev.Type)
		}
	} else {
		s, err := str(w.Direction, "direction", ReasonBadDirection)
		if err != nil {
			return Event{}, err
		}
		if Direction(s) != In && Direction(s) != Out {
			return Event{}, reject(ReasonBadDirection, "direction", "%q: want in or out", truncate(s))
		}
		ev.Direction = Direction(s)
	}

	if absent(w.Confidence) {
		if req.confidence {
			return Event{}, reject(ReasonMissingField, "confidence", "required for %s", ev.Type)
		}
	} else {
		var f float64
		if err := json.Unmarshal(w.Confidence, &f); err != nil || math.IsNaN(f) || f < 0 || f > 1 {
			return Event{}, reject(ReasonBadConfidence, "confidence", "want a number in 0..1")
		}
		ev.Confidence = f
	}

	if !absent(w.Lane) {
		// Into float64, not json.Number: json.Number also takes "2" in quotes.
		var f float64
		if err := json.Unmarshal(w.Lane, &f); err != nil || f != math.Trunc(f) || f < 0 || f > maxLane {
			return Event{}, reject(ReasonBadLane, "lane", "want an integer in 0..%d", maxLane)
		}
		i := int64(f)
		ev.Lane, ev.HasLane = int(i), true
	}

	if req.credential {
		if absent(w.Credential) {
			return Event{}, reject(ReasonMissingField, "credential", "required for %s", ev.Type)
		}
		s, err := str(w.Credential, "credential", ReasonBadCredential)
		if err != nil {
			return Event{}, err
		}
		if s == "" || len(s) > maxCredentialLen {
			// The credential itself never goes into a message or a log.
			return Event{}, reject(ReasonBadCredential, "credential", "empty or longer than %d bytes", maxCredentialLen)
		}
		ev.CredentialHash = d.HashCredential(s)
	}
	return ev, nil
}

// Urgent reports whether a payload of gate's events may be raised before
// the broker stored it (gatejs.Source.Early): a valid SOS with an id, so
// that its stored copy is dropped as a duplicate. Payloads without the
// plain "sos" are passed over undecoded: this runs for every gate event.
func (d *Decoder) Urgent(gate string, payload []byte) bool {
	if !bytes.Contains(payload, []byte(`"sos"`)) {
		return false
	}
	ev, err := d.Decode(gate, payload, time.Now())
	return err == nil && ev.Type == SOS && ev.ID != ""
}

// HashCredential is the salted hash stored instead of a card or PIN:
// HMAC-SHA256 keyed with the installation's salt, hex. The same credential
// gives the same hash on one installation (so the vehicle log and rules can
// match it) and an unrelated one elsewhere (so a leaked log cannot be joined
// with another site's, nor reversed with a precomputed table).
func (d *Decoder) HashCredential(credential string) string {
	m := hmac.New(sha256.New, d.Salt)
	m.Write([]byte(credential))
	return hex.EncodeToString(m.Sum(nil))
}

// decodeObject accepts exactly one JSON object with nothing but white space
// after it; arrays, scalars and concatenated objects are invalid_json.
func decodeObject(payload []byte, w *wire) error {
	p := bytes.TrimLeft(payload, " \t\r\n")
	if len(p) == 0 || p[0] != '{' {
		return reject(ReasonInvalidJSON, "", "not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	if err := dec.Decode(w); err != nil {
		return reject(ReasonInvalidJSON, "", "%s", truncate(err.Error()))
	}
	rest := p[dec.InputOffset():]
	if len(bytes.TrimSpace(rest)) != 0 {
		return reject(ReasonInvalidJSON, "", "trailing data after the object")
	}
	if !utf8.Valid(p) {
		// encoding/json replaces bad UTF-8 silently; a sender that emits it is
		// broken and its plate or id would not be what it meant.
		return reject(ReasonInvalidJSON, "", "not valid UTF-8")
	}
	return nil
}

// truncate keeps hostile input out of logs in bulk.
func truncate(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	for i := max; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return ""
}
