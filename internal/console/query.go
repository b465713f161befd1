package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/plate"
)

// Parsers of query strings and request bodies: outside input, each fuzzed.

var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// objectIDRE is the shape of the ids the gateway makes for incidents
// (inc_ + base32) and passages (hex): the evidence store's id syntax, 56
// long at most so that "passage_"+id still fits its 64. Anything else is
// simply not found, before any store sees it.
var objectIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,56}$`)

// outboxKeyRE is an outbox key: <incident id>:<version> for a ticket, or
// <channel id>:<incident id>:<version> for a notification channel's message.
var outboxKeyRE = regexp.MustCompile(`^([a-z0-9][a-z0-9_-]{0,63}:)?[A-Za-z0-9_-]{1,64}(:[0-9]{1,10})?$`)

// validID says s is a configured-id shaped string (contract: cameras, gates, zones).
func validID(s string) bool { return idRE.MatchString(s) }

// parseTime accepts RFC 3339 (contract time stamps) and, for hand-typed
// queries, a bare date taken as midnight UTC.
func parseTime(name, v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%s: want an RFC 3339 time such as 2026-11-26T08:00:00+08:00", name)
}

func parseLimit(v string, def, max int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, fmt.Errorf("limit: want an integer from 1 to %d", max)
	}
	return n, nil
}

// checkKnown refuses query parameters the endpoint does not know, so that a
// typo (stat=open) fails loudly instead of silently returning everything.
func checkKnown(q url.Values, known ...string) error {
	for k := range q {
		ok := false
		for _, n := range known {
			ok = ok || k == n
		}
		if !ok {
			return fmt.Errorf("unknown query parameter %q", k)
		}
	}
	for _, n := range known {
		if len(q[n]) > 1 {
			return fmt.Errorf("query parameter %q given more than once", n)
		}
	}
	return nil
}

var validStates = map[incident.State]bool{incident.Open: true, incident.Acknowledged: true,
	incident.Escalated: true, incident.Resolved: true}

// ParseIncidentQuery reads ?state=&type=&since=&limit= (limit default 100,
// at most 1000) and the wall's additions until=, before= (an incident id:
// the next page of history), camera= and gate=.
func ParseIncidentQuery(q url.Values) (IncidentFilter, error) {
	f := IncidentFilter{}
	if err := checkKnown(q, "state", "type", "since", "limit", "until", "before", "camera", "gate"); err != nil {
		return f, err
	}
	for _, k := range []struct {
		name string
		dst  *string
	}{{"camera", &f.Camera}, {"gate", &f.Gate}} {
		if v := q.Get(k.name); v != "" {
			if !validID(v) {
				return f, fmt.Errorf("%s: not a valid id", k.name)
			}
			*k.dst = v
		}
	}
	if v := q.Get("before"); v != "" {
		if !objectIDRE.MatchString(v) { // the paging cursor is an incident id
			return f, errors.New("before: not an incident id")
		}
		f.Before = v
	}
	if v := q.Get("until"); v != "" {
		t, err := parseTime("until", v)
		if err != nil {
			return f, err
		}
		f.Until = t
	}
	if v := q.Get("state"); v != "" {
		if !validStates[incident.State(v)] {
			return f, errors.New("state: want open, acknowledged, escalated or resolved")
		}
		f.State = incident.State(v)
	}
	if v := q.Get("type"); v != "" {
		ok := false
		for _, t := range incident.Types {
			ok = ok || string(t) == v
		}
		if !ok {
			return f, fmt.Errorf("type: unknown incident type %q", v)
		}
		f.Type = incident.Type(v)
	}
	if v := q.Get("since"); v != "" {
		t, err := parseTime("since", v)
		if err != nil {
			return f, err
		}
		f.Since = t
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return f, errors.New("until is before since")
	}
	n, err := parseLimit(q.Get("limit"), 100, 1000)
	f.Limit = n
	return f, err
}

// PassageRequest is a parsed /api/vehicles/passages query.
type PassageRequest struct {
	PassageQuery
	CSV bool
}

// ParsePassageQuery reads ?plate=&gate=&since=&until=&format=&limit=
// (limit, an addition to the contract, defaults to 1000, at most 100000).
func ParsePassageQuery(q url.Values) (PassageRequest, error) {
	var p PassageRequest
	if err := checkKnown(q, "plate", "gate", "since", "until", "format", "limit"); err != nil {
		return p, err
	}
	if v := q.Get("plate"); v != "" {
		n, ok := plate.NormalizePlate(v)
		if !ok {
			return p, errors.New("plate: not a valid plate")
		}
		p.Plate = n
	}
	if v := q.Get("gate"); v != "" {
		if !validID(v) {
			return p, errors.New("gate: not a valid gate id")
		}
		p.Gate = v
	}
	var err error
	if v := q.Get("since"); v != "" {
		if p.Since, err = parseTime("since", v); err != nil {
			return p, err
		}
	}
	if v := q.Get("until"); v != "" {
		if p.Until, err = parseTime("until", v); err != nil {
			return p, err
		}
	}
	if !p.Since.IsZero() && !p.Until.IsZero() && p.Until.Before(p.Since) {
		return p, errors.New("until is before since")
	}
	switch q.Get("format") {
	case "", "json":
	case "csv":
		p.CSV = true
	default:
		return p, errors.New("format: want json or csv")
	}
	p.Limit, err = parseLimit(q.Get("limit"), 1000, 100000)
	return p, err
}

// decodeStrict decodes one JSON object, refusing unknown fields and trailing data.
func decodeStrict(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return errors.New("empty body")
	}
	d := json.NewDecoder(strings.NewReader(string(body)))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("body: %v", err)
	}
	if d.More() {
		return errors.New("body: trailing data after the JSON object")
	}
	return nil
}

const maxNote = 2000

// ParseNote reads the ack/resolve body {"note": "..."}; an empty body is no note.
func ParseNote(body []byte) (string, error) {
	if len(strings.TrimSpace(string(body))) == 0 {
		return "", nil
	}
	var b struct {
		Note string `json:"note"`
	}
	if err := decodeStrict(body, &b); err != nil {
		return "", err
	}
	if len(b.Note) > maxNote {
		return "", fmt.Errorf("note: at most %d bytes", maxNote)
	}
	note := strings.TrimSpace(b.Note)
	return note, auth.CheckText("note", note)
}

// ParseGateOpen reads {"reason": "..."}; the reason is required because the
// audit log must say why a barrier was opened by hand.
func ParseGateOpen(body []byte) (string, error) {
	var b struct {
		Reason string `json:"reason"`
	}
	if err := decodeStrict(body, &b); err != nil {
		return "", err
	}
	r := strings.TrimSpace(b.Reason)
	if r == "" {
		return "", errors.New("reason is required")
	}
	if len(r) > 500 {
		return "", errors.New("reason: at most 500 bytes")
	}
	// The reason travels in the gate command on MQTT and into the audit log.
	return r, auth.CheckText("reason", r)
}

// maxVisitorWindow bounds a temporary visitor plate; longer stays are residents.
const maxVisitorWindow = 31 * 24 * time.Hour

// ParseVisitor reads a visitor {plate, valid_from, valid_until, unit, note}:
// the plate is normalised, the window must be non-empty and at most 31 days.
func ParseVisitor(body []byte) (Visitor, error) {
	var v Visitor
	if err := decodeStrict(body, &v); err != nil {
		return v, err
	}
	p, ok := plate.NormalizePlate(v.Plate)
	if !ok {
		return v, errors.New("plate: not a valid plate")
	}
	v.Plate = p
	if v.ValidFrom.IsZero() || v.ValidUntil.IsZero() {
		return v, errors.New("valid_from and valid_until are required")
	}
	if !v.ValidUntil.After(v.ValidFrom) {
		return v, errors.New("valid_until must be after valid_from")
	}
	if v.ValidUntil.Sub(v.ValidFrom) > maxVisitorWindow {
		return v, errors.New("visitor window: at most 31 days")
	}
	v.Unit, v.Note = strings.TrimSpace(v.Unit), strings.TrimSpace(v.Note)
	if len(v.Unit) > 64 || len(v.Note) > 500 {
		return v, errors.New("unit at most 64 bytes, note at most 500")
	}
	if err := auth.CheckText("unit", v.Unit); err != nil {
		return v, err
	}
	if err := auth.CheckText("note", v.Note); err != nil {
		return v, err
	}
	return v, nil
}

// normalizePathPlate reads the {plate} of DELETE /api/vehicles/visitors/<plate>.
func normalizePathPlate(v string) (string, bool) { return plate.NormalizePlate(v) }
