package gateway_test

import (
	"testing"
	"time"
)

// The detector pool as the gateway wires it: people walking over the lawn
// are found by the shared network and become an intrusion.
func TestDetectorPoolFindsPeople(t *testing.T) {
	if testing.Short() {
		t.Skip("real camera and model")
	}
	s := startSite(t, siteOpts{Camera: true, Detector: "yolo-fastest-1.1-body"})
	eventually(t, "an intrusion on the lawn", 60*time.Second, func() bool {
		var list []map[string]any
		getJSON(t, s, "/api/incidents?type=intrusion", viewerToken, &list)
		for _, inc := range list {
			if src, _ := inc["source"].(map[string]any); src["camera"] == "lawn" && src["zone"] == "lawn" {
				return true
			}
		}
		return false
	})
	if p := s.Gateway.Detector; p == nil || p.Size() != 1 || p.Runs() == 0 {
		t.Fatalf("the shared detector pool was not used: %v", p)
	}
}
