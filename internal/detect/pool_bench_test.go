package detect

import (
	"image"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/lanewatch/lanewatch/internal/testenv"
)

func rssMB(b *testing.B) float64 {
	b.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc")
	}
	for _, ln := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(ln, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkPoolMemory: what 16 cameras' detectors cost in resident memory
// with one network each (the previous design, "own") and with a pool of 2
// ("pool2"). Each network runs once so that OpenCV has allocated its working
// buffers. Run each variant alone, in a fresh process and once
// (-bench 'PoolMemory/xl/pool2$' -benchtime 1x): freed memory is reused
// within a process, which would flatter whichever runs second.
func BenchmarkPoolMemory(b *testing.B) {
	models := filepath.Join(testenv.SharedDir(b), "models")
	const cams = 16
	frame := campusFrames(b, 120)[0]
	for _, m := range []struct{ short, name string }{{"xl", "yolo-fastest-1.1-xl"}, {"nano", "yolox-nano"}} {
		cfg := DefaultModel(models, m.name)
		b.Run(m.short+"/pool2", func(b *testing.B) {
			base := rssMB(b)
			p, err := NewPool(cfg, 2)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			for c := 0; c < cams; c++ {
				p.Detector().Detect(frame, image.Rectangle{}, nil)
			}
			b.ReportMetric((rssMB(b)-base)/cams, "MB/camera")
		})
		b.Run(m.short+"/own", func(b *testing.B) {
			base := rssMB(b)
			for c := 0; c < cams; c++ {
				d, err := NewDNN(cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer d.Close()
				d.Detect(frame, image.Rectangle{}, nil)
			}
			b.ReportMetric((rssMB(b)-base)/cams, "MB/camera")
		})
	}
}

// BenchmarkForwardBatch: four cameras' 320x320 regions as four forward
// passes, or as one batch of four (gocv's BlobFromImages), same run. The
// pool runs them one by one unless the batch is clearly faster.
func BenchmarkForwardBatch(b *testing.B) {
	models := filepath.Join(testenv.SharedDir(b), "models")
	d, err := NewDNN(DefaultModel(models, "yolo-fastest-1.1-xl"))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	frames := campusFrames(b, 20, 120, 200, 280)
	crops := make([]gocv.Mat, len(frames))
	for i, f := range frames {
		crops[i] = f.Region(image.Rect(100, 50, 420, 370))
		defer crops[i].Close()
	}
	sz := image.Pt(d.input, d.input)
	blob := gocv.NewMat()
	defer blob.Close()
	var single, batch time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		for _, c := range crops {
			gocv.BlobFromImages([]gocv.Mat{c}, &blob, 1.0/255, sz, gocv.NewScalar(0, 0, 0, 0), true, false, gocv.MatTypeCV32F)
			d.net.SetInput(blob, "")
			closeAll(d.net.ForwardLayers(d.outNames))
		}
		t1 := time.Now()
		gocv.BlobFromImages(crops, &blob, 1.0/255, sz, gocv.NewScalar(0, 0, 0, 0), true, false, gocv.MatTypeCV32F)
		d.net.SetInput(blob, "")
		closeAll(d.net.ForwardLayers(d.outNames))
		t2 := time.Now()
		single += t1.Sub(t0)
		batch += t2.Sub(t1)
	}
	b.ReportMetric(float64(single.Microseconds())/float64(b.N)/1000, "ms/4_singles")
	b.ReportMetric(float64(batch.Microseconds())/float64(b.N)/1000, "ms/batch_of_4")
}
