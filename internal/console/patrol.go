package console

import (
	"net/http"
	"strings"

	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/devices"
	"github.com/lanewatch/lanewatch/internal/evlink"
	"github.com/lanewatch/lanewatch/internal/webpush"
)

// Patrol holds the parts behind the patrol page /patrol/ and evidence links
// (issue 13); each may be nil, its endpoints then answer 503.
type Patrol struct {
	// Links signs and verifies evidence links served at /e/{token}.
	Links *evlink.Signer
	// PushKeys and PushStore are Web Push's VAPID keys and subscriptions.
	PushKeys  *webpush.Keys
	PushStore *webpush.Store
	// Devices are the per-device tokens an admin issues; with it set, its
	// tokens are accepted as bearer tokens everywhere.
	Devices *devices.Store
	// Photos keeps the photos officers upload.
	Photos PhotoStore
	// PublicURL is console.public_url, the base of device links and QR
	// codes; empty: the origin of the admin's request.
	PublicURL string
	// Language is the page's default language, site.language: "zh" (default) or "en".
	Language string
	// MaxPhoto caps an uploaded photo; default 8 MiB.
	MaxPhoto int64
}

// PhotoStore keeps photos taken on patrol as evidence of an incident.
type PhotoStore interface {
	// Add stores a validated JPEG or PNG (ext "jpg" or "png") and returns its name.
	Add(incident, by, ext string, data []byte) (string, error)
	// Open returns a stored photo; ErrNotFound when there is none.
	Open(incident, name string) ([]byte, error)
}

// patrolRoutes adds the patrol endpoints to mux.
func (s *Server) patrolRoutes(mux *http.ServeMux, viewer, operator, admin func(http.Handler) http.Handler) {
	reg := s.Registerer
	if reg == nil {
		reg = s.m.ownRegistry
	}
	s.patrol = newPatrolState(reg)
	if d := s.Patrol.Devices; d != nil {
		s.Auth.SetDeviceTokens(func(tok string) (auth.Principal, bool) {
			dev, ok := d.Verify(tok)
			if !ok {
				return auth.Principal{}, false
			}
			r, err := auth.ParseRole(dev.Role)
			return auth.Principal{Name: dev.Name, Role: r, Kind: "device"}, err == nil
		})
	}
	hf := func(f http.HandlerFunc) http.Handler { return f }
	mux.HandleFunc("GET "+evlink.Route+"{token}", s.evidenceLink)
	mux.Handle("GET /api/push/key", viewer(hf(s.pushKey)))
	mux.Handle("POST /api/push/subscriptions", viewer(hf(s.subscribePush)))
	mux.Handle("DELETE /api/push/subscriptions", viewer(hf(s.unsubscribePush)))

	mux.Handle("GET /api/patrol/config", viewer(hf(s.patrolConfig)))
	mux.Handle("GET /api/patrol/incidents", viewer(hf(s.patrolIncidents)))
	mux.Handle("POST /api/patrol/incidents/{id}/photo", operator(hf(s.idempotent(s.patrolPhoto))))
	mux.Handle("GET /api/patrol/incidents/{id}/photos/{name}", viewer(hf(s.patrolPhotoFile)))
	mux.Handle("POST /api/patrol/incidents/{id}/{action}", operator(hf(s.idempotent(s.patrolAction))))
	mux.Handle("GET /api/patrol/qr.png", viewer(hf(s.patrolQR)))

	mux.Handle("GET /api/devices", admin(hf(s.listDevices)))
	mux.Handle("POST /api/devices", admin(hf(s.issueDevice)))
	mux.Handle("DELETE /api/devices/{id}", admin(hf(s.revokeDevice)))

	mux.HandleFunc("GET /patrol", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/patrol/", http.StatusMovedPermanently)
	})
}

func (s *Server) language() string {
	if s.Patrol.Language == "en" {
		return "en"
	}
	return "zh"
}

// publicBase is where a phone reaches the console.
func (s *Server) publicBase(r *http.Request) string {
	if s.Patrol.PublicURL != "" {
		return strings.TrimRight(s.Patrol.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) patrolConfig(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	cfg := map[string]any{"language": s.language(), "user": p.Name, "role": p.Role.String(), "kind": p.Kind,
		"push": s.Patrol.PushKeys != nil && s.Patrol.PushStore != nil}
	auth.WriteJSON(w, http.StatusOK, cfg)
}
