package schedule

import (
	"errors"
	"testing"
	"time"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("LoadLocation(%s): %v", name, err)
	}
	return loc
}

func TestActive(t *testing.T) {
	sh := mustLoad(t, "Asia/Shanghai")
	ny := mustLoad(t, "America/New_York")
	// 2026-11-23 is a Monday.
	at := func(loc *time.Location, day, hh, mm int) time.Time {
		return time.Date(2026, 11, day, hh, mm, 0, 0, loc)
	}
	tests := []struct {
		name  string
		sched string
		t     time.Time
		loc   *time.Location
		want  bool
	}{
		{"always", "always", at(sh, 23, 3, 0), sh, true},
		{"ALWAYS case", " Always ", at(sh, 23, 3, 0), sh, true},
		{"inside day range", "08:00-17:00", at(sh, 23, 8, 0), sh, true},
		{"end exclusive", "08:00-17:00", at(sh, 23, 17, 0), sh, false},
		{"before start", "08:00-17:00", at(sh, 23, 7, 59), sh, false},
		{"wrap evening", "22:00-06:00", at(sh, 23, 23, 30), sh, true},
		{"wrap morning", "22:00-06:00", at(sh, 24, 5, 59), sh, true},
		{"wrap gap", "22:00-06:00", at(sh, 24, 12, 0), sh, false},
		{"wrap end exclusive", "22:00-06:00", at(sh, 24, 6, 0), sh, false},
		// The instant is the same everywhere; the wall clock decides. 15:00 UTC is 23:00 in Shanghai.
		{"time zone applied", "22:00-06:00", time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC), sh, true},
		{"time zone applied UTC", "22:00-06:00", time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC), time.UTC, false},
		{"nil loc is UTC", "14:00-16:00", time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC), nil, true},
		{"weekday range Mon", "Mon-Fri 09:00-10:00", at(sh, 23, 9, 30), sh, true},
		{"weekday range Sat", "Mon-Fri 09:00-10:00", at(sh, 28, 9, 30), sh, false},
		// Friday's night shift runs into Saturday morning.
		{"Fri night into Sat", "Mon-Fri 22:00-06:00", at(sh, 28, 2, 0), sh, true},
		// Monday 02:00 belongs to Sunday night, which is not listed.
		{"Sun night not listed", "Mon-Fri 22:00-06:00", at(sh, 23, 2, 0), sh, false},
		{"Sat,Sun list", "Sat,Sun 10:00-12:00", at(sh, 29, 11, 0), sh, true},
		{"Sat,Sun list weekday", "Sat,Sun 10:00-12:00", at(sh, 27, 11, 0), sh, false},
		{"wrapping day range", "Fri-Mon 10:00-12:00", at(sh, 23, 11, 0), sh, true},
		{"wrapping day range Tue", "Fri-Mon 10:00-12:00", at(sh, 24, 11, 0), sh, false},
		{"two groups second", "Mon-Fri 22:00-06:00, Sat,Sun 00:00-24:00", at(sh, 29, 13, 0), sh, true},
		{"two groups first", "Mon-Fri 22:00-06:00, Sat,Sun 00:00-24:00", at(sh, 25, 13, 0), sh, false},
		{"days carry over", "Mon 08:00-09:00 10:00-11:00", at(sh, 23, 10, 30), sh, true},
		{"days carry over Tue", "Mon 08:00-09:00 10:00-11:00", at(sh, 24, 10, 30), sh, false},
		{"full names", "saturday 00:00-24:00", at(sh, 28, 23, 59), sh, true},
		{"24:00 end", "20:00-24:00", at(sh, 23, 23, 59), sh, true},
		{"wrap to midnight", "22:00-00:00", at(sh, 24, 0, 0), sh, false},
		{"daily keyword", "Mon 08:00-09:00, daily 12:00-13:00", at(sh, 26, 12, 30), sh, true},
		// 2026-03-08 02:30 does not exist in New York (spring forward); Go
		// normalises it to 03:30 wall time, which the range covers.
		{"dst gap", "03:00-04:00", time.Date(2026, 3, 8, 7, 30, 0, 0, time.UTC), ny, true},
		// 2026-11-01 01:30 happens twice in New York; both are inside.
		{"dst repeat first", "01:00-02:00", time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC), ny, true},
		{"dst repeat second", "01:00-02:00", time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC), ny, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.sched)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.sched, err)
			}
			if got := s.Active(tt.t, tt.loc); got != tt.want {
				t.Errorf("%q.Active(%s in %v) = %v, want %v", tt.sched, tt.t, tt.loc, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in    string
		token string
	}{
		{"", ""},
		{"   ", ""},
		{"sometimes", "sometimes"},
		{"25:00-06:00", "25:00-06:00"},
		{"22:60-06:00", "22:60-06:00"},
		{"24:00-06:00", "24:00-06:00"},
		{"22:00", "22:00"},
		{"22:00-", "22:00-"},
		{"2200-0600", ""}, // no colon: read as a day name
		{"8:0-9:00", "8:0-9:00"},
		{"10:00-10:00", "10:00-10:00"},
		{"Mon-Fri", ""},
		{"Mon-Fro 10:00-11:00", "Mon-Fro"},
		{"Funday 10:00-11:00", "Funday"},
		{"10:00-11:00 Mon", ""},
		{"-1:00-02:00", "-1:00-02:00"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error", tt.in)
			continue
		}
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q) error %T, want *ParseError", tt.in, err)
			continue
		}
		if tt.token != "" && pe.Token != tt.token {
			t.Errorf("Parse(%q) token %q, want %q (%v)", tt.in, pe.Token, tt.token, err)
		}
	}
}

func TestNilAndString(t *testing.T) {
	var s *Schedule
	if !s.Active(time.Now(), nil) || !s.Always() || s.String() != "always" {
		t.Fatal("nil schedule must be always")
	}
	if got := MustParse("Mon-Fri 22:00-06:00").String(); got != "Mon-Fri 22:00-06:00" {
		t.Fatalf("String() = %q", got)
	}
}

// FuzzParse checks that Parse never panics and that every accepted schedule
// answers Active consistently across a week in a fixed-offset zone.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"always", "22:00-06:00", "Mon-Fri 22:00-06:00, Sat,Sun 00:00-24:00", "Fri-Mon 10:00-12:00", "Mon 8:00-9:00 10:00-11:00"} {
		f.Add(s)
	}
	sh := time.FixedZone("CST", 8*3600)
	f.Fuzz(func(t *testing.T, in string) {
		s, err := Parse(in)
		if err != nil {
			if s != nil {
				t.Fatal("non-nil schedule with error")
			}
			return
		}
		// Each minute of a week must be decidable without panicking, and a
		// non-always schedule is active for less than the whole week only if
		// it says so; at least it must be active at some minute of the week.
		base := time.Date(2026, 11, 23, 0, 0, 0, 0, sh)
		active := 0
		for m := 0; m < 7*24*60; m++ {
			if s.Active(base.Add(time.Duration(m)*time.Minute), sh) {
				active++
			}
		}
		if active == 0 {
			t.Fatalf("%q parsed but is never active", in)
		}
	})
}
