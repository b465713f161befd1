package config

import "strings"

// MQTTUser is one account of the embedded broker (contract section 9).
type MQTTUser struct {
	Name     string   `yaml:"name"`
	Password string   `yaml:"password"`
	Role     string   `yaml:"role"`  // gate, patrol or viewer
	Gates    []string `yaml:"gates"` // role gate: the gates it speaks for
}

var mqttRoles = []string{"gate", "patrol", "viewer"}

// mqttUsers checks mqtt.users against the configured gates.
func (v *validator) mqttUsers(c *Config) {
	m := &c.MQTT
	if len(m.Users) > 0 && m.Broker != "embedded" {
		v.errf("mqtt.users", "applies to the embedded broker only; configure an external broker's accounts there (docs/operations.md)")
		return
	}
	gates := map[string]bool{}
	for _, g := range c.Gates {
		gates[g.ID] = true
	}
	seen := map[string]string{}
	for i := range m.Users {
		u := &m.Users[i]
		p := joinIdx("mqtt.users", i)
		if v.required(p+".name", u.Name) {
			if len(u.Name) > 64 || strings.ContainsAny(u.Name, " \t\r\n\x00") {
				v.errf(p+".name", "%q: at most 64 characters, no spaces or control characters", truncate(u.Name, 70))
			}
			if q, ok := seen[u.Name]; ok {
				v.errf(p+".name", "duplicate user %q (also %s)", u.Name, q)
			}
			if u.Name == m.Username {
				v.errf(p+".name", "%q is mqtt.username", u.Name)
			}
			seen[u.Name] = p
		}
		// Never echo a password: problems end up in logs.
		v.required(p+".password", u.Password)
		v.oneOf(p+".role", u.Role, mqttRoles)
		if u.Role == "gate" && len(u.Gates) == 0 {
			v.errf(p+".gates", "a gate user needs the gates it speaks for")
		}
		if u.Role != "gate" && len(u.Gates) > 0 {
			v.errf(p+".gates", "only for role gate")
		}
		for j, g := range u.Gates {
			if !gates[g] {
				v.errf(joinIdx(p+".gates", j), "unknown gate %q", truncate(g, 70))
			}
		}
	}
}
