package avfile_test

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/lanewatch/lanewatch/internal/avfile"
)

// Copy the first 5 s of a file into an MP4 clip without re-encoding.
func Example() {
	r, err := avfile.Open("media/campus-walk-10s.mp4")
	if errors.Is(err, avfile.ErrUnsupportedCodec) {
		fmt.Println("not H.264/H.265:", err)
		return
	} else if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	w, err := avfile.CreateMP4("/tmp/clip.mp4", r.Codec(), r.Params().List(), r.Width(), r.Height())
	if err != nil {
		fmt.Println(err)
		return
	}
	for {
		au, err := r.ReadAU()
		if err == io.EOF || err == nil && au.DTS >= 5*time.Second {
			break
		} else if err != nil {
			fmt.Println(err)
			return
		}
		if err := w.WriteAU(au); err != nil {
			fmt.Println(err)
			return
		}
	}
	if err := w.Close(); err != nil {
		fmt.Println(err)
	}
}
