package console

import (
	"net/http"

	"github.com/lanewatch/lanewatch/internal/evlink"
	"github.com/lanewatch/lanewatch/internal/webpush"
)

// Patrol holds the parts behind the patrol page and evidence links (issue
// 13); each may be nil, its endpoints then answer 503.
type Patrol struct {
	// Links signs and verifies evidence links served at /e/{token}.
	Links *evlink.Signer
	// PushKeys and PushStore are Web Push's VAPID keys and subscriptions.
	PushKeys  *webpush.Keys
	PushStore *webpush.Store
}

// patrolRoutes adds the patrol endpoints to mux.
func (s *Server) patrolRoutes(mux *http.ServeMux, viewer, operator, admin func(http.Handler) http.Handler) {
	reg := s.Registerer
	if reg == nil {
		reg = s.m.ownRegistry
	}
	s.pm = newPatrolMetrics(reg)
	mux.HandleFunc("GET "+evlink.Route+"{token}", s.evidenceLink)
	hf := func(f http.HandlerFunc) http.Handler { return f }
	mux.Handle("GET /api/push/key", viewer(hf(s.pushKey)))
	mux.Handle("POST /api/push/subscriptions", viewer(hf(s.subscribePush)))
	mux.Handle("DELETE /api/push/subscriptions", viewer(hf(s.unsubscribePush)))
}
