package console

import (
	"net/http"

	"github.com/lanewatch/lanewatch/internal/auth"
)

// SiteInfo is what every page needs of the site: its name, the time zone
// in which times are shown and the language of its messages.
type SiteInfo struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Timezone string `json:"timezone"`           // IANA name
	Language string `json:"language,omitempty"` // zh or en; empty: the browser's
}

// site answers GET /api/site: the wall shows every time in the site's zone
// (not the browser's) in one format, and starts in the site's language.
func (s *Server) site(w http.ResponseWriter, _ *http.Request) {
	si := s.Site
	if si.Timezone == "" {
		si.Timezone = "UTC"
	}
	auth.WriteJSON(w, http.StatusOK, si)
}
