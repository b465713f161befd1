// Package plate normalises and validates licence plates (contract 2.1). The
// sensors, vehicles and config packages all go through NormalizePlate so that
// a plate read at the gate, a watchlist entry and a resident record compare
// equal byte for byte.
package plate

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MinLen and MaxLen bound a normalised plate in characters (runes), not bytes:
// a Chinese plate mixes 3-byte ideographs with ASCII.
const (
	MinLen = 2
	MaxLen = 12
)

// NormalizePlate upper-cases s, drops the separators people and cameras put
// into plates (spaces, dots, dashes, middle dots), folds full-width ASCII to
// ASCII, and accepts the result when it is MinLen..MaxLen characters of Latin
// letters, digits and CJK ideographs. The bool is false for anything else.
func NormalizePlate(s string) (string, bool) {
	// Bound the work on hostile input before allocating: after separators are
	// removed the plate can be at most MaxLen runes, and no sane raw plate
	// carries more than a few separators per character.
	if len(s) > 16*MaxLen || !utf8.ValidString(s) {
		return "", false
	}
	var b strings.Builder
	b.Grow(len(s))
	n := 0
	for _, r := range s {
		r = foldWidth(r)
		if isSeparator(r) {
			continue
		}
		r = unicode.ToUpper(r)
		if !allowed(r) {
			return "", false
		}
		n++
		if n > MaxLen {
			return "", false
		}
		b.WriteRune(r)
	}
	if n < MinLen {
		return "", false
	}
	return b.String(), true
}

// foldWidth maps full-width forms (U+FF01..U+FF5E, as typed by Chinese input
// methods) and the ideographic space to their ASCII equivalents.
func foldWidth(r rune) rune {
	switch {
	case r >= 0xFF01 && r <= 0xFF5E:
		return r - 0xFF01 + '!'
	case r == 0x3000:
		return ' '
	}
	return r
}

func isSeparator(r rune) bool {
	switch r {
	case '.', '-', '·', '・', '･', '‧', '•', '‐', '‑', '–', '—', '−':
		return true
	}
	return unicode.IsSpace(r)
}

func allowed(r rune) bool {
	switch {
	case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	case r < utf8.RuneSelf:
		return false
	case unicode.Is(unicode.Han, r):
		return true
	}
	// Foreign plates (e.g. German Ö) use Latin letters beyond ASCII; only
	// upper-case ones can appear here, lower case was mapped above.
	return unicode.Is(unicode.Latin, r) && unicode.IsUpper(r)
}
