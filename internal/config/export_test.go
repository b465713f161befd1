package config

// Exposed to the external test package (config_test), which may import
// packages that themselves import config.
var (
	IncidentTypes = incidentTypes
	Severities    = severities
)
