package recording

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lanewatch/lanewatch/internal/avfile"
	"github.com/lanewatch/lanewatch/internal/camera"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// clip1080p makes (once per machine) a 1080p25 H.264 stream at 4 Mbit/s
// with a 2 s GOP from the shipped campus footage: what a compound's main
// stream looks like.
func clip1080p(b *testing.B) string {
	b.Helper()
	out := filepath.Join(os.TempDir(), "lanewatch-bench-1080p-4M.mp4")
	if _, err := os.Stat(out); err == nil {
		return out
	}
	src := filepath.Join(testenv.RepoRoot(b), "media", "campus-walk-10s.mp4")
	tmp := out + ".tmp.mp4"
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", src,
		"-vf", "scale=1920:1080,fps=25", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "4M",
		"-maxrate", "4M", "-bufsize", "8M", "-g", "50", "-bf", "0", "-an", tmp)
	if o, err := cmd.CombinedOutput(); err != nil {
		b.Skipf("ffmpeg cannot make the 1080p clip: %v %s", err, o)
	}
	if err := os.Rename(tmp, out); err != nil {
		b.Fatal(err)
	}
	return out
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// nopSink is the baseline: the same cameras delivering to nothing.
type nopSink struct{}

func (nopSink) WriteAU(camera.AU, *camera.Params) {}

// BenchmarkRecord16x1080p: 16 cameras of 1080p at 4 Mbit/s delivering in
// real time, with and without a recorder each, in the same run. Reported:
// the CPU the recorders cost beyond the delivery alone, in % of one core,
// and whether every delivered unit is in a segment.
func BenchmarkRecord16x1080p(b *testing.B) {
	const cams = 16
	dur := 20 * time.Second
	if s := os.Getenv("LANEWATCH_RECORD_BENCH"); s != "" {
		if d, err := time.ParseDuration(s); err == nil {
			dur = d
		}
	}
	path := clip1080p(b)
	r, err := avfile.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	ps := r.Params()
	params := camera.Params{Codec: r.Codec(), VPS: ps.VPS, SPS: ps.SPS, PPS: ps.PPS, Width: r.Width(), Height: r.Height()}
	var aus []avfile.AU
	var bytes int
	for {
		au, err := r.ReadAU()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		aus = append(aus, au)
		for _, n := range au.NALUs {
			bytes += len(n)
		}
	}
	loopDur := aus[len(aus)-1].DTS + r.FrameDuration()
	r.Close()
	b.Logf("clip: %dx%d, %d units, %.1f Mbit/s", params.Width, params.Height, len(aus),
		float64(bytes)*8/loopDur.Seconds()/1e6)

	// deliver plays the clip in a loop on n cameras in real time for dur.
	deliver := func(sinks []camera.Sink) (cpu time.Duration, units int) {
		start := time.Now().Add(50 * time.Millisecond)
		c0 := cpuTime()
		var wg sync.WaitGroup
		counts := make([]int, len(sinks))
		for i, s := range sinks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Cameras are not in phase.
				off := time.Duration(i) * loopDur / time.Duration(len(sinks))
				for k := 0; ; k++ {
					au := aus[k%len(aus)]
					loop := time.Duration(k/len(aus)) * loopDur
					at := start.Add(loop + au.DTS)
					if at.Sub(start) >= dur {
						return
					}
					time.Sleep(time.Until(at))
					var p *camera.Params
					if au.KeyFrame {
						cp := params
						p = &cp
					}
					s.WriteAU(camera.AU{NALUs: au.NALUs, PTS: loop + au.DTS + off, At: at, Key: au.KeyFrame}, p)
					counts[i]++
				}
			}()
		}
		wg.Wait()
		for _, n := range counts {
			units += n
		}
		return cpuTime() - c0, units
	}

	for i := 0; i < b.N; i++ {
		nops := make([]camera.Sink, cams)
		for k := range nops {
			nops[k] = nopSink{}
		}
		base, _ := deliver(nops)

		root := b.TempDir()
		m, _ := NewMetrics(nil)
		recs := make([]camera.Sink, cams)
		rs := make([]*Recorder, cams)
		for k := range rs {
			rs[k] = &Recorder{Camera: fmt.Sprintf("cam%02d", k), Root: root, Segment: 10 * time.Second, Metrics: m}
			if err := rs[k].Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			recs[k] = rs[k]
		}
		c0 := cpuTime()
		_, units := deliver(recs)
		for _, rec := range rs {
			rec.Close() // the final flush counts too
		}
		withRec := cpuTime() - c0
		extra := withRec - base
		pct := 100 * extra.Seconds() / dur.Seconds()

		// Every unit delivered from the first key frame on must be recorded.
		recorded := 0
		st := Store{Root: root}
		for k := range rs {
			segs, _ := st.Segments(rs[k].Camera, time.Time{}, time.Time{})
			for _, sg := range segs {
				rd, err := avfile.Open(filepath.Join(root, sg.Camera, sg.ID+ext))
				if err != nil {
					b.Fatalf("segment %s: %v", sg.ID, err)
				}
				for {
					if _, err := rd.ReadAU(); err != nil {
						break
					}
					recorded++
				}
				rd.Close()
			}
		}
		var dropped float64
		for k := range rs {
			dropped += testutil.ToFloat64(m.drops.WithLabelValues(rs[k].Camera))
		}
		b.ReportMetric(pct, "%core_beyond_delivery")
		b.ReportMetric(100*base.Seconds()/dur.Seconds(), "%core_delivery_only")
		b.ReportMetric(float64(units-recorded), "units_missing")
		b.ReportMetric(dropped, "units_dropped")
	}
}
