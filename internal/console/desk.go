package console

// The alarm desk (issue 14): what the wall's pop-ups, playback view, live
// vehicle log and site plan need beyond the contract's API.

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/config"
)

// PublishPassage sends a new vehicle passage to the wall's event stream as a
// "passage" event, so that the vehicle log grows without a reload. Call it
// after Start; before, it does nothing.
func (s *Server) PublishPassage(p Passage) {
	if s.events == nil {
		return
	}
	s.events.publish("passage", p)
}

// SitePlan is the compound's plan for the wall (config site.plan): an image
// on disk and markers as fractions of its width and height.
type SitePlan struct {
	ImagePath string
	Cameras   map[string][2]float64
	Gates     map[string][2]float64
}

// sitePlanView is GET /api/site/plan.
type sitePlanView struct {
	Image   string                `json:"image"` // /api/site/plan.png or .jpg
	Cameras map[string][2]float64 `json:"cameras"`
	Gates   map[string][2]float64 `json:"gates"`
}

// openPlan opens the plan image and says whether it is a png or a jpeg.
// The configuration checked the file at start; it may have changed since.
func (s *Server) openPlan() (*os.File, string, error) {
	if s.SitePlan == nil {
		return nil, "", ErrNotFound
	}
	f, err := os.Open(s.SitePlan.ImagePath)
	if err != nil {
		return nil, "", fmt.Errorf("site plan: %w", err)
	}
	head := make([]byte, 8)
	n, _ := io.ReadFull(f, head)
	kind := config.SitePlanType(head[:n])
	if _, err := f.Seek(0, io.SeekStart); err != nil || kind == "" {
		f.Close()
		return nil, "", fmt.Errorf("site plan %s: not a PNG or JPEG image (%v)", s.SitePlan.ImagePath, err)
	}
	return f, kind, nil
}

// plan opens the plan image or answers the error (404 when none is
// configured); ok false means the answer is written.
func (s *Server) plan(w http.ResponseWriter, r *http.Request) (f *os.File, kind string, ok bool) {
	f, kind, err := s.openPlan()
	if errors.Is(err, ErrNotFound) {
		auth.WriteError(w, http.StatusNotFound, "no site plan configured")
		return nil, "", false
	}
	if err != nil {
		s.fail(w, r, err)
		return nil, "", false
	}
	return f, kind, true
}

func (s *Server) sitePlan(w http.ResponseWriter, r *http.Request) {
	f, kind, ok := s.plan(w, r)
	if !ok {
		return
	}
	f.Close()
	v := sitePlanView{Image: "/api/site/plan." + planExt[kind], Cameras: s.SitePlan.Cameras, Gates: s.SitePlan.Gates}
	if v.Cameras == nil {
		v.Cameras = map[string][2]float64{}
	}
	if v.Gates == nil {
		v.Gates = map[string][2]float64{}
	}
	auth.WriteJSON(w, http.StatusOK, v)
}

var planExt = map[string]string{"png": "png", "jpeg": "jpg"}

// sitePlanImage serves /api/site/plan.png or plan.jpg, whichever the image is.
func (s *Server) sitePlanImage(w http.ResponseWriter, r *http.Request) {
	f, kind, ok := s.plan(w, r)
	if !ok {
		return
	}
	defer f.Close()
	if r.PathValue("file") != "plan."+planExt[kind] {
		auth.WriteError(w, http.StatusNotFound, "not found")
		return
	}
	st, err := f.Stat()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/"+kind)
	w.Header().Set("Cache-Control", "private, max-age=300")
	http.ServeContent(w, r, "", st.ModTime(), f)
}
