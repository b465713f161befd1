package consoletest

import (
	"context"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/recording"
	"github.com/lanewatch/lanewatch/internal/recording/recordingtest"
)

// Record writes the video file at path, played loops times from base on,
// through a real recording.Recorder into root, cut into segments of about
// seg, and returns the store's segments: what a camera recording since base
// would have left on disk.
func Record(t testing.TB, root, cameraID, path string, base time.Time, loops int, seg time.Duration) []recording.Segment {
	t.Helper()
	rec := &recording.Recorder{Camera: cameraID, Root: root, Segment: seg, Queue: 1 << 16}
	if err := rec.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	recordingtest.Load(t, path, base, loops).Play(rec)
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	segs, err := recording.Store{Root: root}.Segments(cameraID, time.Time{}, time.Time{})
	if err != nil || len(segs) == 0 {
		t.Fatalf("recorded segments: %v, %v", segs, err)
	}
	return segs
}
