// Package eval measures the detection loop against ground truth: a real
// clip with hand-labelled zones, and generated clips (drawn with gocv) whose
// ground truth is exact. Run it with `go run ./cmd/lanewatch-eval`.
package eval

import (
	"fmt"

	"gocv.io/x/gocv"
)

// ReadClip decodes a video file with OpenCV's FFmpeg backend and returns
// every every-th frame (every <= 1: all), at most max frames (0: all). The
// caller closes the Mats.
func ReadClip(path string, every, max int) ([]gocv.Mat, error) {
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
		return nil, fmt.Errorf("eval: open %s: %w", path, err)
	}
	defer vc.Close()
	if every < 1 {
		every = 1
	}
	var out []gocv.Mat
	m := gocv.NewMat()
	defer m.Close()
	for i := 0; max == 0 || len(out) < max; i++ {
		if !vc.Read(&m) || m.Empty() {
			break
		}
		if i%every == 0 {
			out = append(out, m.Clone())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("eval: %s: no frames decoded", path)
	}
	return out, nil
}

// CloseAll closes the Mats.
func CloseAll(ms []gocv.Mat) {
	for i := range ms {
		ms[i].Close()
	}
}
