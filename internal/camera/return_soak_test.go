//go:build soak

package camera_test

import (
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/camera"
)

// The case at full length with the gateway's back-off (1 s doubling
// to 30 s) and read timeout: the camera is away 40 s and online within 5 s
// of its return (before the probe: 15.8 s, up to ~30 s). About 45 s; `make
// soak` runs it.
func TestSoakBackWithin5sAfter40sOutage(t *testing.T) {
	outage(t, func(c *camera.Camera) {
		c.ReadTimeout = camera.DefaultReadTimeout
		c.BackoffMin, c.BackoffMax = camera.DefaultBackoffMin, camera.DefaultBackoffMax
	}, 40*time.Second, func(camera.Status) {})
}
