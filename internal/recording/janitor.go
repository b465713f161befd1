package recording

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"
)

// Policy is one camera's recording rule.
type Policy struct {
	Events bool          // keep only segments that overlap an incident of the camera
	Retain time.Duration // delete segments that ended longer ago
}

// Defaults of a Janitor.
const (
	DefaultSweep      = time.Minute
	DefaultEventGrace = 30 * time.Second
	DefaultEventPad   = 10 * time.Second
	// MinFreeFraction: below this share of the file system free, the
	// oldest segments go whatever the cap says, so that recordings never
	// starve the incident, outbox and vehicle stores on the same disk.
	MinFreeFraction = 0.02
)

// Window is the span of one incident on a camera.
type Window struct {
	Camera   string
	From, To time.Time
	Open     bool // not resolved: its segments are never deleted
}

// Janitor keeps recordings within their retention and the disk cap,
// oldest first, and never deletes a segment of an open incident.
type Janitor struct {
	Root    string
	Cameras map[string]Policy
	MaxDisk int64 // all recordings together; 0: no cap
	// Windows lists the incidents' spans, once a sweep: segments of open
	// incidents are kept whatever their age or the cap, and events mode
	// keeps the segments of any incident. nil: none.
	Windows func() ([]Window, error)
	// EventGrace: events mode decides about a segment this long after it
	// ended, so that an incident raised a little late still keeps it.
	EventGrace time.Duration
	Interval   time.Duration
	Now        func() time.Time
	// FreeFraction reports the free share of the file system holding Root;
	// nil: statfs.
	FreeFraction func() (float64, error)
	Metrics      *Metrics
	Logger       *slog.Logger

	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start sweeps once and then every Interval until ctx ends or Close.
func (j *Janitor) Start(ctx context.Context) error {
	j.defaults()
	ctx, j.cancel = context.WithCancel(ctx)
	j.wg.Add(1)
	go func() {
		defer j.wg.Done()
		t := time.NewTicker(j.Interval)
		defer t.Stop()
		for {
			j.Sweep()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// Close stops the sweeps.
func (j *Janitor) Close() error {
	if j.cancel != nil {
		j.cancel()
	}
	j.wg.Wait()
	return nil
}

func (j *Janitor) defaults() {
	if j.log = j.Logger; j.log == nil {
		j.log = slog.Default()
	}
	if j.Interval <= 0 {
		j.Interval = DefaultSweep
	}
	if j.EventGrace <= 0 {
		j.EventGrace = DefaultEventGrace
	}
	if j.Now == nil {
		j.Now = time.Now
	}
	if j.FreeFraction == nil {
		j.FreeFraction = func() (float64, error) { return freeFraction(j.Root) }
	}
}

// Sweep applies every rule once and returns how many segments it deleted.
func (j *Janitor) Sweep() int {
	if j.log == nil {
		j.defaults()
	}
	now := j.Now()
	st := Store{Root: j.Root}
	var wins []Window
	if j.Windows != nil {
		var err error
		if wins, err = j.Windows(); err != nil {
			// Without them an open incident's segments cannot be told
			// apart: delete nothing this time.
			j.log.Warn("recording: cannot list incidents; sweep skipped", "err", err)
			return 0
		}
	}
	var all []Segment
	deleted := 0
	for cam, pol := range j.Cameras {
		segs, err := st.Segments(cam, time.Time{}, time.Time{})
		if err != nil {
			j.log.Warn("recording: cannot list segments", "camera", cam, "err", err)
			continue
		}
		for _, s := range segs {
			var reason string
			switch {
			case s.Live:
			case pol.Retain > 0 && s.End.Before(now.Add(-pol.Retain)) && !protected(wins, s):
				reason = "age"
			case pol.Events && s.End.Before(now.Add(-j.EventGrace)) && !relevant(wins, s):
				reason = "events"
			}
			if reason != "" && j.remove(s, reason) {
				deleted++
				continue
			}
			all = append(all, s)
		}
	}
	sort.Slice(all, func(a, b int) bool { return all[a].Start.Before(all[b].Start) })
	var total int64
	for _, s := range all {
		total += s.Bytes
	}
	lowDisk := func() bool {
		f, err := j.FreeFraction()
		return err == nil && f < MinFreeFraction
	}
	for i := 0; i < len(all) && ((j.MaxDisk > 0 && total > j.MaxDisk) || lowDisk()); i++ {
		s := all[i]
		if s.Live || protected(wins, s) {
			continue
		}
		if j.remove(s, "disk") {
			total -= s.Bytes
			deleted++
		}
	}
	j.Metrics.onDisk(total)
	return deleted
}

func overlaps(wins []Window, camera string, from, to time.Time, openOnly bool) bool {
	for _, w := range wins {
		if w.Camera == camera && (w.Open || !openOnly) && !from.After(w.To) && !to.Before(w.From) {
			return true
		}
	}
	return false
}

func protected(wins []Window, s Segment) bool { return overlaps(wins, s.Camera, s.Start, s.End, true) }

func relevant(wins []Window, s Segment) bool {
	return overlaps(wins, s.Camera, s.Start.Add(-DefaultEventPad), s.End.Add(DefaultEventPad), false)
}

func (j *Janitor) remove(s Segment, reason string) bool {
	err := os.Remove(filepath.Join(j.Root, s.Camera, s.ID+ext))
	if err != nil && !os.IsNotExist(err) {
		j.log.Warn("recording: cannot delete a segment", "camera", s.Camera, "segment", s.ID, "err", err)
		return false
	}
	j.Metrics.removed(reason)
	return true
}

func freeFraction(dir string) (float64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	if st.Blocks == 0 {
		return 1, nil
	}
	return float64(st.Bavail) / float64(st.Blocks), nil
}
