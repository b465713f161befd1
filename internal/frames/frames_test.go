package frames

import (
	"context"
	"errors"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

func frame(v uint8) gocv.Mat {
	m := gocv.NewMatWithSize(4, 4, gocv.MatTypeCV8UC3)
	m.SetTo(gocv.NewScalar(float64(v), 0, 0, 0))
	return m
}

// Latest-frame semantics: a slow reader gets the newest frame, and every
// frame it never saw is counted as dropped.
func TestLatestDropsUnreadFrames(t *testing.T) {
	l := NewLatest()
	defer l.Close()
	dst := gocv.NewMat()
	defer dst.Close()
	for i := 1; i <= 5; i++ {
		f := frame(uint8(i * 10))
		l.Put(f, Info{Seq: uint64(i)})
		f.Close()
	}
	info, err := l.Next(context.Background(), 0, &dst)
	if err != nil {
		t.Fatal(err)
	}
	if info.Seq != 5 || dst.GetVecbAt(0, 0)[0] != 50 {
		t.Fatalf("got seq %d value %d, want the newest (5, 50)", info.Seq, dst.GetVecbAt(0, 0)[0])
	}
	if d := l.Dropped(); d != 4 {
		t.Fatalf("dropped %d, want 4", d)
	}
	// Reading the same frame again is not a drop; the next Put after a read is not either.
	f := frame(60)
	l.Put(f, Info{Seq: 6})
	f.Close()
	if d := l.Dropped(); d != 4 {
		t.Fatalf("dropped %d after a read frame was replaced, want 4", d)
	}
}

func TestNextWaitsForNewerFrameAndHonoursContext(t *testing.T) {
	l := NewLatest()
	defer l.Close()
	dst := gocv.NewMat()
	defer dst.Close()
	f := frame(1)
	l.Put(f, Info{Seq: 1})
	f.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := l.Next(ctx, 1, &dst); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next with nothing newer: %v, want deadline exceeded", err)
	}
	got := make(chan Info, 1)
	go func() {
		info, _ := l.Next(context.Background(), 1, &dst)
		got <- info
	}()
	time.Sleep(20 * time.Millisecond)
	f = frame(2)
	l.Put(f, Info{Seq: 2})
	f.Close()
	select {
	case info := <-got:
		if info.Seq != 2 {
			t.Fatalf("seq %d", info.Seq)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Next did not wake on Put")
	}
}

func TestCloseWakesReaders(t *testing.T) {
	l := NewLatest()
	dst := gocv.NewMat()
	defer dst.Close()
	errc := make(chan error, 1)
	go func() { _, err := l.Next(context.Background(), 0, &dst); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	l.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("err %v, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not wake the reader")
	}
	if _, ok := l.Peek(&dst); ok {
		t.Fatal("Peek after Close")
	}
	f := frame(1)
	l.Put(f, Info{Seq: 1}) // after Close: ignored, no crash
	f.Close()
}

// The handoff copies into the reader's Mat without allocating per frame.
func BenchmarkPutNext720p(b *testing.B) {
	l := NewLatest()
	defer l.Close()
	src := gocv.NewMatWithSize(720, 1280, gocv.MatTypeCV8UC3)
	defer src.Close()
	dst := gocv.NewMat()
	defer dst.Close()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		l.Put(src, Info{Seq: uint64(i + 1)})
		if _, err := l.Next(context.Background(), uint64(i), &dst); err != nil {
			b.Fatal(err)
		}
	}
}
