package broker

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestQuietHandlerDemotesOnlyEmptyStoreNoise(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(quietHandler{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})})
	log.Error("failed to get data", "hook", "bolt-db", "error", errors.New("key not found"), "key", "SYS")
	if buf.Len() != 0 {
		t.Fatalf("empty-store noise logged at info level: %s", buf.String())
	}
	log.Error("failed to get data", "hook", "bolt-db", "error", errors.New("disk I/O error"))
	log.Error("something else", "error", errors.New("key not found"))
	out := buf.String()
	if !strings.Contains(out, "disk I/O error") || !strings.Contains(out, "something else") || strings.Count(out, "level=ERROR") != 2 {
		t.Fatalf("real errors must pass unchanged:\n%s", out)
	}
}
