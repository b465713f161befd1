package logx

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Options selects the log level and format.
type Options struct {
	Level  string // debug, info, warn, error
	Format string // text, json
}

// New returns a logger whose every string value, message and error goes
// through RedactText, so that a credential a library puts into an error
// message (gortsplib quotes the URL it dialled) never reaches the log.
func New(w io.Writer, o Options) *slog.Logger {
	var lvl slog.Level
	switch strings.ToLower(o.Level) {
	case "debug":
		lvl = slog.LevelDebug
	case "warn", "warning":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	default:
		lvl = slog.LevelInfo
	}
	ho := &slog.HandlerOptions{Level: lvl, ReplaceAttr: redactAttr}
	var h slog.Handler
	if strings.ToLower(o.Format) == "json" {
		h = slog.NewJSONHandler(w, ho)
	} else {
		h = slog.NewTextHandler(w, ho)
	}
	return slog.New(h)
}

func redactAttr(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); strings.Contains(s, "@") {
			a.Value = slog.StringValue(RedactText(s))
		}
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			a.Value = slog.StringValue(RedactText(err.Error()))
			break
		}
		// Structs and maps may hold a URL somewhere inside; when they do, the
		// value is logged as redacted text rather than in its own shape.
		if s := fmt.Sprintf("%+v", a.Value.Any()); strings.Contains(s, "@") {
			if r := RedactText(s); r != s {
				a.Value = slog.StringValue(r)
			}
		}
	}
	return a
}
