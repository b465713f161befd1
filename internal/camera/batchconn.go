package camera

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// batchConn reads a playing camera's RTSP-over-TCP connection in batches:
// once a read has emptied the socket, the next one waits for the next tick
// of a wall-clock grid of period every, and then takes everything that has
// gathered in the socket buffer in one go.
//
// Why: on small (virtual) machines a thread woken from idle costs tens of
// microseconds of CPU before it does anything, a Go process several of them
// (scheduler, sysmon, netpoller), and a decoder started on cold caches runs
// slower than one decoding frames back to back. Reading per packet pays that
// several times per frame; reading per tick pays it once per batch, and the
// ticks are aligned across cameras, so a site's cameras wake together. The
// price is up to every of added latency; frame times come from the stream's
// own timestamps (wallClock), not from when the batch was read.
type batchConn struct {
	net.Conn
	every  time.Duration
	active atomic.Bool // set once PLAY is answered; RTSP requests are never delayed
	buf    []byte
	r, w   int
	wait   bool // the last read was small: the socket is likely empty
	grow   bool // the last read filled buf: double it before the next
	timer  *time.Timer
	done   chan struct{}
	once   sync.Once
}

// batchBuffer holds a few hundred ms of a 1080p stream at camera bit rates.
// The buffer starts at batchBufferMin and doubles up to it only while reads
// fill it: a sub-stream's tick is a few KB, and 32 cameras' main and sub
// connections at the full size held 16 MB of heap (twice that in RSS).
const (
	batchBuffer    = 256 << 10
	batchBufferMin = 16 << 10
)

// waitBelow is the largest read after which the next one waits for a tick:
// a quarter of the socket's receive buffer (the kernel's figure, about
// twice the data it holds), at most the batch buffer. A larger read may
// mean the camera was held back by a full socket buffer (TCP flow
// control); waiting then would cap the stream at one socket buffer per
// tick, so the next read goes at once. Cameras of a few Mbit/s send less
// than that per 100 ms and are read once per tick.
func (c *batchConn) waitBelow() int {
	limit := len(c.buf)
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return limit
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return limit
	}
	rcv := 0
	raw.Control(func(fd uintptr) { //nolint:errcheck // on failure rcv stays 0: the cap below
		rcv, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	})
	if rcv <= 0 {
		return limit
	}
	return min(limit, rcv/4)
}

func newBatchConn(c net.Conn, every time.Duration) *batchConn {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &batchConn{Conn: c, every: every, buf: make([]byte, batchBufferMin), timer: t, done: make(chan struct{})}
}

// nextTick is the first multiple of every after now.
func nextTick(now time.Time, every time.Duration) time.Time {
	return now.Truncate(every).Add(every)
}

func (c *batchConn) Read(p []byte) (int, error) {
	if c.r < c.w {
		n := copy(p, c.buf[c.r:c.w])
		c.r += n
		return n, nil
	}
	if !c.active.Load() {
		return c.Conn.Read(p)
	}
	if c.wait {
		now := time.Now()
		c.timer.Reset(nextTick(now, c.every).Sub(now))
		select {
		case <-c.timer.C:
		case <-c.done:
			c.timer.Stop()
			return 0, net.ErrClosed
		}
	}
	if c.grow && len(c.buf) < batchBuffer {
		c.buf = make([]byte, min(2*len(c.buf), batchBuffer)) // drained: nothing to keep
	}
	n, err := c.Conn.Read(c.buf)
	c.r, c.w = 0, n
	c.grow = n == len(c.buf)
	c.wait = n < c.waitBelow()
	if n == 0 {
		return 0, err
	}
	k := copy(p, c.buf[:n])
	c.r = k
	return k, nil
}

// Close also ends a read waiting for its tick, so that closing a camera is
// not delayed by the batch period.
func (c *batchConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return c.Conn.Close()
}

// wallClock turns a stream's presentation times into wall-clock times of
// arrival. With batched reads a batch's frames are all processed at once,
// so the processing time says little about when a frame was captured; the
// RTP timestamps say exactly how far apart the frames are. The estimate is
// anchored to the earliest processing time the timestamps allow (a frame
// cannot have arrived after it was processed), so it converges on the
// arrival of the frames read right after they came in. A stream that falls
// behind by more than slack (camera clock slow, or we could not keep up) is
// re-anchored to now; times never go backwards. The frames of a session's
// first batch, read before there is anything to anchor on, get times about
// a millisecond apart.
type wallClock struct {
	base  time.Time     // wall time of pts0
	pts0  time.Duration //
	last  time.Time
	slack time.Duration
	set   bool
}

func (w *wallClock) at(pts time.Duration, now time.Time) time.Time {
	t := now
	if w.set {
		t = w.base.Add(pts - w.pts0)
		if t.After(now) || now.Sub(t) > w.slack {
			t = now
			w.base, w.pts0 = now, pts
		}
	} else {
		w.base, w.pts0, w.set = now, pts, true
	}
	if t.Before(w.last) {
		t = w.last
	}
	w.last = t
	return t
}
