package config

import (
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzLoad feeds arbitrary bytes as a configuration file. Loading must never
// panic, must always explain a failure, and every problem must carry a line
// when the bytes are YAML at all (an operator has to find the place to fix).
func FuzzLoad(f *testing.F) {
	f.Add([]byte("site: {id: s1}\n"))
	f.Add([]byte("site: {id: s1}\ncameras: [{id: c, url: rtsp://h/s, zones: [{id: z, rule: intrusion, polygon: [[0,0],[1,1],[1,0],[0,1]]}]}]\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("site: {id: ${X}}\nmqtt: {password: $${Y}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, ps := parse("fuzz.yaml", data)
		if cfg == nil && len(ps) == 0 {
			t.Fatal("no config and no problems")
		}
		var probe yaml.Node
		parsed := yaml.Unmarshal(data, &probe) == nil
		for _, p := range ps {
			if parsed && p.Line <= 0 {
				t.Fatalf("problem without a line: %s", p)
			}
			if p.File != "fuzz.yaml" || p.Msg == "" {
				t.Fatalf("malformed problem %#v", p)
			}
		}
		if len(ps) == 0 {
			if cfg.Site.ID == "" || cfg.Location() == nil {
				t.Fatalf("accepted config without site id or location: %+v", cfg)
			}
		}
	})
}
