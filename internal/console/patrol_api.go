package console

import (
	"bytes"
	"errors"
	"image"
	_ "image/jpeg" // decoders for photo validation
	_ "image/png"
	"io"
	"net/http"
	"sort"
	"strconv"
	"sync"

	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/evlink"
	"github.com/lanewatch/lanewatch/internal/incident"
)

// PatrolIncident is one row of GET /api/patrol/incidents: the incident and
// links to its evidence the page can put in <img> and <video> as they are.
type PatrolIncident struct {
	incident.Incident
	SnapshotURL string `json:"snapshot_url,omitempty"`
	ClipURL     string `json:"clip_url,omitempty"`
}

var severityRank = map[incident.Severity]int{incident.Critical: 4, incident.High: 3, incident.Medium: 2, incident.Low: 1}

// SortPatrol orders incidents for the officer: most severe first, then newest.
func SortPatrol(list []incident.Incident) {
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if ra, rb := severityRank[a.Severity], severityRank[b.Severity]; ra != rb {
			return ra > rb
		}
		if !a.StartedAt.Equal(b.StartedAt) {
			return a.StartedAt.After(b.StartedAt)
		}
		return a.ID < b.ID
	})
}

// patrolIncidents lists every incident not resolved. Evidence links are
// signed (path only, same origin) so that <img>/<video> load with a device
// token, which a browser cannot attach to them; they stay the same for an
// hour, so the phone caches the pictures.
func (s *Server) patrolIncidents(w http.ResponseWriter, r *http.Request) {
	if s.Incidents == nil {
		missing(w, "incidents")
		return
	}
	all, err := s.Incidents.List(IncidentFilter{Limit: 1000})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var open []incident.Incident
	for _, inc := range all {
		if inc.State != incident.Resolved {
			open = append(open, inc)
		}
	}
	SortPatrol(open)
	out := make([]PatrolIncident, 0, len(open))
	for _, inc := range open {
		pi := PatrolIncident{Incident: inc}
		pi.SnapshotURL, pi.ClipURL = s.evidenceURL(inc, evlink.Snapshot), s.evidenceURL(inc, evlink.Clip)
		out = append(out, pi)
	}
	w.Header().Set("Cache-Control", "no-store")
	auth.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) evidenceURL(inc incident.Incident, a evlink.Asset) string {
	has := inc.Evidence.Snapshot != ""
	api := "/api/incidents/" + inc.ID + "/snapshot.jpg"
	if a == evlink.Clip {
		has, api = inc.Evidence.Clip != "", "/api/incidents/"+inc.ID+"/clip.mp4"
	}
	if !has {
		return ""
	}
	if s.Patrol.Links == nil {
		return api // works with a session cookie only
	}
	return evlink.Route + s.Patrol.Links.SignStable(inc.ID, a)
}

// patrolAction: POST /api/patrol/incidents/{id}/{ack|note|resolve} with
// {"note": "..."}. A note is an acknowledgement with a note (the incident
// record has no other annotation): on an open incident it also acknowledges.
func (s *Server) patrolAction(w http.ResponseWriter, r *http.Request) {
	switch r.PathValue("action") {
	case "ack":
		s.changeIncident(w, r, "ack", IncidentStore.Ack)
	case "note":
		s.changeIncident(w, r, "note", IncidentStore.Ack)
	case "resolve":
		s.changeIncident(w, r, "resolve", IncidentStore.Resolve)
	default:
		auth.WriteError(w, http.StatusNotFound, "no such action: want ack, note or resolve")
	}
}

// photoIncident is incidentID for the photo endpoints, which also need the store.
func (s *Server) photoIncident(w http.ResponseWriter, r *http.Request) (string, bool) {
	if s.Patrol.Photos == nil {
		missing(w, "photo store")
		return "", false
	}
	return s.incidentID(w, r)
}

