package config

import (
	"fmt"
	"testing"

	"github.com/lanewatch/lanewatch/internal/incident"
)

// The file's incident types and severities are the incident package's: every
// type and severity it defines is accepted, and nothing else.
func TestEnumsFromIncident(t *testing.T) {
	for _, ty := range incident.Types {
		for _, sev := range incident.Severities {
			yml := fmt.Sprintf(cam+"incidents:\n  severity: {%s: %s}\nnotify: [{id: g, kind: wecom, url: \"https://x/\", types: [%s], severities: [%s]}]\n",
				ty, sev, ty, sev)
			checkProblems(t, yml, nil)
		}
	}
	checkProblems(t, cam+"incidents:\n  severity: {graffiti: urgent}\n", []want{
		{6, "incidents.severity.graffiti", "not one of"},
		{6, "incidents.severity.graffiti", "not one of"},
	})
}
