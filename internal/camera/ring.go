package camera

import (
	"context"
	"sync"
	"time"
)

// AU is one encoded access unit kept for clips and snapshots.
type AU struct {
	NALUs [][]byte // without start codes
	PTS   time.Duration
	At    time.Time // wall-clock time of arrival
	Key   bool
}

// Params are what a muxer needs besides the access units.
type Params struct {
	Codec         string // H264 or H265
	VPS, SPS, PPS []byte // latest parameter sets seen (SDP or in band)
	Width, Height int    // coded size of the latest decoded frame
}

// Sink takes the camera's access units in arrival order, from a key frame
// on, on a goroutine of its own behind a queue (stream.go): it must copy
// what it keeps (the slices are reused once it returns); a sink that is
// slower than the camera loses units up to the next key frame, counted. p
// is set on key frames (what a muxer needs to start there) and nil
// otherwise.
type Sink interface {
	WriteAU(au AU, p *Params)
}

type ringEntry struct {
	au   AU
	off  int // where its bytes are in the slab
	size int
	seq  uint64
}

// ring is the pre-roll buffer: the last maxDur of access units, always
// starting at a key frame so that a clip cut from it decodes, and bounded in
// bytes so that a camera with a huge bitrate cannot eat the gateway's memory.
//
// The units' bytes live in one slab of maxBytes mapped outside the Go heap
// (slab_unix.go), used as a circular queue: the garbage collector neither
// scans it nor lets the heap grow by its size before collecting; the pages
// of evicted units go back to the kernel (drop), so RSS counts what the
// ring holds. New units go back to the slab's start as soon as there is
// room there with a margin of two GOPs, so the pages in use stay together
// near the slab's start, whatever the cap. At 32 cameras this keeps a 16 s
// pre-roll of a 4 Mbit/s stream at its 8–9 MB instead of the 16 MB of
// recycled heap buffers it took, doubled by the collector's headroom
// (docs/perf-detection.md).
type ring struct {
	mu       sync.Mutex
	cond     *sync.Cond
	maxDur   time.Duration
	maxBytes int
	slab     []byte // mapped on the first push
	mapped   bool   // slab is a mapping (not a heap fallback): pages can be released
	entries  []ringEntry
	free     [][][]byte // NALU lists of dropped entries, reused
	bytes    int
	seq      uint64
	extent   int // the slab's bytes written at least once
	gop      int // bytes of the GOP being received
	maxGOP   int // the largest GOP seen: the wrap margin
	params   Params
	closed   bool
}

func newRing(maxDur time.Duration, maxBytes int) *ring {
	r := &ring{maxDur: maxDur, maxBytes: maxBytes}
	r.cond = sync.NewCond(&r.mu)
	return r
}

// push keeps a unit and returns its sequence number (0: not kept).
func (r *ring) push(nalus [][]byte, pts time.Duration, at time.Time, key bool) uint64 {
	size := 0
	for _, n := range nalus {
		size += len(n)
	}
	r.mu.Lock()
	if r.closed || (len(r.entries) == 0 && !key) {
		// A clip must start at a key frame: nothing to keep before one.
		r.mu.Unlock()
		return 0
	}
	if key {
		r.maxGOP = max(r.maxGOP, r.gop)
		r.gop = 0
	}
	r.gop += size
	if r.slab == nil {
		r.slab, r.mapped = allocSlab(r.maxBytes)
	}
	off, ok := r.place(size)
	for !ok && len(r.entries) > 0 {
		// No room: the oldest GOP goes (whole: a clip cannot start in its
		// middle); a GOP bigger than the cap is refilled from the next key
		// frame.
		r.drop(r.nextGOP())
		off, ok = r.place(size)
	}
	if !ok || (len(r.entries) == 0 && !key) {
		r.mu.Unlock()
		return 0
	}
	e := ringEntry{off: off, size: size}
	if n := len(r.free); n > 0 {
		e.au.NALUs = r.free[n-1][:0]
		r.free = r.free[:n-1]
	}
	for _, n := range nalus {
		c := copy(r.slab[off:], n)
		e.au.NALUs = append(e.au.NALUs, r.slab[off:off+c:off+c])
		off += c
	}
	r.extent = max(r.extent, off)
	r.seq++
	e.seq = r.seq
	e.au.PTS, e.au.At, e.au.Key = pts, at, key
	r.entries = append(r.entries, e)
	r.bytes += size
	r.evict(at)
	seq := r.seq
	r.mu.Unlock()
	r.cond.Broadcast()
	return seq
}

// place finds n contiguous bytes after the newest unit, circularly.
func (r *ring) place(n int) (int, bool) {
	if n > len(r.slab) {
		return 0, false
	}
	if len(r.entries) == 0 {
		return 0, true
	}
	first := r.entries[0].off
	last := r.entries[len(r.entries)-1]
	head := last.off + last.size
	if last.off < first { // wrapped: the free room is between head and first
		return head, head+n <= first
	}
	switch {
	case first >= n+2*r.maxGOP:
		// Back to the start while the room there holds two GOPs more than
		// this unit: the units evicted meanwhile keep it ahead of head.
		return 0, true
	case head+n <= len(r.slab):
		return head, true
	case first >= n:
		return 0, true
	}
	return 0, false
}

// usage is the bytes the ring holds and the slab's bytes in memory.
func (r *ring) usage() (held, resident int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.slab == nil {
		return r.bytes, 0
	}
	if !r.mapped {
		return r.bytes, len(r.slab)
	}
	return r.bytes, residentSlab(r.slab, r.extent)
}

