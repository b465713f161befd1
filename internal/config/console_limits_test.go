package config

import (
	"testing"
	"time"
)

func TestConsoleLimitsDefaults(t *testing.T) {
	cfg, err := Parse("x.yaml", []byte(cam+`console:
  limits: {max_conns: 300, stream_stall: 5s}
  login: {max_failures: 3}
`))
	if err != nil {
		t.Fatal(err)
	}
	l, g := cfg.Console.Limits, cfg.Console.Login
	want := DefaultConsoleLimits
	want.MaxConns, want.StreamStall = 300, 5*time.Second
	if l != want {
		t.Errorf("limits %+v, want %+v", l, want)
	}
	wantLogin := DefaultConsoleLogin
	wantLogin.MaxFailures = 3
	if g != wantLogin {
		t.Errorf("login %+v, want %+v", g, wantLogin)
	}
	if cfg.Console.TLS != nil {
		t.Error("tls set without console.tls")
	}
}

func TestConsoleLimitsChecked(t *testing.T) {
	checkProblems(t, cam+`console:
  limits:
    max_conns: 10
    max_conns_per_address: 20
    max_streams: -1
    read_timeout: -1s
  login:
    max_failures: 10
    flood_failures: 5
  tls: {cert: /etc/lanewatch/console.crt}
`, []want{
		{8, "console.limits.max_conns_per_address", "must not exceed max_conns (10)"},
		{9, "console.limits.max_streams", "at least 1"},
		{10, "console.limits.read_timeout", "positive duration"},
		{13, "console.login.flood_failures", "at least max_failures (10)"},
		{14, "console.tls.key", "required"},
	})
}
