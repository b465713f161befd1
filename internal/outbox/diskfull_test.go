package outbox

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// On a full disk Enqueue says ErrNotStored, the Follower keeps the change and
// retries, StoreErr says why; when space is back every ticket is stored and
// delivered, none lost.
func TestFullDiskTicketsRetriedUntilStored(t *testing.T) {
	disk := testenv.NewSmallDisk(t, "2m")
	p := newPlatform(t)
	p.setAnswer(func(received, int) (int, map[string]string, string) { return 503, nil, "" }) // keep them queued
	o := start(t, testConfig(filepath.Join(disk.Dir, "outbox.db"), p.URL))
	disk.Fill(t)

	changes := make(chan incidents.Change, 1000)
	f := o.Follower(incidents.Chan(changes), nil)
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n = 300
	for i := range n {
		changes <- incidents.Change{Kind: incidents.Opened, Incident: inc(fmt.Sprintf("inc_%03d", i), 1)}
	}
	waitFor(t, "a refused ticket", 10*time.Second, func() bool { return errors.Is(o.StoreErr(), ErrNotStored) })
	if got := o.Stats().Pending; got >= n {
		t.Fatalf("all %d tickets stored on a full disk", got)
	}

	disk.Free(t)
	p.setAnswer(func(received, int) (int, map[string]string, string) { return 200, nil, "" })
	waitFor(t, "every ticket delivered", 30*time.Second, func() bool { return len(p.accepted()) >= n })
	if err := o.StoreErr(); err != nil {
		t.Fatalf("StoreErr after recovery: %v", err)
	}
	seen := map[string]bool{}
	for _, k := range p.accepted() {
		seen[k] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct tickets delivered, want %d", len(seen), n)
	}
	close(changes)
	f.Close()
}
