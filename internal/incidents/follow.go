package incidents

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Source is where a Follower takes incident changes from: the Engine, or
// Chan in tests and replays.
type Source interface {
	// Subscribe returns every change from now on, in order, and a cancel
	// that ends the subscription (the channel closes).
	Subscribe() (<-chan Change, func())
}

// closingSource is a Source that says when it stops making changes (the
// Engine): a Follower then drains what is owed instead of dropping it.
type closingSource interface {
	Closing() <-chan struct{}
}

// Chan is a Source over a channel the caller feeds and closes.
func Chan(ch <-chan Change) Source { return chanSource(ch) }

type chanSource <-chan Change

func (c chanSource) Subscribe() (<-chan Change, func()) { return c, func() {} }

// DefaultDrain bounds how long a Follower's Close waits for the changes the
// engine queued before it closed.
const DefaultDrain = 5 * time.Second

// Follower hands every incident change to Handle, in order, on one
// goroutine: the one way the consumers of the engine (alerts, notify, the
// ticket outbox, InfluxDB, the console's SSE, the clip writer) take its
// changes. It is a component: Start subscribes, so no change made after Start
// returns is missed; Close ends it and waits for Handle to return.
//
// Close after the engine's Close (the gateway closes the engine first)
// handles every change the engine queued before closing, within Drain; a
// Close while the engine still runs unsubscribes at once.
type Follower struct {
	Name   string // for logs
	Source Source
	// Handle takes one change. ctx ends when the Follower closes.
	Handle func(ctx context.Context, c Change) error
	// Retry, when set, says an error of Handle is worth retrying (a disk that
	// refused the write): the same change is handed again with back-off from
	// 100 ms to 5 s, until it succeeds or the Follower closes. Other errors
	// are logged and the change is passed.
	Retry  func(error) bool
	Drain  time.Duration // 0: DefaultDrain
	Logger *slog.Logger

	cancel      context.CancelFunc
	unsubscribe func()
	done        chan struct{}
	closeOnce   sync.Once
}

// Start subscribes and starts handling changes.
func (f *Follower) Start(ctx context.Context) error {
	if f.Source == nil || f.Handle == nil {
		return errors.New("incidents: follower " + f.Name + ": Source and Handle are required")
	}
	if f.Logger == nil {
		f.Logger = slog.Default()
	}
	ctx, f.cancel = context.WithCancel(context.WithoutCancel(ctx))
	changes, unsubscribe := f.Source.Subscribe()
	f.unsubscribe = unsubscribe
	f.done = make(chan struct{})
	go func() {
		defer close(f.done)
		for {
			select {
			case c, ok := <-changes:
				if !ok {
					return
				}
				f.handle(ctx, c)
			case <-ctx.Done():
				return
			}
		}
	}()
	return nil
}

func (f *Follower) handle(ctx context.Context, c Change) {
	wait := 100 * time.Millisecond
	for {
		err := f.Handle(ctx, c)
		if err == nil {
			return
		}
		if f.Retry == nil || !f.Retry(err) {
			f.Logger.Error("incident change not taken", "follower", f.Name, "incident", c.Incident.ID, "version", c.Incident.Version, "err", err)
			return
		}
		if wait == 100*time.Millisecond || wait >= 5*time.Second {
			f.Logger.Error("incident change not stored; retrying", "follower", f.Name, "incident", c.Incident.ID, "version", c.Incident.Version, "retry_in", wait, "err", err)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			f.Logger.Error("incident change lost at shutdown: not stored", "follower", f.Name, "incident", c.Incident.ID, "version", c.Incident.Version, "err", err)
			return
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// Done is closed when the Follower has handled its last change.
func (f *Follower) Done() <-chan struct{} { return f.done }

// Close ends the Follower (see the type) and waits for Handle to return. It
// may be called more than once.
func (f *Follower) Close() error {
	if f.done == nil {
		return nil
	}
	f.closeOnce.Do(func() {
		drain := f.Drain
		if drain <= 0 {
			drain = DefaultDrain
		}
		if cs, ok := f.Source.(closingSource); ok {
			select {
			case <-cs.Closing():
			default:
				drain = 0 // the engine runs on: nothing is owed
			}
		}
		if drain > 0 {
			t := time.NewTimer(drain)
			select {
			case <-f.done:
			case <-t.C:
				f.Logger.Warn("incident changes left unhandled at shutdown", "follower", f.Name, "after", drain)
			}
			t.Stop()
		}
		f.cancel()
		f.unsubscribe()
		<-f.done
	})
	return nil
}
