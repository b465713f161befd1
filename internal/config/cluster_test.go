package config

import "testing"

func TestCheckCluster(t *testing.T) {
	tests := []struct {
		name  string
		yml   string
		wants []want
	}{
		{"three gateways", cam + `cluster: {name: zhonghua-lane, listen: 0.0.0.0:6222, peers: [10.0.0.11:6222, 10.0.0.12:6222]}
`, nil},
		{"no name, no peers", cam + `cluster: {listen: 0.0.0.0:6222}
`, []want{{5, "cluster.name", "required"}, {5, "cluster.peers", "list the other gateways"}}},
		{"bad peer and duplicate", cam + `cluster:
  name: site
  peers: [10.0.0.11, "10.0.0.12:6222", "10.0.0.12:6222", ":6222"]
`, []want{{7, "cluster.peers[0]", "not host:port"}, {7, "cluster.peers[2]", "listed twice"}, {7, "cluster.peers[3]", "not host:port"}}},
		{"short secret", cam + `cluster: {name: site, peers: [a:6222], secret: short}
`, []want{{5, "cluster.secret", "is 5 characters"}}},
		{"lease too short, negative hold-down", cam + `cluster: {name: site, peers: [a:6222], lease: 500ms, hold_down: -1s}
`, []want{{5, "cluster.lease", "at least 2s"}, {5, "cluster.hold_down", "positive"}}},
		{"external broker", cam + `mqtt: {broker: tcp://10.0.0.5:1883}
cluster: {name: site, peers: [a:6222]}
`, []want{{6, "cluster", "needs mqtt.broker: embedded"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkProblems(t, tc.yml, tc.wants) })
	}
}

func TestClusterDefaultsAndReplicas(t *testing.T) {
	c, err := Parse("t.yaml", []byte(cam))
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster != nil {
		t.Fatalf("cluster without cluster: = %+v", c.Cluster)
	}
	for peers, want := range map[string]int{"[b:6222]": 2, "[b:6222, c:6222]": 3, "[b:1, c:1, d:1, e:1]": 3} {
		c, err := Parse("t.yaml", []byte(cam+"cluster: {name: site, peers: "+peers+"}\n"))
		if err != nil {
			t.Fatal(err)
		}
		if c.Cluster.Lease != DefaultClusterLease || c.Cluster.HoldDown != DefaultClusterHoldDown {
			t.Errorf("lease %v hold_down %v, want the defaults", c.Cluster.Lease, c.Cluster.HoldDown)
		}
		if c.Cluster.Listen != DefaultClusterListen || c.Cluster.Replicas() != want {
			t.Errorf("%s: listen %q replicas %d, want %d", peers, c.Cluster.Listen, c.Cluster.Replicas(), want)
		}
	}
}
