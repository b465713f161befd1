package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// FormingTimeout bounds how long a gateway waits at start for JetStream:
// the meta leader of a cluster that is just forming may not be elected yet.
const FormingTimeout = 60 * time.Second

// WhenReady runs op until it succeeds, each attempt within 10 s, a second
// apart, at most FormingTimeout in all or until ctx ends: the start of
// everything a gateway keeps in JetStream (buckets, streams).
func WhenReady(ctx context.Context, what string, log *slog.Logger, op func(context.Context) error) error {
	deadline := time.Now().Add(FormingTimeout)
	for {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := op(actx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if log != nil {
			log.Info("waiting for JetStream", "for", what, "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
