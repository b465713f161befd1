//go:build !matprofile

package camera_test

import (
	"io"
	"log/slog"

	"gocv.io/x/gocv"
)

var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

func newMat() gocv.Mat { return gocv.NewMat() }

// matCount is -1 without the matprofile build tag: the leak test then checks
// goroutines and memory only. Run with -tags matprofile to count Mats.
func matCount() int { return -1 }
