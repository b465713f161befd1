package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/cluster"
	"github.com/lanewatch/lanewatch/internal/config"
)

func TestLocalConsole(t *testing.T) {
	for _, tc := range []struct {
		c        config.Console
		url      string
		insecure bool
	}{
		{config.Console{Listen: "0.0.0.0:8080"}, "http://127.0.0.1:8080", false},
		{config.Console{Listen: "10.0.0.11:8443", TLS: &config.ConsoleTLS{}}, "https://10.0.0.11:8443", false},
		{config.Console{Listen: ":8443", TLS: &config.ConsoleTLS{}}, "https://127.0.0.1:8443", true},
	} {
		url, insecure := localConsole(tc.c)
		if url != tc.url || insecure != tc.insecure {
			t.Errorf("%+v: %s %v, want %s %v", tc.c, url, insecure, tc.url, tc.insecure)
		}
	}
	if tok := adminToken([]config.Token{{Role: "viewer", Token: "v"}, {Role: "admin", Token: "a"}}); tok != "a" {
		t.Errorf("admin token %q", tok)
	}
}

// A stream without a leader and a lagging replica are spelled out; a free
// item says so.
func TestPrintClusterStatus(t *testing.T) {
	now := time.Now()
	st := cluster.Status{Gateway: "gw-0",
		Members: []cluster.Member{{ID: "gw-0", Held: 2, At: now.Add(-time.Second)}},
		Streams: []cluster.StreamStatus{{Name: "$MQTT_sess", Messages: 3, Replicas: []cluster.ReplicaStatus{{Name: "gw-1", Lag: 7}, {Name: "gw-2", Offline: true}}}},
		Assignments: []cluster.Assignment{{Item: cluster.Item{Kind: "camera", ID: "lawn"}, Gateway: "gw-0"},
			{Item: cluster.Item{Kind: "gate", ID: "north"}}}}
	var b bytes.Buffer
	printClusterStatus(&b, st, now)
	for _, want := range []string{"cluster as seen by gw-0: 1 members", "gw-0    2      1s ago", "(none elected)",
		"gw-1 catching up lag 7, gw-2 offline lag 0", "camera  lawn   gw-0", "gate    north  (free)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}
