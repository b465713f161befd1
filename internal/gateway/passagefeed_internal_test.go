package gateway

import (
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A broker far behind costs passages on the feed, counted, and never a
// blocked gate handler.
func TestPassageFeedDropsWhenFull(t *testing.T) {
	f, err := newPassageFeed(nil, "t", slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Not started: nothing drains the queue.
	for range feedQueue + 3 {
		f.Publish([]byte("{}"))
	}
	if got := testutil.ToFloat64(f.dropped); got != 3 {
		t.Fatalf("dropped %v, want 3", got)
	}
}
