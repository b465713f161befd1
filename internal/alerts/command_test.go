package alerts

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecodeCommand(t *testing.T) {
	tests := []struct {
		in, by, note, reason string
	}{
		{`{"by": "patrol-07", "note": "on my way"}`, "patrol-07", "on my way", ""},
		{`{"by": "巡逻-07"}`, "巡逻-07", "", ""},
		{` {"by":"a","extra":1} `, "a", "", ""},
		{`{"by": "` + strings.Repeat("p", 64) + `"}`, strings.Repeat("p", 64), "", ""},
		{`{"by": "` + strings.Repeat("p", 65) + `"}`, "", "", "invalid_by"},
		{`{"by": "a\u0000b"}`, "", "", "invalid_by"},
		{`{"by": ""}`, "", "", "missing_by"},
		{`{}`, "", "", "missing_by"},
		{`null`, "", "", "invalid_json"},
		{`[]`, "", "", "invalid_json"},
		{`"patrol"`, "", "", "invalid_json"},
		{`{"by": 7}`, "", "", "invalid_json"},
		{`{"by": "a"} {"by": "b"}`, "", "", "invalid_json"},
		{`{"by": "a"`, "", "", "invalid_json"},
		{"{\"by\": \"\xff\"}", "", "", "invalid_json"},
		{"", "", "", "empty"},
		{"  \n", "", "", "empty"},
		{`{"by": "a", "note": "` + strings.Repeat("n", MaxCommandBytes) + `"}`, "", "", "too_large"},
	}
	for _, tt := range tests {
		c, err := DecodeCommand([]byte(tt.in))
		var re *RejectError
		switch {
		case tt.reason == "" && err != nil:
			t.Errorf("%.50q: %v", tt.in, err)
		case tt.reason != "" && (!errors.As(err, &re) || re.Reason != tt.reason):
			t.Errorf("%.50q: err %v, want reason %s", tt.in, err, tt.reason)
		case tt.reason == "" && (c.By != tt.by || c.Note != tt.note):
			t.Errorf("%.50q: got %+v", tt.in, c)
		}
	}
}

func FuzzDecodeCommand(f *testing.F) {
	for _, s := range []string{`{"by": "patrol-07", "note": "on my way"}`, `{"by": ""}`, `null`, `{"by":"a"} x`, "{\"by\":\"\xff\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := DecodeCommand(payload)
		if err != nil {
			var re *RejectError
			if !errors.As(err, &re) || re.Reason == "" {
				t.Fatalf("untyped error %v", err)
			}
			if c != (Command{}) {
				t.Fatalf("rejected payload returned %+v", c)
			}
			return
		}
		if len(payload) > MaxCommandBytes {
			t.Fatalf("accepted %d bytes", len(payload))
		}
		if n := utf8.RuneCountInString(c.By); n < 1 || n > 64 || !utf8.ValidString(c.By) {
			t.Fatalf("accepted by %q", c.By)
		}
	})
}
