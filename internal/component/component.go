// Package component is lanewatch's one component lifecycle (the mediamtx and
// gortsplib shape): a component is a struct whose exported fields are its
// configuration and dependencies; Start(ctx) brings it up and returns once it
// runs (or why it cannot); Close stops it, waits for every goroutine it
// started and releases what it holds. A List starts components in order and
// closes the started ones in reverse, so that a component stops before the
// ones it depends on. The package imports nothing of lanewatch's own.
package component

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Component is anything with the lifecycle. Close is called at most once by
// a List, and only after a successful Start.
type Component interface {
	Start(ctx context.Context) error
	Close() error
}

// StartError says which component failed to start.
type StartError struct {
	Name string
	Err  error
}

func (e *StartError) Error() string { return e.Name + ": " + e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// CloseError says which component failed to stop, or did not stop in time
// (Err wraps ErrTimeout).
type CloseError struct {
	Name string
	Err  error
}

func (e *CloseError) Error() string { return "stopping " + e.Name + ": " + e.Err.Error() }
func (e *CloseError) Unwrap() error { return e.Err }

// ErrTimeout: a component's Close did not return before the List's deadline.
var ErrTimeout = errors.New("did not stop in time")

// Item is a component with its name, for logs and errors.
type Item struct {
	Name      string
	Component Component
}

// Named pairs a name with a component for List.Start.
func Named(name string, c Component) Item { return Item{Name: name, Component: c} }

// List starts components in order and closes them in reverse. The zero List
// is ready to use; it is safe for one goroutine starting and another closing.
type List struct {
	// Timeout bounds Close as a whole; 0: no bound. A component still in its
	// Close at the deadline is reported (CloseError wrapping ErrTimeout) and
	// left to finish on its own while the others are closed.
	Timeout time.Duration
	Logger  *slog.Logger // nil: slog.Default()

	mu      sync.Mutex
	started []Item
	closed  bool
}

// Start starts each component in order, after those started by earlier
// calls. When one fails, every component started so far (by this call and
// earlier ones) is closed in reverse and Start returns a *StartError naming
// the one that failed.
func (l *List) Start(ctx context.Context, items ...Item) error {
	for _, it := range items {
		l.mu.Lock()
		closed := l.closed
		l.mu.Unlock()
		if closed {
			return &StartError{Name: it.Name, Err: errors.New("component list closed")}
		}
		if err := it.Component.Start(ctx); err != nil {
			serr := &StartError{Name: it.Name, Err: err}
			if cerr := l.Close(); cerr != nil {
				l.log().Warn("closing what had started", "after", serr, "err", cerr)
			}
			return serr
		}
		l.mu.Lock()
		l.started = append(l.started, it)
		l.mu.Unlock()
	}
	return nil
}

// Names lists the started components, in start order.
func (l *List) Names() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, len(l.started))
	for i, it := range l.started {
		out[i] = it.Name
	}
	return out
}

// Close closes the started components in reverse order, each once, within
// Timeout. It returns the errors as *CloseError values joined. A second
// Close does nothing.
func (l *List) Close() error {
	l.mu.Lock()
	l.closed = true
	started := l.started
	l.started = nil
	l.mu.Unlock()
	var deadline <-chan time.Time
	if l.Timeout > 0 {
		t := time.NewTimer(l.Timeout)
		defer t.Stop()
		deadline = t.C
	}
	expired := false
	var errs []error
	for i := len(started) - 1; i >= 0; i-- {
		it := started[i]
		if expired {
			errs = append(errs, &CloseError{Name: it.Name, Err: fmt.Errorf("%w: no time left", ErrTimeout)})
			continue
		}
		done := make(chan error, 1)
		go func() { done <- it.Component.Close() }()
		select {
		case err := <-done:
			if err != nil {
				l.log().Warn("stopping component", "component", it.Name, "err", err)
				errs = append(errs, &CloseError{Name: it.Name, Err: err})
			}
		case <-deadline:
			expired = true
			errs = append(errs, &CloseError{Name: it.Name, Err: ErrTimeout})
		}
	}
	return errors.Join(errs...)
}

func (l *List) log() *slog.Logger {
	if l.Logger != nil {
		return l.Logger
	}
	return slog.Default()
}

// Func makes a component of two functions; either may be nil. It adapts
// what has no Start of its own (something opened by its constructor that only
// needs closing) to a List.
type Func struct {
	OnStart func(ctx context.Context) error
	OnClose func() error
}

func (f Func) Start(ctx context.Context) error {
	if f.OnStart == nil {
		return nil
	}
	return f.OnStart(ctx)
}

func (f Func) Close() error {
	if f.OnClose == nil {
		return nil
	}
	return f.OnClose()
}

// Goroutine is a goroutine owned by a component: Go runs fn until Stop,
// which cancels fn's context and waits for it to return. It is the tracked
// form of `go fn(ctx)`; a component embeds one per loop and calls Stop in
// its Close.
type Goroutine struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Go starts fn under a context that ends with ctx or Stop.
func (g *Goroutine) Go(ctx context.Context, fn func(ctx context.Context) error) {
	ctx, g.cancel = context.WithCancel(ctx)
	g.done = make(chan struct{})
	go func() {
		defer close(g.done)
		g.err = fn(ctx)
	}()
}

// Stop cancels the goroutine's context and waits for it. It returns fn's
// error unless that is only the cancellation. Stop without Go does nothing.
func (g *Goroutine) Stop() error {
	if g.done == nil {
		return nil
	}
	g.cancel()
	<-g.done
	if errors.Is(g.err, context.Canceled) {
		return nil
	}
	return g.err
}

// Run makes a component of a loop that runs until its context ends (the
// Run(ctx) shape): Start runs it on a Goroutine, Close stops it.
func Run(fn func(ctx context.Context) error) Component { return &runner{fn: fn} }

type runner struct {
	fn func(ctx context.Context) error
	g  Goroutine
}

func (r *runner) Start(ctx context.Context) error { r.g.Go(ctx, r.fn); return nil }
func (r *runner) Close() error                    { return r.g.Stop() }

// Every calls fn every interval (not at once) until ctx ends; the body of a
// component's periodic Goroutine.
func Every(ctx context.Context, interval time.Duration, fn func()) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			fn()
		}
	}
}
