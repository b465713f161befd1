package camera

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts the reads that reach the socket.
type countingConn struct {
	net.Conn
	reads atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.reads.Add(1)
	return c.Conn.Read(p)
}

// tcpPair is a connected loopback TCP pair: a real socket buffer, unlike
// net.Pipe, so that data can gather while the reader waits.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-acc
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestBatchConnReadsOncePerTick(t *testing.T) {
	client, server := tcpPair(t)
	cc := &countingConn{Conn: client}
	bc := newBatchConn(cc, 100*time.Millisecond)
	bc.active.Store(true)
	// A camera: a 1 KB packet every 10 ms for 1 s.
	sent := make([]byte, 100*1024)
	for i := range sent {
		sent[i] = byte(i/1024 + i)
	}
	go func() {
		for p := range slices.Chunk(sent, 1024) {
			if _, err := server.Write(p); err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		server.Close()
	}()
	// gortsplib reads through a 4 KB bufio.Reader.
	got, err := io.ReadAll(bufio.NewReaderSize(bc, 4096))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, sent) {
		t.Fatalf("got %d bytes, sent %d, or different", len(got), len(sent))
	}
	// About 10 ticks in a second (+1 for the end of stream, +2 for a slow
	// start); read packet by packet it would be about 100.
	if n := cc.reads.Load(); n > 14 {
		t.Errorf("%d socket reads for 1 s of packets; want one per 100 ms tick", n)
	}
}

func TestBatchConnPassesThroughBeforePlay(t *testing.T) {
	client, server := tcpPair(t)
	bc := newBatchConn(client, time.Hour)
	buf := make([]byte, 16)
	for range 3 {
		server.Write([]byte("RTSP/1.0 200 OK\r")) //nolint:errcheck
		start := time.Now()
		if _, err := io.ReadFull(bc, buf); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("an RTSP response waited %v for a batch", d)
		}
	}
}

func TestBatchConnCloseEndsWait(t *testing.T) {
	client, server := tcpPair(t)
	bc := newBatchConn(client, time.Hour)
	bc.active.Store(true)
	server.Write([]byte("x")) //nolint:errcheck
	if _, err := bc.Read(make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	// The socket is empty now: the next read waits for the next tick.
	done := make(chan error, 1)
	go func() {
		_, err := bc.Read(make([]byte, 16))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	bc.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("read after Close returned no error")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not end a read waiting for its tick")
	}
}

func TestNextTickAligned(t *testing.T) {
	base := time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		now, want time.Duration
	}{
		{0, 100 * time.Millisecond},
		{1 * time.Millisecond, 100 * time.Millisecond},
		{99 * time.Millisecond, 100 * time.Millisecond},
		{100 * time.Millisecond, 200 * time.Millisecond},
		{250 * time.Millisecond, 300 * time.Millisecond},
	} {
		if got := nextTick(base.Add(tt.now), 100*time.Millisecond); !got.Equal(base.Add(tt.want)) {
			t.Errorf("nextTick(+%v) = +%v, want +%v", tt.now, got.Sub(base), tt.want)
		}
	}
}

