package gateway

import "testing"

// TestNotReadyWhileStarting: the console answers before the gate-event
// subscription exists; /readyz must not say ready until every component is up.
func TestNotReadyWhileStarting(t *testing.T) {
	g := &Gateway{}
	if err := g.ready(); err == nil || err.Error() != "starting" {
		t.Fatalf("ready() before start = %v, want starting", err)
	}
	g.up.Store(true)
	if err := g.ready(); err == nil || err.Error() != "mqtt not connected" {
		t.Fatalf("ready() once up without a bus = %v, want mqtt not connected", err)
	}
}
