package config_test

import (
	"slices"
	"testing"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incidents"
)

// The config keeps its own copies of the incident enumerations so that the
// incidents package is free to import config; this keeps them in step.
func TestEnumsMatchIncidents(t *testing.T) {
	var types []string
	for _, ty := range incidents.Types {
		types = append(types, string(ty))
	}
	if !slices.Equal(types, config.IncidentTypes) {
		t.Errorf("incident types differ:\nconfig    %v\nincidents %v", config.IncidentTypes, types)
	}
	sev := []string{string(incidents.Low), string(incidents.Medium), string(incidents.High), string(incidents.Critical)}
	if !slices.Equal(sev, config.Severities) {
		t.Errorf("severities differ: %v vs %v", config.Severities, sev)
	}
}
