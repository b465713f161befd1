package detect

import (
	"image"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/testenv"
)

// Cameras sharing one network take turns: over a busy stretch each got its
// share, within one turn of the others (oldest request first).
func TestPoolTakesCamerasInTurn(t *testing.T) {
	p := &Pool{}
	d := &DNN{}
	p.nets, p.free = []*DNN{d}, []*DNN{d}
	const cams = 4
	var counts [cams]atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for c := 0; c < cams; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				n := p.acquire()
				if n == nil {
					return
				}
				counts[c].Add(1)
				time.Sleep(200 * time.Microsecond) // a forward pass
				p.release(n)
				runtime.Gosched()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	lo, hi := counts[0].Load(), counts[0].Load()
	for c := range counts {
		lo, hi = min(lo, counts[c].Load()), max(hi, counts[c].Load())
	}
	if lo < 20 || hi-lo > 2 {
		t.Fatalf("turns per camera %d..%d over 300 ms, want at least 20 each and within 2 of each other", lo, hi)
	}
}

// A pooled detector finds what the network finds on its own, from several
// cameras at once; after Close it says so instead of blocking.
func TestPoolDetectsLikeOneNetwork(t *testing.T) {
	models := filepath.Join(testenv.SharedDir(t), "models")
	cfg := DefaultModel(models, "yolo-fastest-1.1-body")
	ref, err := NewDNN(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	frames := campusFrames(t, 20, 120, 250)
	want := make([][]Detection, len(frames))
	for i, f := range frames {
		want[i], err = ref.Detect(f, image.Rectangle{}, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	p, err := NewPool(cfg, 2)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for c := 0; c < 6; c++ {
		det := p.Detector()
		if _, ok := det.(StillFinder); !ok {
			t.Fatal("a pooled DNN must sweep like a DNN")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got []Detection
			var err error
			for k := 0; k < 3; k++ {
				for i, f := range frames {
					got, err = det.Detect(f, image.Rectangle{}, got)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) != len(want[i]) {
						t.Errorf("frame %d: %d detections through the pool, %d alone", i, len(got), len(want[i]))
					}
				}
			}
		}()
	}
	wg.Wait()
	p.Close()
	if _, err := p.Detector().Detect(frames[0], image.Rectangle{}, nil); err != ErrPoolClosed {
		t.Fatalf("after Close: %v, want ErrPoolClosed", err)
	}
}
