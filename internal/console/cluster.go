package console

import (
	"context"
	"net/http"
	"strconv"

	"github.com/lanewatch/lanewatch/internal/auth"
)

// ClusterStatus answers GET /api/cluster (admin): the cluster as this
// gateway sees it (members, stream leaders and lag, assignments; issue 16).
// nil or ErrNotFound: this gateway is not clustered (404).
type ClusterStatus func(ctx context.Context) (any, error)

func (s *Server) clusterStatus(w http.ResponseWriter, r *http.Request) {
	if s.Cluster == nil {
		auth.WriteError(w, http.StatusNotFound, "not clustered")
		return
	}
	st, err := s.Cluster(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	auth.WriteJSON(w, http.StatusOK, st)
}

// audit answers GET /api/audit?limit=N (admin): the newest N entries
// (default 200, at most 10,000), oldest first.
func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	if s.Audit == nil {
		auth.WriteError(w, http.StatusNotFound, "no audit log")
		return
	}
	n := 200
	if v := r.URL.Query().Get("limit"); v != "" {
		l, err := strconv.Atoi(v)
		if err != nil || l < 1 || l > 10000 {
			auth.WriteError(w, http.StatusBadRequest, "limit: a number from 1 to 10000")
			return
		}
		n = l
	}
	es, err := s.Audit(r.Context(), n)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if es == nil {
		es = []auth.Entry{}
	}
	auth.WriteJSON(w, http.StatusOK, es)
}