// patrolPhoto stores a photo (the raw JPEG or PNG as the body) and records
// it on the incident as a note naming the file.
func (s *Server) patrolPhoto(w http.ResponseWriter, r *http.Request) {
	id, ok := s.photoIncident(w, r)
	if !ok {
		return
	}
	max := s.Patrol.MaxPhoto
	if max <= 0 {
		max = 8 << 20
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		s.patrol.uploads.WithLabelValues("refused").Inc()
		auth.WriteError(w, http.StatusRequestEntityTooLarge, "photo larger than "+strconv.FormatInt(max>>20, 10)+" MiB or unreadable")
		return
	}
	ext, err := ValidatePhoto(data)
	if err != nil {
		s.patrol.uploads.WithLabelValues("refused").Inc()
		auth.WriteError(w, http.StatusUnsupportedMediaType, err.Error())
		return
	}
	if _, err := s.Incidents.Get(id); err != nil {
		s.fail(w, r, err)
		return
	}
	p := principal(r)
	name, err := s.Patrol.Photos.Add(id, p.Name, ext, data)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.patrol.uploads.WithLabelValues("stored").Inc()
	inc, err := s.Incidents.Ack(id, p.Name, "photo: "+name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	_ = s.Auth.Audit(p, "photo", id, map[string]string{"photo": name})
	auth.WriteJSON(w, http.StatusCreated, map[string]any{"photo": name,
		"url": "/api/patrol/incidents/" + id + "/photos/" + name, "incident": inc})
}

// ErrPhoto is a photo refused by ValidatePhoto.
var ErrPhoto = errors.New("photo: want a JPEG or PNG image")

// maxPixels refuses decompression bombs before decoding them.
const maxPixels = 50_000_000

// ValidatePhoto checks data is a whole JPEG or PNG image and returns "jpg"
// or "png".
func ValidatePhoto(data []byte) (string, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || (format != "jpeg" && format != "png") {
		return "", ErrPhoto
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxPixels {
		return "", errors.New("photo: image too large in pixels")
	}
	// A whole decode: a truncated upload from a dropping connection must not
	// be kept as evidence.
	if _, _, err := image.Decode(bytes.NewReader(data)); err != nil {
		return "", errors.New("photo: image is damaged or truncated")
	}
	if format == "jpeg" {
		return "jpg", nil
	}
	return "png", nil
}

func (s *Server) patrolPhotoFile(w http.ResponseWriter, r *http.Request) {
	id, ok := s.photoIncident(w, r)
	if !ok {
		return
	}
	b, err := s.Patrol.Photos.Open(id, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", http.DetectContentType(b))
	w.Header().Set("Cache-Control", "private, max-age=3600")
	_, _ = w.Write(b)
}

// idempotency replays the answer to a request sent again with the same
// Idempotency-Key by the same principal: the patrol page retries actions
// whose answer a dropping Wi-Fi lost, and the action must happen once.
type idempotency struct {
	mu    sync.Mutex
	max   int
	order []string
	seen  map[string]*idemEntry
}

type idemEntry struct {
	done   bool
	status int
	ctype  string
	body   []byte
}

func newIdempotency(max int) *idempotency {
	return &idempotency{max: max, seen: map[string]*idemEntry{}}
}

func (s *Server) idempotent(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		k := r.Header.Get("Idempotency-Key")
		if k == "" {
			next(w, r)
			return
		}
		if len(k) > 100 {
			auth.WriteError(w, http.StatusBadRequest, "Idempotency-Key: at most 100 characters")
			return
		}
		key := principal(r).Name + "\x00" + r.URL.Path + "\x00" + k
		c := s.patrol.idem
		c.mu.Lock()
		if e, ok := c.seen[key]; ok {
			c.mu.Unlock()
			if !e.done {
				auth.WriteError(w, http.StatusConflict, "the same request is being handled; retry")
				return
			}
			w.Header().Set("Content-Type", e.ctype)
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(e.status)
			_, _ = w.Write(e.body)
			return
		}
		e := &idemEntry{}
		c.seen[key] = e
		c.order = append(c.order, key)
		if len(c.order) > c.max {
			delete(c.seen, c.order[0])
			c.order = c.order[1:]
		}
		c.mu.Unlock()
		rec := &captureWriter{ResponseWriter: w, status: http.StatusOK}
		next(rec, r)
		c.mu.Lock()
		defer c.mu.Unlock()
		// Server errors are not remembered: the retry should try again.
		if rec.status >= 500 {
			delete(c.seen, key)
			return
		}
		e.done, e.status, e.ctype, e.body = true, rec.status, w.Header().Get("Content-Type"), rec.buf.Bytes()
		if rec.over {
			// Too big to keep 2000 of: a repeat learns only that it was done.
			e.ctype, e.body = "application/json", []byte(`{"replayed":true}`)
		}
	}
}

// maxReplay bounds a remembered answer (an incident's JSON is a few KiB).
const maxReplay = 64 << 10

type captureWriter struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
	over   bool
}

func (c *captureWriter) WriteHeader(code int) {
	c.status = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *captureWriter) Write(b []byte) (int, error) {
	if c.buf.Len()+len(b) <= maxReplay {
		c.buf.Write(b)
	} else {
		c.over = true
	}
	return c.ResponseWriter.Write(b)
}
