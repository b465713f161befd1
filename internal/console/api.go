package console

import (
	"context"
	"encoding/csv"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/logx"
)

// fail maps a component error to its status. 5xx messages are generic and
// the cause goes to the log (redacted), so internals never reach a client.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		auth.WriteError(w, http.StatusNotFound, "not found")
	case errors.Is(err, ErrConflict):
		auth.WriteError(w, http.StatusConflict, err.Error())
	case errors.Is(err, ErrInvalid):
		auth.WriteError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrUnavailable):
		auth.WriteError(w, http.StatusServiceUnavailable, "temporarily unavailable")
	default:
		s.errLog.Logf(slog.LevelError, r.Pattern, "console request failed", "route", r.Pattern, "err", logx.RedactText(err.Error()))
		auth.WriteError(w, http.StatusInternalServerError, "internal error")
	}
}

// missing answers 503 when a component is not wired (not configured).
func missing(w http.ResponseWriter, what string) {
	auth.WriteError(w, http.StatusServiceUnavailable, what+" not configured")
}

func principal(r *http.Request) auth.Principal {
	p, _ := auth.FromContext(r.Context())
	return p
}

// writeList writes a list result; an empty list is [] and never null, so
// clients can iterate without checks.
func writeList[T any](s *Server, w http.ResponseWriter, r *http.Request, list []T, err error) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if list == nil {
		list = []T{}
	}
	auth.WriteJSON(w, http.StatusOK, list)
}

func (s *Server) listCameras(w http.ResponseWriter, r *http.Request) {
	if s.Cameras == nil {
		auth.WriteJSON(w, http.StatusOK, []CameraStatus{})
		return
	}
	cams := s.Cameras.Cameras()
	for i := range cams {
		cams[i] = cams[i].redacted()
	}
	writeList(s, w, r, cams, nil)
}

// cameraID validates the {camera} path value and checks it is configured.
func (s *Server) cameraID(w http.ResponseWriter, r *http.Request) (string, bool) {
	if s.Cameras == nil {
		missing(w, "cameras")
		return "", false
	}
	id := r.PathValue("camera")
	if validID(id) {
		for _, c := range s.Cameras.Cameras() {
			if c.ID == id {
				return id, true
			}
		}
	}
	auth.WriteError(w, http.StatusNotFound, "no such camera")
	return "", false
}

