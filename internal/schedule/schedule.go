// Package schedule decides whether a zone or line rule is armed at a given
// moment. A schedule is "always", or ranges of local wall-clock time such as
// "22:00-06:00" or "Mon-Fri 22:00-06:00, Sat,Sun 00:00-24:00", evaluated in the
// site's time zone.
package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Schedule is a parsed schedule; the zero value and nil are "always".
type Schedule struct {
	src    string
	always bool
	ranges []span
}

// span is one daily window. days is a bit set indexed by time.Weekday and
// names the day the window starts on; start and end are minutes after local
// midnight, end may be <= start for a window that wraps past midnight.
type span struct {
	days       uint8
	start, end int
}

const allDays = 0x7f

// ParseError says what is wrong with a schedule string; Token is the part
// that could not be read.
type ParseError struct {
	Input string
	Token string
	Msg   string
}

func (e *ParseError) Error() string {
	if e.Token == "" {
		return fmt.Sprintf("schedule %q: %s", e.Input, e.Msg)
	}
	return fmt.Sprintf("schedule %q: %q: %s", e.Input, e.Token, e.Msg)
}

// ErrEmpty is returned (wrapped in a ParseError) for an empty schedule.
var ErrEmpty = errors.New("empty schedule")

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
	"tues": time.Tuesday, "thur": time.Thursday, "thurs": time.Thursday,
}

// Parse reads a schedule. The grammar, tokens separated by commas and/or
// spaces:
//
//	always
//	[DAYS] HH:MM-HH:MM [HH:MM-HH:MM ...] [DAYS HH:MM-HH:MM ...]
//
// DAYS is one or more of Mon..Sun (or full names), single or as ranges
// "Mon-Fri" / "Fri-Mon" (wrapping), or "daily". Days apply to the time ranges
// that follow them until the next DAYS; ranges before any DAYS apply every
// day. A range whose end is not after its start wraps past midnight, and its
// day is the day it starts on: "Fri 22:00-06:00" covers Friday night into
// Saturday morning. "24:00" is accepted as an end, so "00:00-24:00" is the
// whole day.
func Parse(s string) (*Schedule, error) {
	src := strings.TrimSpace(s)
	if src == "" {
		return nil, &ParseError{Input: s, Msg: ErrEmpty.Error()}
	}
	if strings.EqualFold(src, "always") {
		return &Schedule{src: src, always: true}, nil
	}
	tokens := strings.FieldsFunc(src, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == ';'
	})
	sch := &Schedule{src: src}
	var days uint8    // days being collected
	var current uint8 // days applying to ranges
	current = allDays
	pendingDays := false
	for _, tok := range tokens {
		if isTimeRange(tok) {
			start, end, err := parseRange(tok)
			if err != nil {
				return nil, &ParseError{Input: s, Token: tok, Msg: err.Error()}
			}
			if pendingDays {
				current, days, pendingDays = days, 0, false
			}
			sch.ranges = append(sch.ranges, span{days: current, start: start, end: end})
			continue
		}
		d, err := parseDays(tok)
		if err != nil {
			return nil, &ParseError{Input: s, Token: tok, Msg: err.Error()}
		}
		days |= d
		pendingDays = true
	}
	if pendingDays {
		return nil, &ParseError{Input: s, Msg: "weekdays without a time range after them"}
	}
	if len(sch.ranges) == 0 {
		return nil, &ParseError{Input: s, Msg: "no time range"}
	}
	return sch, nil
}

// MustParse is Parse for schedules fixed in code; it panics on error.
func MustParse(s string) *Schedule {
	sch, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return sch
}

// isTimeRange tells a time range ("08:00-17:30") from a day range ("Mon-Fri")
// by the colon, which day names never have.
func isTimeRange(tok string) bool { return strings.Contains(tok, ":") }

func parseRange(tok string) (start, end int, err error) {
	a, b, ok := strings.Cut(tok, "-")
	if !ok {
		return 0, 0, errors.New("want HH:MM-HH:MM")
	}
	if start, err = parseClock(a, false); err != nil {
		return 0, 0, err
	}
	if end, err = parseClock(b, true); err != nil {
		return 0, 0, err
	}
	if start == end {
		return 0, 0, errors.New("range is empty (start equals end)")
	}
	return start, end, nil
}

// parseClock reads H:MM or HH:MM; 24:00 only where allowEnd.
func parseClock(s string, allowEnd bool) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 || !digits(h) || !digits(m) {
		return 0, fmt.Errorf("time %q: want HH:MM", s)
	}
	hh := atoi(h)
	mm := atoi(m)
	if mm > 59 || hh > 24 || (hh == 24 && (mm != 0 || !allowEnd)) {
		return 0, fmt.Errorf("time %q out of range", s)
	}
	return hh*60 + mm, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func parseDays(tok string) (uint8, error) {
	t := strings.ToLower(tok)
	if t == "daily" || t == "everyday" {
		return allDays, nil
	}
	a, b, isRange := strings.Cut(t, "-")
	from, ok := dayNames[a]
	if !ok {
		return 0, errors.New("not a weekday (Mon..Sun) or time range (HH:MM-HH:MM)")
	}
	if !isRange {
		return 1 << from, nil
	}
	to, ok := dayNames[b]
	if !ok {
		return 0, errors.New("not a weekday range such as Mon-Fri")
	}
	var set uint8
	for d := from; ; d = (d + 1) % 7 {
		set |= 1 << d
		if d == to {
			break
		}
	}
	return set, nil
}

// Always reports whether the schedule is armed at every moment.
func (s *Schedule) Always() bool { return s == nil || s.always || len(s.ranges) == 0 }

// String returns the schedule as written.
func (s *Schedule) String() string {
	if s.Always() && (s == nil || s.src == "") {
		return "always"
	}
	return s.src
}

// Active reports whether the schedule is armed at t, read as wall-clock time
// in loc (nil: UTC). Wall-clock semantics make DST transitions behave as a
// guard expects: "22:00-06:00" follows the clock on the wall.
func (s *Schedule) Active(t time.Time, loc *time.Location) bool {
	if s.Always() {
		return true
	}
	if loc == nil {
		loc = time.UTC
	}
	lt := t.In(loc)
	wd := lt.Weekday()
	prev := (wd + 6) % 7
	m := lt.Hour()*60 + lt.Minute()
	for _, r := range s.ranges {
		if r.start < r.end {
			if r.days&(1<<wd) != 0 && m >= r.start && m < r.end {
				return true
			}
			continue
		}
		// Wrapping range: the evening part belongs to today's bit, the
		// morning part to yesterday's.
		if r.days&(1<<wd) != 0 && m >= r.start {
			return true
		}
		if r.days&(1<<prev) != 0 && m < r.end {
			return true
		}
	}
	return false
}
