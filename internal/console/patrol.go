package console

import (
	"net/http"

	"github.com/lanewatch/lanewatch/internal/evlink"
)

// Patrol holds the parts behind the patrol page and evidence links (issue
// 13); each may be nil, its endpoints then answer 503.
type Patrol struct {
	// Links signs and verifies evidence links served at /e/{token}.
	Links *evlink.Signer
}

// patrolRoutes adds the patrol endpoints to mux.
func (s *Server) patrolRoutes(mux *http.ServeMux, viewer, operator, admin func(http.Handler) http.Handler) {
	reg := s.Registerer
	if reg == nil {
		reg = s.m.ownRegistry
	}
	s.pm = newPatrolMetrics(reg)
	mux.HandleFunc("GET "+evlink.Route+"{token}", s.evidenceLink)
}
