package vehicles

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"time"
)

// CSVHeader is the first row WriteCSV writes; the columns follow the JSON names.
var CSVHeader = []string{"id", "site", "gate", "direction", "plate", "class", "at", "entry_at", "dwell_s", "snapshot"}

// WriteCSV writes the passages matching q, newest first, as CSV with a header.
// Null entry_at and dwell_s are empty cells.
func (l *Log) WriteCSV(w io.Writer, q Query) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, p := range l.Passages(q) {
		entry, dwell := "", ""
		if p.EntryAt != nil {
			entry = p.EntryAt.Format(time.RFC3339)
		}
		if p.DwellS != nil {
			dwell = strconv.FormatInt(*p.DwellS, 10)
		}
		if err := cw.Write([]string{p.ID, p.Site, p.Gate, string(p.Direction), p.Plate, string(p.Class),
			p.At.Format(time.RFC3339), entry, dwell, p.Snapshot}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON writes the passages matching q, newest first, as a JSON array
// (never null, so that clients can iterate without a check).
func (l *Log) WriteJSON(w io.Writer, q Query) error {
	ps := l.Passages(q)
	if ps == nil {
		ps = []Passage{}
	}
	return json.NewEncoder(w).Encode(ps)
}
