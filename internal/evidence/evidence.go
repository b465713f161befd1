// Package evidence keeps incident snapshots (JPEG) and clips (MP4) under
// data_dir/evidence/<id>/, with a retention period and a disk cap. When the
// cap is reached the oldest incidents' files go first, and files of incidents
// still open are kept as long as anything else can go.
package evidence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanewatch/lanewatch/internal/component"
	"github.com/lanewatch/lanewatch/internal/config"
)

var (
	ErrNotFound  = errors.New("evidence not found")
	ErrInvalidID = errors.New("invalid incident id")
)

const (
	SnapshotFile = "snapshot.jpg"
	ClipFile     = "clip.mp4"

	defaultRetention = config.DefaultEvidenceRetention
	defaultMaxBytes  = config.DefaultEvidenceMaxBytes
)

// ids become directory names and come from URLs: nothing that could climb
// out of the evidence directory.
var validID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Config configures Open.
type Config struct {
	Dir        string        // data_dir/evidence
	Retention  time.Duration // default 30 days
	MaxBytes   int64         // default 2 GiB
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
	// SweepEvery is how often Start's janitor applies retention and the cap
	// (default an hour).
	SweepEvery time.Duration
}

type entry struct {
	bytes int64
	mtime time.Time // newest file
}

// Store is the evidence directory.
type Store struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	mu     sync.Mutex
	index  map[string]*entry
	used   int64
	isOpen func(id string) bool

	mBytes   prometheus.Gauge
	mEvicted *prometheus.CounterVec

	janitor component.Goroutine
}

// Open scans Dir (creating it) so that the cap counts files from before a restart.
func Open(cfg Config) (*Store, error) {
	if cfg.Dir == "" {
		return nil, errors.New("evidence: Dir is required")
	}
	if cfg.Retention <= 0 {
		cfg.Retention = defaultRetention
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = defaultMaxBytes
	}
	s := &Store{cfg: cfg, log: cfg.Logger, now: cfg.Now, index: map[string]*entry{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "evidence")
	if s.now == nil {
		s.now = time.Now
	}
	reg := cfg.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s.mBytes = prometheus.NewGauge(prometheus.GaugeOpts{Name: "lanewatch_evidence_bytes", Help: "Bytes of stored snapshots and clips."})
	s.mEvicted = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanewatch_evidence_evicted_total",
		Help: "Incident evidence directories removed, by reason (retention, cap)."}, []string{"reason"})
	for _, c := range []prometheus.Collector{s.mBytes, s.mEvicted} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("evidence: register metrics: %w", err)
		}
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	dirs, err := os.ReadDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	for _, d := range dirs {
		if d.IsDir() && validID.MatchString(d.Name()) {
			s.rescan(d.Name())
		}
	}
	s.mBytes.Set(float64(s.used))
	return s, nil
}

// SetIsOpen tells the store which incidents are still open, so that the cap
// spares them while it can. The gateway passes the incident engine's view.
func (s *Store) SetIsOpen(f func(id string) bool) {
	s.mu.Lock()
	s.isOpen = f
	s.mu.Unlock()
}

// rescan recounts one incident's directory. Called with s.mu held or before use.
func (s *Store) rescan(id string) {
	if old := s.index[id]; old != nil {
		s.used -= old.bytes
		delete(s.index, id)
	}
	files, err := os.ReadDir(filepath.Join(s.cfg.Dir, id))
	if err != nil {
		return
	}
	e := &entry{}
	for _, f := range files {
		if info, err := f.Info(); err == nil && info.Mode().IsRegular() {
			e.bytes += info.Size()
			if info.ModTime().After(e.mtime) {
				e.mtime = info.ModTime()
			}
		}
	}
	s.index[id] = e
	s.used += e.bytes
}

