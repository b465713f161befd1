package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// LanewatchBinary builds cmd/lanewatch once per test process, for the tests
// that need the real command (signals, kill -9, `lanewatch check`).
func LanewatchBinary(t testing.TB) string {
	t.Helper()
	// A soak may compare two builds: LANEWATCH_TEST_BINARY names one.
	if p := os.Getenv("LANEWATCH_TEST_BINARY"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lanewatch-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "lanewatch")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/lanewatch")
		cmd.Dir = RepoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// ExampleSecrets are test values for the ${VARIABLES} of the shipped
// configs/example-compound.yaml, of realistic lengths.
var ExampleSecrets = map[string]string{
	"PLATFORM_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	"MQTT_PASSWORD":   "test-mqtt-password",
	"CAMERA_PASSWORD": "test-camera-password",
	"INFLUX_TOKEN":    "test-influx-token",
	"WALL_TOKEN":      "test-wall-token-0123456789abcdef",
	"PATROL_TOKEN":    "test-patrol-token-0123456789abcd",
}
