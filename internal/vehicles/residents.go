package vehicles

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/lanewatch/lanewatch/internal/plate"
)

// Resident is one line of the residents file.
type Resident struct {
	Plate string `json:"plate"`
	Owner string `json:"owner,omitempty"`
	Unit  string `json:"unit,omitempty"`
}

// LineError is a line of the residents file that was skipped.
type LineError struct {
	Line int
	Msg  string
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// maxResidentLine bounds one line so a corrupt file (or a binary dropped in
// its place) cannot make the parser hold an arbitrarily large token.
const maxResidentLine = 4096

// ParseResidents reads the residents file: one `plate[,owner[,unit]]` per
// line, CSV quoting allowed, an optional header line whose first column is
// "plate", blank lines and lines starting with '#' ignored. Plates are
// normalised like sensor plates so they compare equal to what the gate reads.
// Bad lines are skipped and returned with their line numbers; the error is
// only for a failing reader.
//
// Lines are parsed one by one rather than with one csv.Reader over the whole
// file because a stray quote would otherwise swallow every following line
// into one field, losing all residents after it.
func ParseResidents(r io.Reader) (map[string]Resident, []LineError, error) {
	out := map[string]Resident{}
	var bad []LineError
	firstLine := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1024), maxResidentLine)
	n := 0
	sawRecord := false
	for sc.Scan() {
		n++
		line := sc.Text()
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff") // Excel writes a BOM
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cr := csv.NewReader(strings.NewReader(line))
		cr.FieldsPerRecord = -1
		cr.TrimLeadingSpace = true
		rec, err := cr.Read()
		if err != nil {
			var pe *csv.ParseError
			msg := err.Error()
			if errors.As(err, &pe) {
				msg = pe.Err.Error()
			}
			bad = append(bad, LineError{Line: n, Msg: "not CSV: " + msg})
			sawRecord = true
			continue
		}
		if !sawRecord && strings.EqualFold(strings.TrimSpace(rec[0]), "plate") {
			sawRecord = true
			continue // header
		}
		sawRecord = true
		if len(rec) > 3 {
			bad = append(bad, LineError{Line: n, Msg: fmt.Sprintf("%d columns, want plate[,owner[,unit]]", len(rec))})
			continue
		}
		p, ok := plate.NormalizePlate(strings.TrimSpace(rec[0]))
		if !ok {
			bad = append(bad, LineError{Line: n, Msg: fmt.Sprintf("bad plate %q", truncate(rec[0], 40))})
			continue
		}
		if first, dup := firstLine[p]; dup {
			bad = append(bad, LineError{Line: n, Msg: fmt.Sprintf("plate %s already on line %d", p, first)})
			continue
		}
		firstLine[p] = n
		res := Resident{Plate: p}
		if len(rec) > 1 {
			res.Owner = strings.TrimSpace(rec[1])
		}
		if len(rec) > 2 {
			res.Unit = strings.TrimSpace(rec[2])
		}
		out[p] = res
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return out, append(bad, LineError{Line: n + 1, Msg: fmt.Sprintf("line longer than %d bytes; rest of file ignored", maxResidentLine)}), nil
		}
		return out, bad, fmt.Errorf("read residents: %w", err)
	}
	return out, bad, nil
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
