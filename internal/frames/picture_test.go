package frames

import (
	"context"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/lanewatch/lanewatch/internal/camera/camtest"
	"github.com/lanewatch/lanewatch/internal/decode"
)

// decodePictures decodes a real clip and calls put with each picture.
func decodePictures(t testing.TB, spec camtest.ClipSpec, put func(pic *decode.Picture, n int) *decode.Picture) int {
	aus := camtest.Clip(t, spec)
	d, err := decode.New(decode.H264, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	pic := decode.NewPicture()
	n := 0
	for _, au := range aus {
		ok, err := d.DecodePicture(au.NALUs, 0, pic)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			n++
			pic = put(pic, n)
		}
	}
	pic.Close()
	return n
}

// Pictures go through Latest by reference and come out as BGR at the
// detection width; frames analysis never took are dropped unconverted and
// counted, and the picture a reader took stays intact while the producer
// decodes on (the reader holds its own reference to the buffer).
func TestPicturesConvertedOnTake(t *testing.T) {
	l := NewLatest()
	defer l.Close()
	dst := gocv.NewMat()
	defer dst.Close()
	ref := gocv.NewMat()
	defer ref.Close()
	sc := decode.NewScaler(0)
	defer sc.Close()

	var taken int
	n := decodePictures(t, camtest.ClipSpec{Width: 640, Height: 360, Seconds: 2, FPS: 10}, func(pic *decode.Picture, n int) *decode.Picture {
		if n%3 == 0 {
			// What the consumer should see: this picture converted directly.
			if _, _, err := sc.Scale(pic, &ref, 320); err != nil {
				t.Fatal(err)
			}
		}
		out := l.PutPicture(pic, 320, Info{Seq: uint64(n), Width: 320, Height: 180})
		if n%3 == 0 {
			info, err := l.Next(context.Background(), uint64(n-1), &dst)
			if err != nil {
				t.Fatal(err)
			}
			taken++
			if info.Seq != uint64(n) || dst.Cols() != 320 || dst.Rows() != 180 || dst.Type() != gocv.MatTypeCV8UC3 {
				t.Fatalf("frame %d: got seq %d %dx%d type %v", n, info.Seq, dst.Cols(), dst.Rows(), dst.Type())
			}
			diff := gocv.NewMat()
			gocv.AbsDiff(dst, ref, &diff)
			gray := gocv.NewMat()
			gocv.CvtColor(diff, &gray, gocv.ColorBGRToGray)
			nz := gocv.CountNonZero(gray)
			diff.Close()
			gray.Close()
			if nz != 0 {
				t.Fatalf("frame %d: %d pixels differ from a direct conversion", n, nz)
			}
		}
		return out
	})
	if n < 18 || taken < 6 {
		t.Fatalf("decoded %d, took %d", n, taken)
	}
	// Every frame not taken was dropped, except the last one put if it
	// was not taken either: it is still waiting.
	want := uint64(n - taken)
	if n%3 != 0 {
		want--
	}
	if l.Dropped() != want {
		t.Fatalf("dropped %d of %d put, %d taken", l.Dropped(), n, taken)
	}
}

// A reader converting outside the lock while the producer keeps putting
// (the race detector watches this), then Close with pictures in flight.
func TestPicturesConcurrentReaders(t *testing.T) {
	l := NewLatest()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var got [2]int
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := gocv.NewMat()
			defer dst.Close()
			var seq uint64
			for {
				info, err := l.Next(ctx, seq, &dst)
				if err != nil {
					return
				}
				if dst.Cols() != 320 {
					t.Errorf("reader %d: %d wide", i, dst.Cols())
					return
				}
				seq = info.Seq
				got[i]++
			}
		}()
	}
	decodePictures(t, camtest.ClipSpec{Width: 640, Height: 360, Seconds: 3, FPS: 10}, func(pic *decode.Picture, n int) *decode.Picture {
		time.Sleep(2 * time.Millisecond)
		return l.PutPicture(pic, 320, Info{Seq: uint64(n)})
	})
	l.Close()
	wg.Wait()
	if got[0] == 0 || got[1] == 0 {
		t.Fatalf("readers saw %v frames", got)
	}
}

// Peek converts the newest picture as well (snapshots of the detection frame).
func TestPeekPicture(t *testing.T) {
	l := NewLatest()
	defer l.Close()
	dst := gocv.NewMat()
	defer dst.Close()
	if _, ok := l.Peek(&dst); ok {
		t.Fatal("peek before any frame")
	}
	decodePictures(t, camtest.ClipSpec{Width: 640, Height: 360, Seconds: 1, FPS: 10}, func(pic *decode.Picture, n int) *decode.Picture {
		return l.PutPicture(pic, 0, Info{Seq: uint64(n)})
	})
	info, ok := l.Peek(&dst)
	if !ok || info.Seq == 0 || dst.Cols() != 640 || dst.Rows() != 360 {
		t.Fatalf("peek: ok %v seq %d %dx%d", ok, info.Seq, dst.Cols(), dst.Rows())
	}
}

// The handoff of a picture and its conversion at the detection size on
// take: no allocation per frame.
func BenchmarkPutPictureNext720p(b *testing.B) {
	l := NewLatest()
	defer l.Close()
	var pics []*decode.Picture
	decodePictures(b, camtest.ClipSpec{Width: 1280, Height: 720, Seconds: 1, FPS: 10}, func(pic *decode.Picture, n int) *decode.Picture {
		if len(pics) < 2 {
			pics = append(pics, pic)
			return decode.NewPicture()
		}
		return pic
	})
	defer func() {
		for _, p := range pics {
			p.Close()
		}
	}()
	dst := gocv.NewMat()
	defer dst.Close()
	src := decode.NewPicture()
	defer func() { src.Close() }()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := src.Ref(pics[i%2]); err != nil {
			b.Fatal(err)
		}
		src = l.PutPicture(src, 640, Info{Seq: uint64(i + 1)})
		if _, err := l.Next(context.Background(), uint64(i), &dst); err != nil {
			b.Fatal(err)
		}
	}
}
