package detect

import (
	"errors"
	"fmt"
	"image"
	"runtime"
	"sync"
	"sync/atomic"

	"gocv.io/x/gocv"

	"github.com/lanewatch/lanewatch/internal/config"
)

// ErrPoolClosed is returned by a pool's detectors after Close.
var ErrPoolClosed = errors.New("detect: detector pool closed")

// Pool shares a few loaded networks among all cameras: a network's weights
// and working buffers cost tens of MB, and a 2-core box cannot run more
// forward passes at once than it has cores anyway. Cameras take a network
// in the order they asked (oldest request first); since a camera's loop
// waits for its result before asking again, no camera can starve another.
type Pool struct {
	mu      sync.Mutex
	free    []*DNN
	waiters []chan *DNN
	nets    []*DNN
	closed  bool
	proto   *DNN // for Plan, which reads only the configuration
	runs    atomic.Uint64
}

// NewPool loads size networks from cfg (size <= 0: one per core).
func NewPool(cfg config.Detector, size int) (*Pool, error) {
	if size <= 0 {
		size = runtime.NumCPU()
	}
	p := &Pool{}
	for i := 0; i < size; i++ {
		d, err := NewDNN(cfg)
		if err != nil {
			for _, n := range p.nets {
				n.Close()
			}
			return nil, err
		}
		p.nets = append(p.nets, d)
		p.free = append(p.free, d)
	}
	p.proto = p.nets[0]
	return p, nil
}

// Runs counts the forward passes made for all cameras.
func (p *Pool) Runs() uint64 { return p.runs.Load() }

// Size is the number of networks.
func (p *Pool) Size() int { return len(p.nets) }

// String names the model and the pool size.
func (p *Pool) String() string { return fmt.Sprintf("%s x%d", p.proto, len(p.nets)) }

// Detector returns a Detector for one camera's loop; closing it does not
// close the pool.
func (p *Pool) Detector() Detector { return pooled{p} }

func (p *Pool) acquire() *DNN {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	if n := len(p.free); n > 0 {
		d := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return d
	}
	ch := make(chan *DNN, 1)
	p.waiters = append(p.waiters, ch)
	p.mu.Unlock()
	return <-ch // nil when the pool closed meanwhile
}

func (p *Pool) release(d *DNN) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.waiters) > 0 && !p.closed {
		ch := p.waiters[0]
		p.waiters = p.waiters[1:]
		ch <- d
		return
	}
	p.free = append(p.free, d)
	if p.closed && len(p.free) == len(p.nets) {
		p.closeNets()
	}
}

// Close frees the networks once the forward passes under way are done;
// detectors of the pool then return ErrPoolClosed.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	for _, ch := range p.waiters {
		ch <- nil
	}
	p.waiters = nil
	if len(p.free) == len(p.nets) {
		p.closeNets()
	}
}

func (p *Pool) closeNets() {
	for _, d := range p.nets {
		d.Close()
	}
	p.free = nil
}

type pooled struct{ p *Pool }

func (h pooled) Detect(frame gocv.Mat, roi image.Rectangle, out []Detection) ([]Detection, error) {
	d := h.p.acquire()
	if d == nil {
		return out[:0], ErrPoolClosed
	}
	defer h.p.release(d)
	h.p.runs.Add(1)
	return d.Detect(frame, roi, out)
}

func (h pooled) Plan(motion []image.Rectangle, size image.Point, dst []image.Rectangle) []image.Rectangle {
	return h.p.proto.Plan(motion, size, dst)
}

func (h pooled) FindsStill() bool { return true }

func (h pooled) Close() {}

func (h pooled) String() string { return h.p.String() }
