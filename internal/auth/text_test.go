package auth

import (
	"strings"
	"testing"
)

func TestCheckText(t *testing.T) {
	for _, tc := range []struct {
		name, s string
		ok      bool
	}{
		{"plain", "guard on the way", true},
		{"chinese", "保安已到场，车牌青A12345", true},
		{"emoji", "ok 👍", true},
		{"empty", "", true},
		{"newline", "line1\nline2", false},
		{"tab", "a\tb", false},
		{"nul", "a\x00b", false},
		{"escape", "\x1b[31mred", false},
		{"del", "a\x7f", false},
		{"c1", "a\u0085b", false},
		{"rtl override", "open \u202egate", false},
		{"rtl isolate", "\u2067x\u2069", false},
		{"zero width space", "ad\u200bmin", false},
		{"zero width joiner", "a\u200db", false},
		{"bom", "\ufeffnote", false},
		{"soft hyphen", "a\u00adb", false},
		{"line separator", "a\u2028b", false},
		{"invalid utf-8", "a\xffb", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckText("note", tc.s)
			if (err == nil) != tc.ok {
				t.Errorf("CheckText(%q) = %v, want ok %v", tc.s, err, tc.ok)
			}
			if err != nil && len(tc.s) > 3 && strings.Contains(err.Error(), tc.s) {
				t.Errorf("error echoes the text: %v", err)
			}
		})
	}
}