func (s *Store) dir(id string) (string, error) {
	if !validID.MatchString(id) {
		return "", fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	return filepath.Join(s.cfg.Dir, id), nil
}

// PutSnapshot stores the incident's snapshot, replacing an earlier one.
func (s *Store) PutSnapshot(id string, jpeg []byte) error {
	return s.put(id, SnapshotFile, func(path string) error { return os.WriteFile(path, jpeg, 0o640) })
}

// PutClip reserves the clip's path and lets write fill it (the camera's
// pre-roll muxer); the file appears under its final name only when write
// succeeded, and its size counts against the cap.
func (s *Store) PutClip(id string, write func(path string) error) error {
	return s.put(id, ClipFile, write)
}

func (s *Store) put(id, name string, write func(path string) error) error {
	dir, err := s.dir(id)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	final := filepath.Join(dir, name)
	tmp := final + ".tmp"
	if err := write(tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("evidence: write %s of %s: %w", name, id, err)
	}
	// Readers never see a half-written file.
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("evidence: %w", err)
	}
	s.mu.Lock()
	s.rescan(id)
	s.enforceCap(id)
	s.mBytes.Set(float64(s.used))
	s.mu.Unlock()
	return nil
}

// Snapshot returns the stored JPEG of an incident.
func (s *Store) Snapshot(id string) ([]byte, error) {
	dir, err := s.dir(id)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, SnapshotFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: snapshot of %s", ErrNotFound, id)
	}
	return b, err
}

// ClipPath returns the path of the incident's clip, for http.ServeFile.
func (s *Store) ClipPath(id string) (string, error) {
	dir, err := s.dir(id)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, ClipFile)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%w: clip of %s", ErrNotFound, id)
	}
	return p, nil
}

// enforceCap evicts whole incidents, oldest first, until the store fits:
// first those not open, then, only if that is not enough, open ones. keep
// (the incident just written) goes last. Called with s.mu held.
func (s *Store) enforceCap(keep string) {
	if s.used <= s.cfg.MaxBytes {
		return
	}
	ids := s.byAge()
	for pass := 0; pass < 2 && s.used > s.cfg.MaxBytes; pass++ {
		for _, id := range ids {
			if s.used <= s.cfg.MaxBytes {
				return
			}
			if _, ok := s.index[id]; !ok || id == keep {
				continue
			}
			if open := s.isOpen != nil && s.isOpen(id); open == (pass == 0) {
				continue
			}
			s.remove(id, "cap")
		}
	}
	if s.used > s.cfg.MaxBytes {
		s.log.Warn("evidence over its cap with only the newest incident left", "id", keep, "bytes", s.used, "max_bytes", s.cfg.MaxBytes)
	}
}

func (s *Store) byAge() []string {
	ids := make([]string, 0, len(s.index))
	for id := range s.index {
		ids = append(ids, id)
	}
	// Incident ids sort by time, which breaks ties between equal mtimes.
	sort.Slice(ids, func(i, j int) bool {
		a, b := s.index[ids[i]].mtime, s.index[ids[j]].mtime
		return a.Before(b) || a.Equal(b) && ids[i] < ids[j]
	})
	return ids
}

func (s *Store) remove(id, reason string) {
	if err := os.RemoveAll(filepath.Join(s.cfg.Dir, id)); err != nil {
		s.log.Error("removing evidence", "id", id, "err", err)
		return
	}
	s.used -= s.index[id].bytes
	delete(s.index, id)
	s.mEvicted.WithLabelValues(reason).Inc()
	s.log.Info("evidence removed", "id", id, "reason", reason)
}

// Sweep removes evidence past its retention (open incidents' excepted) and
// enforces the cap.
func (s *Store) Sweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	cutoff := s.now().Add(-s.cfg.Retention)
	for _, id := range s.byAge() {
		if !s.index[id].mtime.Before(cutoff) {
			break
		}
		if s.isOpen != nil && s.isOpen(id) {
			continue
		}
		s.remove(id, "retention")
	}
	s.enforceCap("")
	s.mBytes.Set(float64(s.used))
}

// Start sweeps now and every SweepEvery on a goroutine of its own, until
// Close.
func (s *Store) Start(ctx context.Context) error {
	interval := s.cfg.SweepEvery
	if interval <= 0 {
		interval = time.Hour
	}
	s.janitor.Go(ctx, func(ctx context.Context) error {
		s.Sweep()
		return component.Every(ctx, interval, s.Sweep)
	})
	return nil
}

// Close stops the janitor and waits for a sweep in progress; files need no
// flushing.
func (s *Store) Close() error { return s.janitor.Stop() }
