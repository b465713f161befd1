package console_test

import (
	"bufio"
	"context"
	"fmt"
	"image"
	"image/color"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/console/consoletest"
	"github.com/lanewatch/lanewatch/internal/incident"
	"gocv.io/x/gocv"
)

// Figures for docs/perf-console.md:
//
//	go test -run '^$' -bench 'Console' -benchtime 1x ./internal/console/

// frameSource stands in for the analytics' annotated frames: Annotated
// copies a prepared 1280x720 frame, as the real one copies its latest frame.
type frameSource struct {
	console.CameraSource // statuses and subscriptions
	frames               [2]gocv.Mat
	n                    atomic.Int64
}

func newFrameSource(ids []string) *frameSource {
	fs := &frameSource{CameraSource: consoletest.NewCameras(ids...)}
	for i := range fs.frames {
		m := gocv.NewMatWithSize(720, 1280, gocv.MatTypeCV8UC3)
		noise := gocv.NewMatWithSize(720, 1280, gocv.MatTypeCV8UC3)
		// A scene with edges, flat areas and sensor-like noise, so that JPEG
		// has work comparable to a camera picture.
		m.SetTo(gocv.NewScalar(70, 90, 60, 0))
		for k := 0; k < 24; k++ {
			x, y := (k*97+i*40)%1200, (k*53)%660
			gocv.Rectangle(&m, image.Rect(x, y, x+80+k*3, y+60), color.RGBA{uint8(k * 10), uint8(200 - k*5), 120, 0}, -1)
		}
		gocv.PutText(&m, fmt.Sprintf("cam frame %d", i), image.Pt(20, 40), gocv.FontHersheySimplex, 1.2, color.RGBA{255, 255, 255, 0}, 2)
		gocv.RandN(&noise, gocv.NewScalar(0, 0, 0, 0), gocv.NewScalar(6, 6, 6, 0))
		gocv.Add(m, noise, &m)
		noise.Close()
		fs.frames[i] = m
	}
	return fs
}

func (f *frameSource) Annotated(id string, dst *gocv.Mat) bool {
	i := f.n.Add(1)
	f.frames[i%2].CopyTo(dst)
	return true
}

func (f *frameSource) Close() {
	for _, m := range f.frames {
		m.Close()
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuOver returns process CPU during d as a percentage of a 2-core machine.
func cpuOver(d time.Duration) float64 {
	c0, t0 := cpuTime(), time.Now()
	time.Sleep(d)
	return 100 * float64(cpuTime()-c0) / float64(time.Since(t0)) / 2
}

func BenchmarkConsoleMJPEG16x3(b *testing.B) {
	const cameras, perCamera, window = 16, 3, 10 * time.Second
	var ids []string
	for i := 0; i < cameras; i++ {
		ids = append(ids, fmt.Sprintf("cam-%02d", i))
	}
	src := newFrameSource(ids)
	defer src.Close()
	e := newEnv(b, func(s *console.Server) {
		s.Cameras = src
		s.MJPEG = config.MJPEG{FPS: 5, Width: 640, Quality: 75}
	})
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	for i := 0; i < b.N; i++ {
		time.Sleep(time.Second) // let start-up settle
		idle := cpuOver(window)

		ctx, cancel := context.WithCancel(context.Background())
		var bytesIn, wg = atomic.Int64{}, sync.WaitGroup{}
		for _, id := range ids {
			for v := 0; v < perCamera; v++ {
				req, _ := http.NewRequestWithContext(ctx, "GET", e.base+"/api/cameras/"+id+"/mjpeg", nil)
				req.Header.Set("Authorization", "Bearer "+viewerToken)
				resp, err := tr.RoundTrip(req)
				if err != nil || resp.StatusCode != 200 {
					b.Fatalf("viewer: %v %v", err, resp)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer resp.Body.Close()
					// Viewers only count bytes: their cost in this process
					// is small next to the server's, and is included.
					n, _ := io.Copy(io.Discard, resp.Body)
					bytesIn.Add(n)
				}()
			}
		}
		time.Sleep(2 * time.Second)
		src.n.Store(0)
		loaded := cpuOver(window)
		pulled := src.n.Load()
		cancel()
		wg.Wait()
		b.ReportMetric(idle, "idle_cpu_%")
		b.ReportMetric(loaded, "48viewers_cpu_%")
		b.ReportMetric(loaded-idle, "overhead_%_of_2cores")
		b.ReportMetric(float64(pulled)/window.Seconds(), "frames_encoded/s")
		b.ReportMetric(float64(bytesIn.Load())/(window.Seconds()+2)/1e6, "MB/s_to_viewers")
	}
}

func BenchmarkConsoleSSE50(b *testing.B) {
	const clients, incidentsN = 50, 200
	e := newEnv(b)
	var mu sync.Mutex
	sent := map[string]time.Time{}
	var lat []time.Duration
	var got atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := sync.WaitGroup{}
	for c := 0; c < clients; c++ {
		req, _ := http.NewRequestWithContext(ctx, "GET", e.base+"/api/events", nil)
		req.Header.Set("Authorization", "Bearer "+viewerToken)
		resp, err := (&http.Transport{}).RoundTrip(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("client %d: %v", c, err)
		}
		ready.Add(1)
		go func() {
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			first := true
			for sc.Scan() {
				line := sc.Text()
				if first && strings.HasPrefix(line, ": connected") {
					first = false
					ready.Done()
				}
				if !strings.HasPrefix(line, "data: ") {
					continue
				}
				i := strings.Index(line, `"id":"`)
				id := line[i+6 : i+6+strings.Index(line[i+6:], `"`)]
				now := time.Now()
				mu.Lock()
				lat = append(lat, now.Sub(sent[id]))
				mu.Unlock()
				got.Add(1)
			}
		}()
	}
	ready.Wait()
	for n := 0; n < b.N; n++ {
		for i := 0; i < incidentsN; i++ {
			inc := sampleIncident(fmt.Sprintf("perf-%d-%d", n, i), incident.High)
			mu.Lock()
			sent[inc.ID] = time.Now()
			mu.Unlock()
			e.incs.Put(inc, nil, nil)
			time.Sleep(20 * time.Millisecond)
		}
	}
	want := int64(clients * incidentsN * b.N)
	deadline := time.Now().Add(5 * time.Second)
	for got.Load() < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if int64(len(lat)) != want {
		b.Fatalf("%d of %d deliveries", len(lat), want)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(q(0.5), "p50_ms")
	b.ReportMetric(q(0.99), "p99_ms")
	b.ReportMetric(float64(lat[len(lat)-1])/1e6, "max_ms")
	b.ReportMetric(float64(len(lat)), "deliveries")
}
