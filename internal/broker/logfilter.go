package broker

import (
	"context"
	"log/slog"
)

// quietHandler turns mochi's start-up complaints about an empty store into
// debug lines: its bolt hook logs "failed to get data ... key not found" at
// ERROR for the $SYS record of a store that is merely new, which would send an
// operator hunting for a fault that is not there. Every other record passes.
type quietHandler struct{ slog.Handler }

func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError && r.Message == "failed to get data" {
		notFound := false
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "error" && a.Value.String() == "key not found" {
				notFound = true
				return false
			}
			return true
		})
		if notFound {
			if !h.Handler.Enabled(ctx, slog.LevelDebug) {
				return nil
			}
			r = slog.NewRecord(r.Time, slog.LevelDebug, r.Message, r.PC)
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(as)}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{h.Handler.WithGroup(name)}
}
