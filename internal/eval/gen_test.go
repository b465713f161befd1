package eval

import (
	"os"
	"testing"
)

// TestGenerated is the generated half of `make eval` as a package test: every
// rule must reach the precision and recall floors on clips with exact ground truth.
func TestGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("about a minute: each clip runs after a minute of lead-in")
	}
	clips := Generated()
	if only := os.Getenv("EVAL_CLIP"); only != "" {
		var keep []Clip
		for _, c := range clips {
			if c.Name == only {
				keep = append(keep, c)
			}
		}
		clips = keep
	}
	r, err := RunGenerated(clips)
	if err != nil {
		t.Fatal(err)
	}
	r.Print(testWriter{t}, "generated clips")
	for _, f := range r.Failures() {
		t.Error(f)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
