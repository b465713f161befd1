package console_test

import (
	"testing"

	"github.com/lanewatch/lanewatch/internal/console"
)

// FuzzValidatePhoto: uploads come from phones on the compound's Wi-Fi; any
// bytes must give "jpg", "png" or an error, never a panic.
func FuzzValidatePhoto(f *testing.F) {
	f.Add(testImage(f, "jpeg"))
	f.Add(testImage(f, "png"))
	f.Add([]byte("\xff\xd8\xff\xe0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ext, err := console.ValidatePhoto(b)
		if err == nil && ext != "jpg" && ext != "png" {
			t.Fatalf("ext %q", ext)
		}
	})
}
