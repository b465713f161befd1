package auth

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// CheckText refuses what must not reach MQTT payloads, the audit log or a
// guard's screen from a free-text field: invalid UTF-8, control characters
// (C0, C1, newlines and tabs too: one field is one line), and invisible
// format characters, among them the bidirectional overrides (U+202E) that
// make "nepo" read as "open", zero-width characters and line separators.
// The error names the field and the offending code point, never the text.
func CheckText(field, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s: not valid UTF-8", field)
	}
	for i, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			return fmt.Errorf("%s: control or invisible formatting character U+%04X at byte %d is not allowed", field, r, i)
		}
	}
	return nil
}
