package logx

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	var buf bytes.Buffer
	th := &Throttle{Log: slog.New(slog.NewTextHandler(&buf, nil)), Interval: 50 * time.Millisecond}
	for i := 0; i < 10; i++ {
		th.Logf(slog.LevelError, "a", "boom")
	}
	th.Logf(slog.LevelWarn, "b", "other key")
	time.Sleep(60 * time.Millisecond)
	th.Logf(slog.LevelError, "a", "boom")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[1], "level=WARN") || !strings.Contains(lines[2], "suppressed=9") {
		t.Errorf("lines:\n%s", buf.String())
	}
}
