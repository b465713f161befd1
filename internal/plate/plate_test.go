package plate

import (
	"testing"
	"unicode/utf8"
)

func TestNormalizePlate(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"青A12345", "青A12345", true},
		{"沪a 12345", "沪A12345", true},
		{"粤B·D12345", "粤BD12345", true}, // new energy, 8 characters
		{"粤B D12345", "粤BD12345", true},
		{"京A-1234.5", "京A12345", true},
		{"苏E1234学", "苏E1234学", true},
		{"粤Z1234港", "粤Z1234港", true},
		{"ｂｊ１２３", "BJ123", true},     // full-width input
		{"M-ÖA 123", "MÖA123", true}, // German plate with umlaut
		{"ab", "AB", true},
		{"A", "", false},
		{"", "", false},
		{" - . ", "", false},
		{"ABCDEFGHIJKL", "ABCDEFGHIJKL", true},
		{"ABCDEFGHIJKLM", "", false},
		{"A_123", "", false},
		{"A/123", "", false},
		{"沪A😀123", "", false},
		{"сА123", "", false}, // Cyrillic is not Latin
		{"\xff\xfe12", "", false},
	}
	for _, tt := range tests {
		got, ok := NormalizePlate(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NormalizePlate(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzNormalizePlate(f *testing.F) {
	for _, s := range []string{"青A12345", "粤B D12345", "ab", "a·b-c.d e", "ｂｊ１２３"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := NormalizePlate(s)
		if !ok {
			if got != "" {
				t.Fatalf("rejected plate returned %q", got)
			}
			return
		}
		n := utf8.RuneCountInString(got)
		if n < MinLen || n > MaxLen {
			t.Fatalf("%q: normalised %q has %d runes", s, got, n)
		}
		// Normalising is idempotent: stored plates compare equal to re-read ones.
		again, ok2 := NormalizePlate(got)
		if !ok2 || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, got, again, ok2)
		}
	})
}
