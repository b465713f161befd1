package config

import (
	"path/filepath"
	"testing"

	"github.com/lanewatch/lanewatch/internal/testenv"
)

// The shipped configuration files must always pass Check: `make run` uses
// the demo one, and the example is what integrators copy.
func TestShippedConfigsPass(t *testing.T) {
	for name, val := range testenv.ExampleSecrets {
		t.Setenv(name, val)
	}
	root := testenv.RepoRoot(t)
	for _, file := range []string{"lanewatch.yaml", "example-compound.yaml"} {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join(root, "configs", file)
			for _, p := range Check(path) {
				t.Errorf("%s", p)
			}
			cfg, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Location().String() != "Asia/Shanghai" {
				t.Errorf("location %v", cfg.Location())
			}
		})
	}
}

func TestDemoConfigShape(t *testing.T) {
	cfg, err := Load(filepath.Join(testenv.RepoRoot(t), "configs", "lanewatch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// make run depends on these: everything local, nothing external.
	if cfg.MQTT.Broker != "embedded" || cfg.MQTT.Listen != "127.0.0.1:1883" || cfg.Console.Listen != "127.0.0.1:8080" {
		t.Errorf("demo must use the embedded broker and loopback console: %+v %+v", cfg.MQTT, cfg.Console.Listen)
	}
	if cfg.Platform != nil || cfg.Influx != nil || cfg.Demo == nil || !cfg.Demo.GateTraffic {
		t.Errorf("demo must have no platform/influx and a demo section: %+v", cfg.Demo)
	}
	if len(cfg.Cameras) != 2 || len(cfg.Gates) != 1 || cfg.Gates[0].Cameras[0] != "campus-gate" {
		t.Errorf("cameras %d gates %+v", len(cfg.Cameras), cfg.Gates)
	}
}

func TestExampleCompoundShape(t *testing.T) {
	t.Setenv("PLATFORM_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	for _, name := range []string{"MQTT_PASSWORD", "CAMERA_PASSWORD", "INFLUX_TOKEN", "WALL_TOKEN", "PATROL_TOKEN"} {
		t.Setenv(name, "x-"+name+"-0123456789abcdef") // realistic secret lengths
	}
	cfg, err := Load(filepath.Join(testenv.RepoRoot(t), "configs", "example-compound.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Cameras) != 12 || len(cfg.Gates) != 3 {
		t.Errorf("%d cameras, %d gates; the example shows 12 and 3", len(cfg.Cameras), len(cfg.Gates))
	}
	rules := map[string]bool{}
	for _, c := range cfg.Cameras {
		for _, z := range c.Zones {
			rules[z.Rule] = true
		}
	}
	for _, r := range []string{"intrusion", "loitering", "crowd", "fire_lane_blocked", "falling_object"} {
		if !rules[r] {
			t.Errorf("no %s zone in the example", r)
		}
	}
	if cfg.MQTT.Password != "x-MQTT_PASSWORD-0123456789abcdef" || cfg.Platform.Secret == "" || cfg.Detector.Kind != "darknet" {
		t.Errorf("secrets or detector not loaded: %+v %+v", cfg.MQTT, cfg.Detector)
	}
	if cfg.Vehicles.Watchlist[0] != "青A00000" {
		t.Errorf("watchlist[0] = %q", cfg.Vehicles.Watchlist[0])
	}
}