func TestWallClock(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)
	const frame = 40 * time.Millisecond
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }

	t.Run("batches keep the stream's spacing", func(t *testing.T) {
		w := wallClock{slack: 1100 * time.Millisecond}
		var prev time.Time
		// Frames arrive every 40 ms; they are read in batches of five every
		// 200 ms, 1 ms after the last one arrived, and decoded 1 ms apart.
		for b := range 10 {
			for k := range 5 {
				i := b*5 + k
				now := t0.Add(ms(200*b + 160 + 1 + k))
				got := w.at(time.Duration(i)*frame, now)
				if got.After(now) {
					t.Fatalf("frame %d: %v is after its processing time", i, got.Sub(t0))
				}
				if b >= 2 && i > 0 {
					if d := got.Sub(prev); d != frame {
						t.Fatalf("frame %d: %v after the previous one, want %v", i, d, frame)
					}
					// Arrival was at 40*i; the estimate is late by no more
					// than the last frame of a batch waited to be decoded.
					if late := got.Sub(t0.Add(time.Duration(i) * frame)); late < 0 || late > ms(5) {
						t.Fatalf("frame %d: estimate %v off its arrival", i, late)
					}
				}
				prev = got
			}
		}
	})
	t.Run("a stream falling behind is re-anchored", func(t *testing.T) {
		w := wallClock{slack: time.Second}
		w.at(0, t0)
		// The camera's clock runs at half speed: after 3 s of our time its
		// timestamps say 1.5 s.
		got := w.at(1500*time.Millisecond, t0.Add(3*time.Second))
		if !got.Equal(t0.Add(3 * time.Second)) {
			t.Errorf("got +%v, want re-anchored to now (+3s)", got.Sub(t0))
		}
		if got := w.at(1540*time.Millisecond, t0.Add(3040*time.Millisecond)); !got.Equal(t0.Add(3040 * time.Millisecond)) {
			t.Errorf("after re-anchoring: +%v, want +3.04s", got.Sub(t0))
		}
	})
	t.Run("never backwards", func(t *testing.T) {
		w := wallClock{slack: time.Second}
		a := w.at(10*time.Second, t0.Add(time.Second))
		// Timestamps jump back (the camera restarted its clock).
		b := w.at(0, t0.Add(time.Second+ms(1)))
		c := w.at(40*time.Millisecond, t0.Add(time.Second+ms(2)))
		if b.Before(a) || c.Before(b) {
			t.Errorf("times went backwards: %v %v %v", a.Sub(t0), b.Sub(t0), c.Sub(t0))
		}
	})
}

// A stream faster than one socket buffer per tick is not held back: with
// TCP flow control the camera can only send what the socket buffer takes,
// so waiting a tick after every read would cap it at a buffer per tick.
func TestBatchConnKeepsUpWithAFastStream(t *testing.T) {
	client, server := tcpPair(t)
	// A small socket buffer, so that the sender is held back by TCP flow
	// control long before the batch buffer fills.
	if err := client.(*net.TCPConn).SetReadBuffer(32 << 10); err != nil {
		t.Fatal(err)
	}
	bc := newBatchConn(client, 100*time.Millisecond)
	bc.active.Store(true)
	const total = 16 << 20 // as fast as loopback and the small buffer allow
	go func() {
		chunk := bytes.Repeat([]byte{0x5a}, 1<<20)
		for range total / len(chunk) {
			if _, err := server.Write(chunk); err != nil {
				return
			}
		}
		server.Close()
	}()
	start := time.Now()
	var n int64
	var err error
	done := make(chan struct{})
	go func() {
		n, err = io.Copy(io.Discard, bufio.NewReaderSize(bc, 4096))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		bc.Close()
		<-done
		t.Fatalf("16 MB not read in 20 s (%d bytes): held back by the batch ticks", n)
	}
	if err != nil || n != total {
		t.Fatalf("read %d of %d bytes: %v", n, total, err)
	}
	// Capped at one socket buffer (~32-64 KB) per 100 ms tick this would
	// take close to a minute; read on after large reads, well under a second.
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("16 MB took %v: held back by the batch ticks", d)
	}
}

// TestBatchConnBufferFollowsTheStream: a trickle keeps the small buffer; a
// burst larger than it doubles it, up to batchBuffer, and every byte still
// arrives in order.
func TestBatchConnBufferFollowsTheStream(t *testing.T) {
	client, server := tcpPair(t)
	bc := newBatchConn(client, 10*time.Millisecond)
	bc.active.Store(true)
	read := func(n int) []byte {
		t.Helper()
		b := make([]byte, n)
		if _, err := io.ReadFull(bc, b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	for range 5 {
		server.Write(make([]byte, 1000)) //nolint:errcheck
		read(1000)
	}
	if len(bc.buf) != batchBufferMin {
		t.Fatalf("buffer %d after a trickle, want %d", len(bc.buf), batchBufferMin)
	}
	burst := make([]byte, 4*batchBuffer)
	for i := range burst {
		burst[i] = byte(i * 7)
	}
	go server.Write(burst) //nolint:errcheck
	if got := read(len(burst)); !bytes.Equal(got, burst) {
		t.Fatal("burst arrived changed")
	}
	if len(bc.buf) <= batchBufferMin || len(bc.buf) > batchBuffer {
		t.Fatalf("buffer %d after a burst, want above %d, at most %d", len(bc.buf), batchBufferMin, batchBuffer)
	}
}
