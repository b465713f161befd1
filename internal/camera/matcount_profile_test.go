//go:build matprofile

package camera_test

import (
	"io"
	"log/slog"

	"gocv.io/x/gocv"
)

var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

func newMat() gocv.Mat { return gocv.NewMat() }

// matCount is the number of live Mats (gocv's MatProfile).
func matCount() int { return gocv.MatProfile.Count() }
