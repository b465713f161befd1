// Package buildinfo reports what this binary is and which native libraries it
// linked, for `lanewatch version` and the logs at start.
package buildinfo

/*
#cgo pkg-config: libavcodec libavformat libavutil libswscale
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libswscale/swscale.h>
*/
import "C"

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"gocv.io/x/gocv"
)

// Set by the linker: -X github.com/lanewatch/lanewatch/internal/buildinfo.Version=...
var (
	Version = "dev"
	Commit  = ""
)

// Info is what `lanewatch version` prints.
type Info struct {
	Version  string
	Commit   string
	Go       string
	OpenCV   string
	GoCV     string
	FFmpeg   string
	AVCodec  string
	AVFormat string
	AVUtil   string
	SWScale  string
}

func libVersion(v C.uint) string {
	return fmt.Sprintf("%d.%d.%d", v>>16, (v>>8)&0xff, v&0xff)
}

// Get collects the versions; the library ones come from the libraries loaded
// at run time, not from the headers at build time.
func Get() Info {
	in := Info{
		Version:  Version,
		Commit:   Commit,
		Go:       runtime.Version(),
		OpenCV:   gocv.OpenCVVersion(),
		GoCV:     gocv.Version(),
		FFmpeg:   C.GoString(C.av_version_info()),
		AVCodec:  libVersion(C.avcodec_version()),
		AVFormat: libVersion(C.avformat_version()),
		AVUtil:   libVersion(C.avutil_version()),
		SWScale:  libVersion(C.swscale_version()),
	}
	if in.Commit == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					in.Commit = s.Value
				}
			}
		}
	}
	return in
}

func (i Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lanewatch %s", i.Version)
	if i.Commit != "" {
		fmt.Fprintf(&b, " (commit %s)", i.Commit)
	}
	fmt.Fprintf(&b, "\ngo:       %s\nopencv:   %s (gocv %s)\nffmpeg:   %s (libavcodec %s, libavformat %s, libavutil %s, libswscale %s)\n",
		i.Go, i.OpenCV, i.GoCV, i.FFmpeg, i.AVCodec, i.AVFormat, i.AVUtil, i.SWScale)
	return b.String()
}