// nextGOP is the index of the second GOP's key frame (len: there is one).
func (r *ring) nextGOP() int {
	k := 1
	for k < len(r.entries) && !r.entries[k].au.Key {
		k++
	}
	return k
}

func (r *ring) evict(now time.Time) {
	for len(r.entries) > 1 {
		k := r.nextGOP()
		switch {
		case k < len(r.entries) && !r.entries[k].au.At.After(now.Add(-r.maxDur)):
			// The next GOP alone still covers the pre-roll: drop the oldest one.
		case r.bytes > r.maxBytes:
			// Over the byte cap: drop the oldest GOP; a single GOP bigger
			// than the cap is dropped whole and refilled from the next key
			// frame, since a clip cannot start in its middle.
		default:
			return
		}
		r.drop(k)
	}
	if len(r.entries) == 1 && r.bytes > r.maxBytes {
		r.drop(1)
	}
}

// drop removes the first k entries; their bytes are free again (their
// whole pages given back to the kernel: a page costs a fault when written
// again, ~100 a second at 4 Mbit/s, and the ring's memory stays what it
// holds instead of its peak plus the wrap margin) and their NALU lists
// reused.
func (r *ring) drop(k int) {
	for i := 0; i < k; i++ {
		e := r.entries[i]
		r.bytes -= e.size
		if len(r.free) < 64 {
			r.free = append(r.free, e.au.NALUs[:0])
		}
		r.entries[i] = ringEntry{}
	}
	n := copy(r.entries, r.entries[k:])
	for i := n; i < len(r.entries); i++ {
		r.entries[i] = ringEntry{}
	}
	r.entries = r.entries[:n]
	if k > 0 && r.mapped {
		r.releaseFree()
	}
}

// releaseFree gives the whole pages of the slab's free room back to the
// kernel (those already given back cost the kernel a look only).
func (r *ring) releaseFree() {
	if len(r.entries) == 0 {
		releaseSlab(r.slab, 0, r.extent)
		return
	}
	first := r.entries[0].off
	last := r.entries[len(r.entries)-1]
	head := last.off + last.size
	if last.off < first { // wrapped: free between the newest and the oldest
		releaseSlab(r.slab, head, first)
		return
	}
	releaseSlab(r.slab, 0, first)
	releaseSlab(r.slab, head, r.extent)
}

// updateParams runs f under the ring's lock (f may call r.drop).
func (r *ring) currentParams() Params {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.params
}

func (r *ring) updateParams(f func(p *Params)) {
	r.mu.Lock()
	f(&r.params)
	r.mu.Unlock()
}

// sinceKey calls f for the units from the newest key frame on, except the
// one numbered except, under the lock; f must not keep the slices.
func (r *ring) sinceKey(except uint64, f func(AU)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := len(r.entries) - 1
	for k >= 0 && !r.entries[k].au.Key {
		k--
	}
	if k < 0 {
		return
	}
	for _, e := range r.entries[k:] {
		if e.seq != except {
			f(e.au)
		}
	}
}

// lastGOP deep-copies the units from the newest key frame on; seq is the
// newest unit's sequence number (0: empty).
func (r *ring) lastGOP() ([]AU, uint64, Params) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := len(r.entries) - 1
	for k >= 0 && !r.entries[k].au.Key {
		k--
	}
	if k < 0 {
		return nil, 0, r.params
	}
	return copyAUs(r.entries[k:]), r.entries[len(r.entries)-1].seq, r.params
}

func (r *ring) clip(from, to time.Time) ([]AU, Params) {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := -1
	for i, e := range r.entries {
		if e.au.Key && (start < 0 || !e.au.At.After(from)) {
			start = i
		}
		if e.au.At.After(from) && start >= 0 {
			break
		}
	}
	if start < 0 {
		return nil, r.params
	}
	end := start
	for end < len(r.entries) && !r.entries[end].au.At.After(to) {
		end++
	}
	return copyAUs(r.entries[start:end]), r.params
}

func copyAUs(es []ringEntry) []AU {
	total := 0
	for _, e := range es {
		total += e.size
	}
	buf := make([]byte, 0, total)
	out := make([]AU, len(es))
	for i, e := range es {
		out[i] = e.au
		out[i].NALUs = make([][]byte, len(e.au.NALUs))
		for j, n := range e.au.NALUs {
			start := len(buf)
			buf = append(buf, n...)
			out[i].NALUs[j] = buf[start:len(buf):len(buf)]
		}
	}
	return out
}

// waitUntil blocks until a unit that arrived at or after t is in the ring.
func (r *ring) waitUntil(ctx context.Context, t time.Time) error {
	stop := context.AfterFunc(ctx, func() {
		r.mu.Lock()
		r.mu.Unlock()
		r.cond.Broadcast()
	})
	defer stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if n := len(r.entries); n > 0 && !r.entries[n-1].au.At.Before(t) {
			return nil
		}
		if r.closed {
			return ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		r.cond.Wait()
	}
}

// close frees the slab: every reader copies under the lock and finds the
// ring empty from now on.
func (r *ring) close() {
	r.mu.Lock()
	r.closed = true
	r.drop(len(r.entries))
	r.free = nil
	if r.slab != nil {
		freeSlab(r.slab)
		r.slab = nil
	}
	r.mu.Unlock()
	r.cond.Broadcast()
}
