package component

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// recorder notes every Start and Close in one shared order.
type recorder struct {
	mu  sync.Mutex
	log []string
}

func (r *recorder) add(s string) { r.mu.Lock(); r.log = append(r.log, s); r.mu.Unlock() }

type fake struct {
	name     string
	r        *recorder
	startErr error
	closeErr error
	block    chan struct{} // Close waits on it when set
}

func (f *fake) Start(context.Context) error {
	f.r.add("start " + f.name)
	return f.startErr
}

func (f *fake) Close() error {
	f.r.add("close " + f.name)
	if f.block != nil {
		<-f.block
	}
	return f.closeErr
}

var errBoom = errors.New("boom")

func TestList(t *testing.T) {
	tests := []struct {
		name      string
		failStart string // the component whose Start fails
		failClose string // the component whose Close fails
		want      []string
		wantStart string // name in the StartError, "" for none
		wantClose []string
	}{
		{name: "start in order, close in reverse",
			want: []string{"start a", "start b", "start c", "close c", "close b", "close a"}},
		{name: "failure in the middle closes the started ones", failStart: "b",
			want: []string{"start a", "start b", "close a"}, wantStart: "b"},
		{name: "failure first closes nothing", failStart: "a",
			want: []string{"start a"}, wantStart: "a"},
		{name: "a failing Close does not stop the others", failClose: "b",
			want:      []string{"start a", "start b", "start c", "close c", "close b", "close a"},
			wantClose: []string{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{}
			var items []Item
			for _, n := range []string{"a", "b", "c"} {
				f := &fake{name: n, r: r}
				if n == tt.failStart {
					f.startErr = errBoom
				}
				if n == tt.failClose {
					f.closeErr = errBoom
				}
				items = append(items, Named(n, f))
			}
			l := &List{}
			err := l.Start(context.Background(), items...)
			var se *StartError
			switch {
			case tt.wantStart == "" && err != nil:
				t.Fatalf("Start: %v", err)
			case tt.wantStart != "" && (!errors.As(err, &se) || se.Name != tt.wantStart || !errors.Is(err, errBoom)):
				t.Fatalf("Start error %v, want a StartError naming %s wrapping the cause", err, tt.wantStart)
			}
			cerr := l.Close()
			if err := l.Close(); err != nil { // Close called once per component
				t.Fatalf("second Close: %v", err)
			}
			if !slices.Equal(r.log, tt.want) {
				t.Fatalf("order %v\nwant  %v", r.log, tt.want)
			}
			var got []string
			for _, e := range unjoin(cerr) {
				var ce *CloseError
				if !errors.As(e, &ce) {
					t.Fatalf("close error %v not a CloseError", e)
				}
				got = append(got, ce.Name)
			}
			if !slices.Equal(got, tt.wantClose) {
				t.Fatalf("close errors name %v, want %v", got, tt.wantClose)
			}
		})
	}
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// Start in several calls adds to one list: a later failure closes the
// components of earlier calls too, and a closed list starts nothing more.
func TestListIncremental(t *testing.T) {
	r := &recorder{}
	l := &List{}
	if err := l.Start(context.Background(), Named("a", &fake{name: "a", r: r})); err != nil {
		t.Fatal(err)
	}
	if got := l.Names(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("names %v", got)
	}
	err := l.Start(context.Background(), Named("b", &fake{name: "b", r: r, startErr: errBoom}))
	if err == nil {
		t.Fatal("no error")
	}
	if want := []string{"start a", "start b", "close a"}; !slices.Equal(r.log, want) {
		t.Fatalf("order %v, want %v", r.log, want)
	}
	if err := l.Start(context.Background(), Named("c", &fake{name: "c", r: r})); err == nil {
		t.Fatal("a closed list started c")
	}
}

// A Close that hangs is reported by name once the Timeout is up; the
// components before it in the list are reported as out of time, and Close
// returns instead of hanging the process.
func TestListTimeout(t *testing.T) {
	r := &recorder{}
	block := make(chan struct{})
	defer close(block)
	l := &List{Timeout: 100 * time.Millisecond}
	if err := l.Start(context.Background(), Named("a", &fake{name: "a", r: r}), Named("hangs", &fake{name: "hangs", r: r, block: block})); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := l.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Name != "hangs" || !errors.Is(err, ErrTimeout) {
		t.Fatalf("err %v, want a timeout naming hangs", err)
	}
	if len(unjoin(err)) != 2 {
		t.Fatalf("errors %v: a is not reported as out of time", err)
	}
}

// Goroutine and Run: Stop cancels the loop and waits for it; the loop's own
// error comes back, the cancellation does not.
func TestRunStopsAndWaits(t *testing.T) {
	var finished bool
	c := Run(func(ctx context.Context) error {
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond)
		finished = true
		return ctx.Err()
	})
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil || !finished {
		t.Fatalf("Close: %v, loop finished %v", err, finished)
	}
	var g Goroutine
	g.Go(context.Background(), func(context.Context) error { return errBoom })
	if err := g.Stop(); !errors.Is(err, errBoom) {
		t.Fatalf("Stop: %v", err)
	}
	var never Goroutine
	if err := never.Stop(); err != nil {
		t.Fatal(err)
	}
}
