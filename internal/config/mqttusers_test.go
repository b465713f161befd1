package config

import (
	"strings"
	"testing"
)

func TestMQTTUsers(t *testing.T) {
	const head = `site: {id: s1}
gates:
  - id: north
mqtt:
  users:
`
	tests := []struct {
		name  string
		yml   string
		wants []want
	}{
		{"valid", head + `    - {name: gate-north, password: a, role: gate, gates: [north]}
    - {name: patrol-07, password: b, role: patrol}
    - {name: display, password: c, role: viewer}
`, nil},
		{"unknown role", head + `    - {name: x, password: a, role: admin}
`, []want{{6, "mqtt.users[0].role", `"admin" is not one of gate, patrol, viewer`}}},
		{"gate without gates", head + `    - {name: x, password: a, role: gate}
`, []want{{6, "mqtt.users[0].gates", "needs the gates"}}},
		{"unknown gate", head + `    - name: x
      password: a
      role: gate
      gates: [north, south]
`, []want{{9, "mqtt.users[0].gates[1]", `unknown gate "south"`}}},
		{"gates for a patrol", head + `    - {name: x, password: a, role: patrol, gates: [north]}
`, []want{{6, "mqtt.users[0].gates", "only for role gate"}}},
		{"missing name and password", head + `    - {role: viewer}
`, []want{{6, "mqtt.users[0].name", "required"}, {6, "mqtt.users[0].password", "required"}}},
		{"duplicate", head + `    - {name: x, password: a, role: viewer}
    - {name: x, password: b, role: viewer}
`, []want{{7, "mqtt.users[1].name", `duplicate user "x"`}}},
		{"external broker", `site: {id: s1}
mqtt:
  broker: tcp://10.0.0.5:1883
  users:
    - {name: x, password: a, role: viewer}
`, []want{{4, "mqtt.users", "embedded broker only"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkProblems(t, tt.yml, tt.wants) })
	}
}

func TestMQTTUserPasswordNotInProblems(t *testing.T) {
	got := CheckBytes("test.yaml", []byte(`site: {id: s1}
mqtt:
  users:
    - {name: "bad name", password: hunter2-secret, role: nope}
`))
	if len(got) == 0 {
		t.Fatal("no problems")
	}
	for _, p := range got {
		if strings.Contains(p.String(), "hunter2") {
			t.Fatalf("password in %s", p)
		}
	}
}
