package vehicles

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lanewatch/lanewatch/internal/plate"
)

func TestParseResidents(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want string // sorted "PLATE/owner/unit" entries
		bad  string // "line:prefix-of-message" entries
	}{
		{"plates only", "A12345\n青B 67890\n", "A12345// 青B67890//", ""},
		{"header and columns", "Plate,Owner,Unit\nA12345,Li Wei,3-201\n", "A12345/Li Wei/3-201", ""},
		{"BOM, CRLF, blanks and comments", "\ufeffplate,owner\r\n\r\n# parking list\r\nab-12,\"Zhang, San\"\r\n", "AB12/Zhang, San/", ""},
		{"bad lines are skipped with line numbers",
			"A12345\nnot a plate!\nB1,x,y,z\n\"unterminated,x\nC777\n",
			"A12345// C777//", "2:bad plate|3:4 columns|4:not CSV"},
		{"duplicate keeps the first", "A12345,first\na 12345,second\n", "A12345/first/", "2:plate A12345 already on line 1"},
		{"header word after data is a plate", "A12345\nplate\n", "A12345// PLATE//", ""},
		{"empty", "", "", ""},
		{"too long a line", "A12345\n" + strings.Repeat("x", maxResidentLine+10) + "\nB999\n", "A12345//", "2:line longer than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, bad, err := ParseResidents(strings.NewReader(c.in))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range res {
				got = append(got, r.Plate+"/"+r.Owner+"/"+r.Unit)
			}
			if g := strings.Join(sorted(got), " "); g != c.want {
				t.Errorf("residents = %q, want %q", g, c.want)
			}
			var gb []string
			for _, b := range bad {
				gb = append(gb, fmt.Sprintf("%d:%s", b.Line, b.Msg))
			}
			var wb []string
			if c.bad != "" {
				wb = strings.Split(c.bad, "|")
			}
			if len(gb) != len(wb) {
				t.Fatalf("bad = %q, want %q", gb, wb)
			}
			for i := range wb {
				if !strings.HasPrefix(gb[i], wb[i]) {
					t.Errorf("bad[%d] = %q, want prefix %q", i, gb[i], wb[i])
				}
			}
		})
	}
}

func sorted(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

// FuzzParseResidents: the residents file comes from whoever maintains the
// compound's list. Whatever it holds, parsing must not panic, every plate
// kept must be a normalised plate, and every bad line must point into the file.
func FuzzParseResidents(f *testing.F) {
	f.Add("plate,owner,unit\nA12345,Li,3-201\n")
	f.Add("\ufeff青A 12345\r\n#c\r\n\"x\"\"y\",\"\n")
	f.Fuzz(func(t *testing.T, in string) {
		res, bad, err := ParseResidents(strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Count(in, "\n") + 2
		for k, r := range res {
			if p, ok := plate.NormalizePlate(r.Plate); !ok || p != r.Plate || k != r.Plate {
				t.Fatalf("kept unnormalised plate %q under %q", r.Plate, k)
			}
		}
		for _, b := range bad {
			if b.Line < 1 || b.Line > lines || !utf8.ValidString(b.Msg) && utf8.ValidString(in) {
				t.Fatalf("bad line %d of %d lines: %q", b.Line, lines, b.Msg)
			}
		}
	})
}
