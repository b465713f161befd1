package recording

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func testLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// seg makes a finished segment file of size bytes from start for d.
func seg(t *testing.T, root, cam string, start time.Time, d time.Duration, size int) Segment {
	t.Helper()
	dir := filepath.Join(root, cam)
	os.MkdirAll(dir, 0o750)
	name := finishedName(start, start.Add(d))
	if err := os.WriteFile(filepath.Join(dir, name), make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	return Segment{Camera: cam, ID: name[:len(name)-len(ext)], Start: start, End: start.Add(d)}
}

func TestJanitorSweep(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	h := time.Hour
	type window struct {
		cam      string
		from, to time.Time
	}
	tests := []struct {
		name      string
		policies  map[string]Policy
		maxDisk   int64
		free      float64
		open      []window // open incidents
		incidents []window // any incidents
		segs      []time.Time
		keep      []bool
	}{
		{
			name:     "age",
			policies: map[string]Policy{"a": {Retain: 24 * h}},
			segs:     []time.Time{now.Add(-48 * h), now.Add(-25 * h), now.Add(-23 * h), now.Add(-h)},
			keep:     []bool{false, false, true, true},
		},
		{
			name:     "old segment of an open incident stays",
			policies: map[string]Policy{"a": {Retain: 24 * h}},
			open:     []window{{"a", now.Add(-48*h + 30*time.Second), now.Add(-48*h + 40*time.Second)}},
			segs:     []time.Time{now.Add(-48 * h), now.Add(-47 * h)},
			keep:     []bool{true, false},
		},
		{
			name:      "events keeps what overlaps an incident, after the grace",
			policies:  map[string]Policy{"a": {Events: true, Retain: 24 * h}},
			incidents: []window{{"a", now.Add(-2*h + 90*time.Second), now.Add(-2*h + 100*time.Second)}},
			segs:      []time.Time{now.Add(-2 * h), now.Add(-2*h + time.Minute), now.Add(-2*h + 2*time.Minute), now.Add(-time.Minute)},
			keep:      []bool{false, true, false, true},
		},
		{
			name:     "disk cap: oldest first, open incident spared",
			policies: map[string]Policy{"a": {Retain: 100 * h}, "b": {Retain: 100 * h}},
			maxDisk:  2500,
			open:     []window{{"b", now.Add(-10*h + time.Second), now.Add(-10*h + 20*time.Second)}},
			segs:     []time.Time{now.Add(-12 * h), now.Add(-10 * h), now.Add(-8 * h), now.Add(-6 * h), now.Add(-4 * h)},
			keep:     []bool{false, true, false, false, true},
		},
		{
			name:     "file system nearly full overrides a roomy cap",
			policies: map[string]Policy{"a": {Retain: 100 * h}},
			maxDisk:  1 << 40,
			free:     0.01,
			segs:     []time.Time{now.Add(-3 * h), now.Add(-2 * h)},
			keep:     []bool{false, false},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			var made []Segment
			cams := []string{"a", "b"}
			for i, s := range tc.segs {
				cam := "a"
				if len(tc.policies) > 1 {
					cam = cams[i%2] // a, b, a, b, ...
				}
				made = append(made, seg(t, root, cam, s, time.Minute, 1000))
			}
			free := tc.free
			if free == 0 {
				free = 0.5
			}
			var wins []Window
			for _, w := range tc.open {
				wins = append(wins, Window{Camera: w.cam, From: w.from, To: w.to, Open: true})
			}
			for _, w := range tc.incidents {
				wins = append(wins, Window{Camera: w.cam, From: w.from, To: w.to})
			}
			j := &Janitor{Root: root, Cameras: tc.policies, MaxDisk: tc.maxDisk, Now: func() time.Time { return now },
				Windows: func() ([]Window, error) { return wins, nil }, Logger: testLogger(),
				FreeFraction: func() (float64, error) { return free, nil }}
			j.Sweep()
			for i, s := range made {
				_, err := os.Stat(filepath.Join(root, s.Camera, s.ID+ext))
				if kept := err == nil; kept != tc.keep[i] {
					t.Errorf("segment %d (%s from %v): kept %v, want %v", i, s.Camera, s.Start.Sub(now), kept, tc.keep[i])
				}
			}
		})
	}
}

func TestJanitorNeverDeletesLiveSegment(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "a")
	os.MkdirAll(dir, 0o750)
	old := time.Now().Add(-100 * time.Hour)
	live := filepath.Join(dir, liveName(old))
	os.WriteFile(live, make([]byte, 5000), 0o600)
	j := &Janitor{Root: root, Cameras: map[string]Policy{"a": {Retain: time.Hour}}, MaxDisk: 1, Logger: testLogger()}
	j.Sweep()
	if _, err := os.Stat(live); err != nil {
		t.Fatalf("live segment deleted: %v", err)
	}
}
