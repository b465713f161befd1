package console

import (
	"errors"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/recording"
)

// Recordings lists and opens cameras' recorded segments (contract 11);
// recording.Store implements it.
type Recordings interface {
	Segments(camera string, from, to time.Time) ([]recording.Segment, error)
	Open(camera, id string) (*os.File, recording.Segment, error)
}

// RecordingView is one segment as the API lists it.
type RecordingView struct {
	recording.Segment
	URL string `json:"url"`
}

// maxRecordingSpan bounds one listing: a week of one-minute segments is
// about 10,000 entries.
const maxRecordingSpan = 7 * 24 * time.Hour

// listRecordings answers GET /api/cameras/<id>/recordings?from=&to=
// (default: the last 24 h up to now).
func (s *Server) listRecordings(w http.ResponseWriter, r *http.Request) {
	if s.Recordings == nil {
		missing(w, "recordings")
		return
	}
	id, ok := s.cameraID(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if err := checkKnown(q, "from", "to"); err != nil {
		auth.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	to, from := time.Now(), time.Time{}
	var err error
	if v := q.Get("to"); v != "" {
		if to, err = parseTime("to", v); err != nil {
			auth.WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	from = to.Add(-24 * time.Hour)
	if v := q.Get("from"); v != "" {
		if from, err = parseTime("from", v); err != nil {
			auth.WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	if to.Before(from) || to.Sub(from) > maxRecordingSpan {
		auth.WriteError(w, http.StatusBadRequest, "from must be before to, at most 7 days apart")
		return
	}
	segs, err := s.Recordings.Segments(id, from, to)
	out := make([]RecordingView, 0, len(segs))
	for _, sg := range segs {
		out = append(out, RecordingView{Segment: sg, URL: "/api/cameras/" + id + "/recordings/" + sg.ID + ".mp4"})
	}
	writeList(s, w, r, out, err)
}

// recordingFile serves one segment with range requests, so that a player
// seeks without downloading the whole file.
func (s *Server) recordingFile(w http.ResponseWriter, r *http.Request) {
	if s.Recordings == nil {
		missing(w, "recordings")
		return
	}
	id, ok := s.cameraID(w, r)
	if !ok {
		return
	}
	seg, found := strings.CutSuffix(r.PathValue("segment"), ".mp4")
	if !found || !recording.ValidID(seg) {
		auth.WriteError(w, http.StatusNotFound, "not found")
		return
	}
	f, info, err := s.Recordings.Open(id, seg)
	if errors.Is(err, recording.ErrNotFound) {
		auth.WriteError(w, http.StatusNotFound, "not found")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "video/mp4")
	if info.Live {
		w.Header().Set("Cache-Control", "no-store") // still growing
	}
	http.ServeContent(s.videoWriter(w), r, seg+".mp4", info.End, f)
}

// videoWriter lets a video download outlast the write timeout as long as
// the player keeps reading: a browser reads a long segment at the pace it
// plays. A player that stops reading is dropped after stream_stall.
func (s *Server) videoWriter(w http.ResponseWriter) http.ResponseWriter {
	return &stallWriter{ResponseWriter: w, before: streamDeadlines(w, s.Limits.StreamStall)}
}

type stallWriter struct {
	http.ResponseWriter
	before func()
}

func (w *stallWriter) Write(p []byte) (int, error) {
	w.before()
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *stallWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
