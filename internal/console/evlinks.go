package console

import (
	"errors"
	"net/http"

	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/evlink"
	"github.com/prometheus/client_golang/prometheus"
)

// evidenceLink serves GET /e/{token}: the one asset of the one incident the
// signed token names, without a login (contract section 10). 403 for a token
// that is not ours or was changed, 410 for an expired one.
func (s *Server) evidenceLink(w http.ResponseWriter, r *http.Request) {
	if s.Patrol.Links == nil {
		missing(w, "evidence links")
		return
	}
	if s.Incidents == nil {
		missing(w, "incidents")
		return
	}
	c, err := s.Patrol.Links.Verify(r.PathValue("token"))
	switch {
	case errors.Is(err, evlink.ErrExpired):
		s.patrol.links.WithLabelValues("expired").Inc()
		auth.WriteError(w, http.StatusGone, "link expired")
		return
	case err != nil:
		s.patrol.links.WithLabelValues("refused").Inc()
		auth.WriteError(w, http.StatusForbidden, "invalid link")
		return
	}
	s.patrol.links.WithLabelValues("ok").Inc()
	// The link may be forwarded in a group chat: nothing may cache it
	// beyond the phone that opened it.
	w.Header().Set("Referrer-Policy", "no-referrer")
	switch c.Asset {
	case evlink.Snapshot:
		b, err := s.Incidents.Snapshot(c.Incident)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJPEG(w, b, false)
	case evlink.Clip:
		f, mod, err := s.Incidents.Clip(c.Incident)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "video/mp4")
		http.ServeContent(w, r, c.Incident+".mp4", mod, f)
	}
}

// patrolState is what the patrol handlers share: counters and the idempotency cache.
type patrolState struct {
	idem    *idempotency
	links   *prometheus.CounterVec
	uploads *prometheus.CounterVec
}

func newPatrolState(reg prometheus.Registerer) *patrolState {
	m := &patrolState{
		idem: newIdempotency(2000),
		links: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanewatch_console_evidence_links_total",
			Help: "Evidence link requests by result (ok, expired, refused).",
		}, []string{"result"}),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanewatch_console_patrol_photos_total",
			Help: "Photos uploaded from the patrol page by result (stored, refused).",
		}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{m.links, m.uploads} {
		if err := reg.Register(c); err != nil {
			// Handler built twice on one registry: keep counting on the first.
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				continue
			}
		}
	}
	return m
}
