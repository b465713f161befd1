package config

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with a configuration file, located by line and
// by the path of the offending field (e.g. cameras[2].zones[0].polygon).
type Problem struct {
	File string
	Line int // 1-based; 0 when the file could not be read at all
	Path string
	Msg  string
}

// String formats the problem the way `lanewatch check` prints it:
// FILE:LINE: path.to.field: message.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Errors is the error Load returns when the file has problems; callers that
// want the individual problems use errors.As.
type Errors struct {
	Problems []Problem
}

func (e *Errors) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sortProblems orders problems by line so that the report reads top to
// bottom like the file; ties keep their discovery order.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
}
