package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCheckSitePlan(t *testing.T) {
	dir := t.TempDir()
	png := filepath.Join(dir, "plan.png")
	os.WriteFile(png, append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 100)...), 0o644)
	jpg := filepath.Join(dir, "plan.jpg")
	os.WriteFile(jpg, []byte{0xff, 0xd8, 0xff, 0xe0, 0, 0x10}, 0o644)
	gif := filepath.Join(dir, "plan.gif")
	os.WriteFile(gif, []byte("GIF89a......"), 0o644)
	big := filepath.Join(dir, "big.png")
	os.WriteFile(big, append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, MaxSitePlanBytes)...), 0o644)
	// Lines 1-6: a site with a camera and a gate; the plan from line 7 on.
	head := func(plan string) string {
		return `cameras:
  - id: cam
    url: rtsp://10.0.0.2/stream
gates:
  - {id: north, cameras: [cam]}
site:
  id: s1
  plan:
` + plan
	}
	tests := []struct {
		name  string
		yml   string
		wants []want
	}{
		{"png with markers", head("    image: " + png + "\n    cameras: {cam: [0.25, 0.5]}\n    gates: {north: [1, 0]}\n"), nil},
		{"jpeg, no markers", head("    image: " + jpg + "\n"), nil},
		{"no image", head("    cameras: {cam: [0.25, 0.5]}\n"), []want{{8, "site.plan.image", "required"}}},
		{"missing file", head("    image: " + filepath.Join(dir, "nope.png") + "\n"), []want{{9, "site.plan.image", "cannot read"}}},
		{"a directory", head("    image: " + dir + "\n"), []want{{9, "site.plan.image", "not a file"}}},
		{"gif", head("    image: " + gif + "\n"), []want{{9, "site.plan.image", "not a PNG or JPEG"}}},
		{"too big", head("    image: " + big + "\n"), []want{{9, "site.plan.image", "at most 8 MB"}}},
		{"unknown ids", head("    image: " + png + "\n    cameras: {lawn: [0.1, 0.1]}\n    gates: {south: [0.2, 0.2]}\n"),
			[]want{{10, "site.plan.cameras.lawn", `no camera with id "lawn"`}, {11, "site.plan.gates.south", `no gate with id "south"`}}},
		{"outside the image", head("    image: " + png + "\n    cameras:\n      cam: [1.5, -0.1]\n"),
			[]want{{11, "site.plan.cameras.cam", "outside the image"}}},
		{"not a point", head("    image: " + png + "\n    cameras:\n      cam: [0.5]\n"),
			[]want{{11, "site.plan.cameras.cam", ""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkProblems(t, tc.yml, tc.wants) })
	}
}

func TestSitePlanType(t *testing.T) {
	for in, want := range map[string]string{"\x89PNG\r\n\x1a\nxxxx": "png", "\xff\xd8\xff\xdb": "jpeg", "GIF89a": "", "": "", "<svg": ""} {
		if got := SitePlanType([]byte(in)); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
