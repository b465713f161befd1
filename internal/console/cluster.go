package console

import (
	"context"
	"net/http"

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
