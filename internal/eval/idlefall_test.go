package eval

import (
	"context"
	"testing"
)

// TestIdleFall is the idle-facade case of `make eval` as a package test
// (about 25 s, real time): a fall between two key frames on a camera in
// idle mode is found through RTSP and the camera package, and the same
// camera without the size-jump wake misses it.
func TestIdleFall(t *testing.T) {
	if testing.Short() {
		t.Skip("about 25 s of real-time streaming")
	}
	r, err := IdleFall{}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r.Print(testWriter{t})
	for _, f := range r.Failures() {
		t.Error(f)
	}
}
