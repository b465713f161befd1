// Package recording writes cameras' encoded streams to MP4 segments without
// re-encoding (contract 11), keeps them within their retention and the disk
// cap, and lists and opens them for playback.
//
// Layout under the root: <camera>/<start>-<end>.mp4 for finished segments
// and <camera>/<start>.rec.mp4 for the one being written, times in Unix
// milliseconds. The directory is the index: nothing else needs to survive a
// crash, and a segment cut short by one is still playable (fragmented MP4).
package recording

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrNotFound: no such camera or segment.
var ErrNotFound = errors.New("recording: not found")

// Segment is one MP4 file of a camera's recording.
type Segment struct {
	ID     string    `json:"id"`
	Camera string    `json:"camera"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Bytes  int64     `json:"bytes"`
	// Live: still being written (End is its latest write).
	Live bool `json:"live,omitempty"`
}

const (
	liveSuffix = ".rec"
	ext        = ".mp4"
)

var segmentID = regexp.MustCompile(`^[0-9]{1,15}(-[0-9]{1,15}|\.rec)$`)

// ValidID reports whether id is a segment id (and so safe in a path).
func ValidID(id string) bool { return segmentID.MatchString(id) }

func finishedName(start, end time.Time) string {
	return strconv.FormatInt(start.UnixMilli(), 10) + "-" + strconv.FormatInt(end.UnixMilli(), 10) + ext
}

func liveName(start time.Time) string {
	return strconv.FormatInt(start.UnixMilli(), 10) + liveSuffix + ext
}

// parse reads a segment's times from its file name; ok is false for files
// that are not segments.
func parse(camera string, fi os.FileInfo) (Segment, bool) {
	id, found := strings.CutSuffix(fi.Name(), ext)
	if !found || !ValidID(id) || !fi.Mode().IsRegular() {
		return Segment{}, false
	}
	s := Segment{ID: id, Camera: camera, Bytes: fi.Size()}
	if startS, ok := strings.CutSuffix(id, liveSuffix); ok {
		ms, _ := strconv.ParseInt(startS, 10, 64)
		s.Start, s.End, s.Live = time.UnixMilli(ms), fi.ModTime(), true
		return s, true
	}
	startS, endS, _ := strings.Cut(id, "-")
	a, _ := strconv.ParseInt(startS, 10, 64)
	b, _ := strconv.ParseInt(endS, 10, 64)
	s.Start, s.End = time.UnixMilli(a), time.UnixMilli(b)
	return s, true
}

// Store reads the recordings under Root.
type Store struct {
	Root string
}

func (s Store) dir(camera string) string { return filepath.Join(s.Root, camera) }

// Segments lists a camera's segments overlapping [from, to], oldest first.
// A zero from or to is open.
func (s Store) Segments(camera string, from, to time.Time) ([]Segment, error) {
	ents, err := os.ReadDir(s.dir(camera))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("recording: list %s: %w", camera, err)
	}
	var out []Segment
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			continue // deleted meanwhile
		}
		seg, ok := parse(camera, fi)
		if !ok {
			continue
		}
		if (!from.IsZero() && seg.End.Before(from)) || (!to.IsZero() && seg.Start.After(to)) {
			continue
		}
		out = append(out, seg)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out, nil
}

// Open opens a segment for reading (the caller closes it).
func (s Store) Open(camera, id string) (*os.File, Segment, error) {
	if !ValidID(id) || camera == "" || strings.ContainsAny(camera, `/\`) || camera[0] == '.' {
		return nil, Segment{}, ErrNotFound
	}
	f, err := os.Open(filepath.Join(s.dir(camera), id+ext))
	if errors.Is(err, os.ErrNotExist) {
		return nil, Segment{}, ErrNotFound
	}
	if err != nil {
		return nil, Segment{}, fmt.Errorf("recording: open: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, Segment{}, fmt.Errorf("recording: open: %w", err)
	}
	seg, _ := parse(camera, fi)
	return f, seg, nil
}

// At finds the segment holding time t and the offset of t into it.
func (s Store) At(camera string, t time.Time) (Segment, time.Duration, error) {
	segs, err := s.Segments(camera, t, t)
	if err != nil {
		return Segment{}, 0, err
	}
	for i := len(segs) - 1; i >= 0; i-- {
		if !segs[i].Start.After(t) {
			return segs[i], t.Sub(segs[i].Start), nil
		}
	}
	return Segment{}, 0, ErrNotFound
}
