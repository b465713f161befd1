// Package frames hands decoded frames from a camera's decoder to its analysis
// loop with latest-frame semantics: when analysis falls behind, older frames are
// overwritten and counted as dropped instead of queueing up.
package frames

import (
	"context"
	"errors"
	"sync"
	"time"

	"gocv.io/x/gocv"
)

// Info describes one decoded frame.
type Info struct {
	Seq      uint64        // 1, 2, 3... per camera, increasing across reconnects
	PTS      time.Duration // presentation time from the stream
	At       time.Time     // wall-clock time of decode
	Width    int
	Height   int
	KeyFrame bool
}

// Source is what an analysis loop reads frames from.
type Source interface {
	// Next blocks until a frame with Seq > after is available and copies it
	// into dst (reusing dst's memory when the size matches).
	Next(ctx context.Context, after uint64, dst *gocv.Mat) (Info, error)
}

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("frame source closed")

// Latest keeps the newest frame of one camera. The producer writes with Put;
// consumers copy out with Next. Its zero value is not usable: use NewLatest.
type Latest struct {
	mu      sync.Mutex
	cond    *sync.Cond
	mat     gocv.Mat
	info    Info
	read    uint64 // highest Seq handed to a consumer
	dropped uint64
	closed  bool
}

func NewLatest() *Latest {
	l := &Latest{mat: gocv.NewMat()}
	l.cond = sync.NewCond(&l.mu)
	return l
}

// Put stores a copy of m as the newest frame. If the previous frame was never
// read it is counted as dropped.
func (l *Latest) Put(m gocv.Mat, info Info) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	if l.info.Seq > l.read {
		l.dropped++
	}
	m.CopyTo(&l.mat)
	l.info = info
	l.mu.Unlock()
	l.cond.Broadcast()
}

// Dropped is the number of frames overwritten before anyone read them.
func (l *Latest) Dropped() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dropped
}

// Peek copies the newest frame into dst without waiting; ok is false when no
// frame has arrived yet. Used for snapshots.
func (l *Latest) Peek(dst *gocv.Mat) (Info, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.info.Seq == 0 || l.closed {
		return Info{}, false
	}
	l.mat.CopyTo(dst)
	return l.info, true
}

func (l *Latest) Next(ctx context.Context, after uint64, dst *gocv.Mat) (Info, error) {
	// sync.Cond has no context support: wake the waiters when ctx ends.
	stop := context.AfterFunc(ctx, func() {
		l.mu.Lock()
		l.mu.Unlock()
		l.cond.Broadcast()
	})
	defer stop()

	l.mu.Lock()
	defer l.mu.Unlock()
	for l.info.Seq <= after && !l.closed && ctx.Err() == nil {
		l.cond.Wait()
	}
	if l.closed {
		return Info{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	l.mat.CopyTo(dst)
	if l.info.Seq > l.read {
		l.read = l.info.Seq
	}
	return l.info, nil
}

// Close wakes all readers and frees the frame.
func (l *Latest) Close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		l.mat.Close()
	}
	l.mu.Unlock()
	l.cond.Broadcast()
}