// writeJPEG writes a JPEG; live frames must not be cached, evidence may be.
func writeJPEG(w http.ResponseWriter, b []byte, live bool) {
	w.Header().Set("Content-Type", "image/jpeg")
	if live {
		w.Header().Set("Cache-Control", "no-store")
	} else {
		w.Header().Set("Cache-Control", "private, max-age=3600")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

func (s *Server) cameraSnapshot(w http.ResponseWriter, r *http.Request) {
	id, ok := s.cameraID(w, r)
	if !ok {
		return
	}
	if err := checkKnown(r.URL.Query(), "annotate"); err != nil {
		auth.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	switch r.URL.Query().Get("annotate") {
	case "", "0", "false":
		b, err := s.Cameras.Snapshot(r.Context(), id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJPEG(w, b, true)
	case "1", "true":
		// The annotated frame is the wall's: scaled to mjpeg.width and shared
		// with the live streams, so polling tiles cost no extra encoding.
		b, ok := s.streams.poll(id, time.Second)
		if !ok {
			auth.WriteError(w, http.StatusServiceUnavailable, "no frame yet")
			return
		}
		writeJPEG(w, b, true)
	default:
		auth.WriteError(w, http.StatusBadRequest, "annotate: want 0 or 1")
	}
}

func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request) {
	if s.Incidents == nil {
		missing(w, "incidents")
		return
	}
	f, err := ParseIncidentQuery(r.URL.Query())
	if err != nil {
		auth.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	list, err := s.Incidents.List(f)
	writeList(s, w, r, list, err)
}

// incidentID returns the {id} path value if the store is wired and it can be
// an incident id; ids are ours, so anything odd is simply not found.
func (s *Server) incidentID(w http.ResponseWriter, r *http.Request) (string, bool) {
	if s.Incidents == nil {
		missing(w, "incidents")
		return "", false
	}
	id := r.PathValue("id")
	if !objectIDRE.MatchString(id) {
		auth.WriteError(w, http.StatusNotFound, "no such incident")
		return "", false
	}
	return id, true
}

func (s *Server) getIncident(w http.ResponseWriter, r *http.Request) {
	id, ok := s.incidentID(w, r)
	if !ok {
		return
	}
	inc, err := s.Incidents.Get(id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	auth.WriteJSON(w, http.StatusOK, inc)
}

func (s *Server) incidentSnapshot(w http.ResponseWriter, r *http.Request) {
	id, ok := s.incidentID(w, r)
	if !ok {
		return
	}
	b, err := s.Incidents.Snapshot(id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJPEG(w, b, false)
}

// GateInfo is one row of GET /api/gates.
type GateInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Cameras watch the gate; the alarm pop-up shows the first one live.
	Cameras []string `json:"cameras"`
}

func (s *Server) listGates(w http.ResponseWriter, _ *http.Request) {
	gates := []GateInfo{}
	if s.GateList != nil {
		gates = append(gates, s.GateList()...)
	}
	auth.WriteJSON(w, http.StatusOK, gates)
}

func (s *Server) passageSnapshot(w http.ResponseWriter, r *http.Request) {
	if s.PassageSnapshot == nil {
		missing(w, "vehicle snapshots")
		return
	}
	id := r.PathValue("id")
	if !objectIDRE.MatchString(id) {
		auth.WriteError(w, http.StatusNotFound, "no such passage")
		return
	}
	b, err := s.PassageSnapshot(id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJPEG(w, b, false)
}

func (s *Server) incidentClip(w http.ResponseWriter, r *http.Request) {
	id, ok := s.incidentID(w, r)
	if !ok {
		return
	}
	f, mod, err := s.Incidents.Clip(id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "video/mp4")
	// ServeContent: browsers seek in video with Range requests.
	http.ServeContent(s.videoWriter(w), r, id+".mp4", mod, f)
}

func (s *Server) ackIncident(w http.ResponseWriter, r *http.Request) {
	s.changeIncident(w, r, "ack", IncidentStore.Ack)
}

func (s *Server) resolveIncident(w http.ResponseWriter, r *http.Request) {
	s.changeIncident(w, r, "resolve", IncidentStore.Resolve)
}

func (s *Server) changeIncident(w http.ResponseWriter, r *http.Request, action string,
	do func(st IncidentStore, id, by, note string) (incident.Incident, error)) {
	id, ok := s.incidentID(w, r)
	if !ok {
		return
	}
	body, err := auth.ReadBody(w, r)
	if err != nil {
		auth.WriteError(w, http.StatusRequestEntityTooLarge, err.Error())
		return
	}
	note, err := ParseNote(body)
	if err != nil {
		auth.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	p := principal(r)
	inc, err := do(s.Incidents, id, p.Name, note)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	_ = s.Auth.Audit(p, action, id, map[string]string{"note": note})
	auth.WriteJSON(w, http.StatusOK, inc)
}

func (s *Server) passages(w http.ResponseWriter, r *http.Request) {
	if s.Vehicles == nil {
		missing(w, "vehicle log")
		return
	}
	q, err := ParsePassageQuery(r.URL.Query())
	if err != nil {
		auth.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	list, err := s.Vehicles.Passages(r.Context(), q.PassageQuery)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if list == nil {
		list = []Passage{}
	}
	if !q.CSV {
		auth.WriteJSON(w, http.StatusOK, list)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="passages.csv"`)
	writePassagesCSV(w, list)
}

// writePassagesCSV writes the columns of contract section 5. A UTF-8 BOM
// first, so that spreadsheet programs show Chinese plates correctly.
func writePassagesCSV(w http.ResponseWriter, list []Passage) {
	_, _ = w.Write([]byte("\ufeff"))
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"id", "site", "gate", "direction", "plate", "class", "at", "entry_at", "dwell_s", "snapshot"})
	for _, p := range list {
		entry, dwell := "", ""
		if p.EntryAt != nil {
			entry = p.EntryAt.Format(time.RFC3339)
		}
		if p.DwellS != nil {
			dwell = strconv.FormatInt(*p.DwellS, 10)
		}
		_ = cw.Write([]string{p.ID, p.Site, p.Gate, p.Direction, csvSafe(p.Plate), p.Class,
			p.At.Format(time.RFC3339), entry, dwell, p.Snapshot})
	}
	cw.Flush()
}

// csvSafe defuses spreadsheet formula injection; plates are validated, but
// the CSV may be opened long after the rules changed.
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@') {
		return "'" + s
	}
	return s
}

func (s *Server) inside(w http.ResponseWriter, r *http.Request) {
	if s.Vehicles == nil {
		missing(w, "vehicle log")
		return
	}
	list, err := s.Vehicles.Inside(r.Context())
	writeList(s, w, r, list, err)
}

func (s *Server) listVisitors(w http.ResponseWriter, r *http.Request) {
	if s.Vehicles == nil {
		missing(w, "vehicle log")
		return
	}
	list, err := s.Vehicles.Visitors(r.Context())
	writeList(s, w, r, list, err)
}

func (s *Server) addVisitor(w http.ResponseWriter, r *http.Request) {
	if s.Vehicles == nil {
		missing(w, "vehicle log")
		return
	}
	body, err := auth.ReadBody(w, r)
	if err != nil {
		auth.WriteError(w, http.StatusRequestEntityTooLarge, err.Error())
		return
	}
	v, err := ParseVisitor(body)
	if err != nil {
		auth.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.Vehicles.AddVisitor(r.Context(), v); err != nil {
		s.fail(w, r, err)
		return
	}
	_ = s.Auth.Audit(principal(r), "visitor_add", v.Plate, map[string]string{
		"valid_from": v.ValidFrom.Format(time.RFC3339), "valid_until": v.ValidUntil.Format(time.RFC3339), "unit": v.Unit})
	auth.WriteJSON(w, http.StatusCreated, v)
}

func (s *Server) removeVisitor(w http.ResponseWriter, r *http.Request) {
	if s.Vehicles == nil {
		missing(w, "vehicle log")
		return
	}
	p, ok := normalizePathPlate(r.PathValue("plate"))
	if !ok {
		auth.WriteError(w, http.StatusBadRequest, "plate: not a valid plate")
		return
	}
	if err := s.Vehicles.RemoveVisitor(r.Context(), p); err != nil {
		s.fail(w, r, err)
		return
	}
	_ = s.Auth.Audit(principal(r), "visitor_remove", p, nil)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) openGate(w http.ResponseWriter, r *http.Request) {
	if s.Gates == nil {
		missing(w, "gate control")
		return
	}
	gate := r.PathValue("gate")
	if !validID(gate) {
		auth.WriteError(w, http.StatusNotFound, "no such gate")
		return
	}
	body, err := auth.ReadBody(w, r)
	if err != nil {
		auth.WriteError(w, http.StatusRequestEntityTooLarge, err.Error())
		return
	}
	reason, err := ParseGateOpen(body)
	if err != nil {
		auth.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	p := principal(r)
	id, err := s.Gates.OpenGate(r.Context(), gate, p.Name, reason)
	if err != nil {
		_ = s.Auth.Audit(p, "gate_open_failed", gate, map[string]string{"reason": reason})
		s.fail(w, r, err)
		return
	}
	_ = s.Auth.Audit(p, "gate_open", gate, map[string]string{"reason": reason, "command_id": id})
	auth.WriteJSON(w, http.StatusAccepted, map[string]string{"id": id, "gate": gate, "action": "open", "by": p.Name, "reason": reason})
}

func (s *Server) listOutbox(w http.ResponseWriter, r *http.Request) {
	if s.Outbox == nil {
		missing(w, "outbox")
		return
	}
	list, err := s.Outbox.List(r.Context())
	writeList(s, w, r, list, err)
}

func (s *Server) resendOutbox(w http.ResponseWriter, r *http.Request) {
	s.outboxAction(w, r, "resend", OutboxAdmin.Resend, http.StatusAccepted, "pending")
}

// discardOutbox drops a dead-lettered ticket (an extension of contract 6:
// without it a ticket the platform always refuses would hold its
// incident's later versions back for ever).
func (s *Server) discardOutbox(w http.ResponseWriter, r *http.Request) {
	s.outboxAction(w, r, "discard", OutboxAdmin.Discard, http.StatusOK, "discarded")
}

func (s *Server) outboxAction(w http.ResponseWriter, r *http.Request, action string, do func(OutboxAdmin, context.Context, string) error, status int, state string) {
	if s.Outbox == nil {
		missing(w, "outbox")
		return
	}
	key := r.PathValue("key")
	if !outboxKeyRE.MatchString(key) {
		auth.WriteError(w, http.StatusNotFound, "not found")
		return
	}
	if err := do(s.Outbox, r.Context(), key); err != nil {
		s.fail(w, r, err)
		return
	}
	_ = s.Auth.Audit(principal(r), action, key, nil)
	auth.WriteJSON(w, status, map[string]string{"key": key, "state": state})
}

// redacted is the status without credentials: a camera's failure reason may
// quote the RTSP URL it dialled.
func (c CameraStatus) redacted() CameraStatus {
	c.Reason = logx.RedactText(c.Reason)
	if c.Streams != nil {
		streams := make([]StreamStatus, len(c.Streams))
		for i, st := range c.Streams {
			st.Reason = logx.RedactText(st.Reason)
			streams[i] = st
		}
		c.Streams = streams
	}
	return c
}
