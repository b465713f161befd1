package console_test

import (
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/console/consoletest"
)

// Figure for docs/perf-console.md (issue 14: playback starts within 1 s of
// a click for a segment on local disk):
//
//	go test -run '^$' -bench PlaybackStart -benchtime 1x -count 3 ./internal/console/
//
// Chromium plays twelve recorded 10 s segments; each click on the timeline
// lands 5.3 s into a segment not loaded before, so every start is range
// requests to the console plus decoding from the previous key frame. The
// time runs in the page from the click handler (performance.now()) to the
// first frame painted after the seek (requestVideoFrameCallback).
func BenchmarkPlaybackStart(b *testing.B) {
	base := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	rec, segs := withRecording(b, base, 12)
	e := newEnv(b, withNorthGate, rec)
	br := consoletest.NewBrowser(b, e.base)
	br.Open()
	br.Login("olga", password)
	var starts []float64
	for range b.N {
		consoletest.Eval[any](br, `window.LWDesk.playback.starts = []; window.LWDesk.playback.span = 600000;
			window.LWDesk.playback.open("gate-north", `+strconv.FormatInt(base.UnixMilli(), 10)+`)`)
		br.WaitJS("timeline", `window.LWDesk.playback.segs.length === `+strconv.Itoa(len(segs)))
		from := time.UnixMilli(int64(consoletest.Eval[float64](br, `window.LWDesk.playback.from`)))
		to := time.UnixMilli(int64(consoletest.Eval[float64](br, `window.LWDesk.playback.to`)))
		for i, s := range segs {
			at := s.Start.Add(5300 * time.Millisecond)
			br.ClickAt("#pb-timeline", float64(at.Sub(from))/float64(to.Sub(from)), 0.5)
			br.WaitJS("start "+strconv.Itoa(i), `window.LWDesk.playback.starts.length === `+strconv.Itoa(i+1)+
				` && window.LWDesk.playback.seg.id === "`+s.ID+`"`)
		}
		starts = append(starts, consoletest.Eval[[]float64](br, `window.LWDesk.playback.starts`)...)
		consoletest.Eval[any](br, `document.getElementById("pb-close").click()`)
	}
	sort.Float64s(starts)
	b.Logf("click to first frame, ms: %.0f", starts)
	b.ReportMetric(starts[0], "ms-min")
	b.ReportMetric(starts[len(starts)/2], "ms-median")
	b.ReportMetric(starts[len(starts)-1], "ms-max")
}
