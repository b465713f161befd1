// Package deploy_test checks the files in deploy/ as far as can be done
// without a Docker engine or a systemd machine: every shipped configuration
// passes `lanewatch check`, the compose file parses and mounts only paths
// that exist, the Dockerfile copies only what exists and its health check
// asks /readyz on the configured console port, the systemd unit verifies
// (systemd-analyze) and its user is defined. It runs with `go test ./...`,
// so `make test` and CI run it.
package deploy_test

import (
	"bufio"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

func lanewatch(t *testing.T) string { return testenv.LanewatchBinary(t) }

// envExample reads deploy/.env.example as docker compose does for these
// simple lines: NAME=value, value optionally in single or double quotes.
func envExample(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(testenv.RepoRoot(t), "deploy", ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, val, ok := strings.Cut(line, "=")
		if !ok || !regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`).MatchString(name) {
			t.Fatalf(".env.example:%d: not NAME=value: %q", n, line)
		}
		if len(val) >= 2 && (val[0] == '\'' || val[0] == '"') && val[len(val)-1] == val[0] {
			val = val[1 : len(val)-1]
		}
		env[name] = val
	}
	return env
}

// environ is a minimal environment plus vars: nothing from the developer's
// shell can stand in for a variable the example file forgot.
func environ(vars map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	return out
}

// TestShippedConfigsCheck runs `lanewatch check` on every shipped
// configuration: the demo and example in configs/ (with test secrets) and
// the container's in deploy/ with exactly the variables of .env.example.
func TestShippedConfigsCheck(t *testing.T) {
	root := testenv.RepoRoot(t)
	bin := lanewatch(t)
	configs, _ := filepath.Glob(filepath.Join(root, "configs", "*.yaml"))
	deployCfgs, _ := filepath.Glob(filepath.Join(root, "deploy", "lanewatch*.yaml"))
	if len(configs) < 2 || len(deployCfgs) < 1 {
		t.Fatalf("shipped configs not found: %v %v", configs, deployCfgs)
	}
	testSecrets := testenv.ExampleSecrets
	check := func(t *testing.T, path string, vars map[string]string) {
		cmd := exec.Command(bin, "check", "-c", path)
		cmd.Dir = root // relative paths in the demo are relative to the repository
		cmd.Env = environ(vars)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("lanewatch check -c %s: %v\n%s", path, err, out)
		}
	}
	for _, p := range configs {
		t.Run(filepath.Base(p), func(t *testing.T) { check(t, p, testSecrets) })
	}
	for _, p := range deployCfgs {
		t.Run("deploy/"+filepath.Base(p), func(t *testing.T) { check(t, p, envExample(t)) })
	}
}

type composeFile struct {
	Services map[string]struct {
		Build struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		EnvFile     stringList        `yaml:"env_file"`
		Environment map[string]string `yaml:"environment"`
		Hostname    string            `yaml:"hostname"`
		Ports       []string          `yaml:"ports"`
		Volumes     []yaml.Node       `yaml:"volumes"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

// TestComposeFile parses deploy/compose.yaml and checks what it refers to on
// the host: bind-mounted paths exist (relative to deploy/, none absolute:
// those cannot be known to exist on the target host), env files exist or
// ship as .example, named volumes are declared, the build context and
// Dockerfile exist; and the console of the config mounted for lanewatch
// listens on all interfaces at the published port.
func TestComposeFile(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(t), "deploy")
	b, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(b, &cf); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	if len(cf.Services) == 0 {
		t.Fatal("compose.yaml: no services")
	}
	lanewatchConfig := checkComposeRefs(t, dir, "compose.yaml", cf)["lanewatch"]
	if lanewatchConfig == "" {
		t.Fatal("no service mounts a configuration at /etc/lanewatch/lanewatch.yaml")
	}
	for k, v := range envExample(t) {
		t.Setenv(k, v)
	}
	cfg, err := config.Load(lanewatchConfig)
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(cfg.Console.Listen)
	if err != nil || (host != "0.0.0.0" && host != "" && host != "::") {
		t.Errorf("console.listen %q: in a container it must listen on all interfaces", cfg.Console.Listen)
	}
	if !slices.Contains(cf.Services["lanewatch"].Ports, port+":"+port) {
		t.Errorf("console port %s is not published (%v)", port, cf.Services["lanewatch"].Ports)
	}
	if hc := healthcheck(t); !strings.Contains(hc, "127.0.0.1:"+port+"/readyz") {
		t.Errorf("the image's health check %q does not ask /readyz on the console port %s", hc, port)
	}
}

// checkComposeRefs checks what a compose file refers to on the host and
// returns, by service, the lanewatch configuration mounted at
// /etc/lanewatch/lanewatch.yaml.
func checkComposeRefs(t *testing.T, dir, file string, cf composeFile) map[string]string {
	t.Helper()
	exists := func(rel string) bool { _, err := os.Stat(filepath.Join(dir, rel)); return err == nil }
	configs := map[string]string{}
	for name, s := range cf.Services {
		for _, v := range s.Volumes {
			src, dst := volume(t, v)
			switch {
			case src == "":
				t.Errorf("%s: services.%s.volumes: %q has no source", file, name, dst)
			case filepath.IsAbs(src) || strings.HasPrefix(src, "~"):
				t.Errorf("%s: services.%s.volumes: host path %s is outside the repository; it may not exist where this runs", file, name, src)
			case strings.HasPrefix(src, "."):
				if !exists(src) {
					t.Errorf("%s: services.%s.volumes: %s does not exist (relative to deploy/)", file, name, src)
				}
				if dst == "/etc/lanewatch/lanewatch.yaml" {
					configs[name] = filepath.Join(dir, src)
				}
			default:
				if _, ok := cf.Volumes[src]; !ok {
					t.Errorf("%s: services.%s.volumes: named volume %s is not declared", file, name, src)
				}
			}
		}
		for _, f := range s.EnvFile {
			if !exists(f) && !exists(f+".example") {
				t.Errorf("%s: services.%s.env_file: neither %s nor %s.example exists", file, name, f, f)
			}
		}
		if s.Build.Context != "" {
			if !exists(s.Build.Context) || !exists(filepath.Join(s.Build.Context, s.Build.Dockerfile)) {
				t.Errorf("%s: services.%s.build: context %s / dockerfile %s missing", file, name, s.Build.Context, s.Build.Dockerfile)
			}
		}
	}
	return configs
}

// TestClusterComposeFile checks deploy/compose.cluster.yaml, three
// clustered gateways (contract section 12): its references as
// TestComposeFile's; each gateway's configuration, loaded with .env.example
// and the service's own environment, is clustered under a distinct
// gateway_id equal to its service's host name, names every gateway's
// cluster port among its peers, keeps its data in a volume of its own, and
// publishes its console and MQTT listener on host ports of its own.
func TestClusterComposeFile(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(t), "deploy")
	b, err := os.ReadFile(filepath.Join(dir, "compose.cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(b, &cf); err != nil {
		t.Fatalf("compose.cluster.yaml: %v", err)
	}
	configs := checkComposeRefs(t, dir, "compose.cluster.yaml", cf)
	if len(configs) < 3 {
		t.Fatalf("%d gateways mount a configuration, want 3", len(configs))
	}
	env := envExample(t)
	ids, dataVolumes, hostPorts := map[string]bool{}, map[string]string{}, map[string]string{}
	for name, path := range configs {
		s := cf.Services[name]
		for k, v := range env {
			t.Setenv(k, v)
		}
		for k, v := range s.Environment {
			t.Setenv(k, v)
		}
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if cfg.Cluster == nil || cfg.MQTT.Broker != "embedded" {
			t.Fatalf("%s: not clustered on the embedded broker", name)
		}
		if cfg.GatewayID != name || s.Hostname != name || ids[cfg.GatewayID] {
			t.Errorf("%s: gateway_id %q, hostname %q: want both the service name, unique", name, cfg.GatewayID, s.Hostname)
		}
		ids[cfg.GatewayID] = true
		_, clusterPort, _ := net.SplitHostPort(cfg.Cluster.Listen)
		for other := range configs {
			if !slices.Contains(cfg.Cluster.Peers, other+":"+clusterPort) {
				t.Errorf("%s: cluster.peers %v lack %s:%s", name, cfg.Cluster.Peers, other, clusterPort)
			}
		}
		for _, v := range s.Volumes {
			if src, dst := volume(t, v); dst == "/var/lib/lanewatch" {
				if prev, ok := dataVolumes[src]; ok {
					t.Errorf("%s and %s share the data volume %s", name, prev, src)
				}
				dataVolumes[src] = name
			}
		}
		_, consolePort, _ := net.SplitHostPort(cfg.Console.Listen)
		_, mqttPort, _ := net.SplitHostPort(cfg.MQTT.Listen)
		for _, want := range []string{consolePort, mqttPort} {
			found := false
			for _, p := range s.Ports {
				host, container, _ := strings.Cut(p, ":")
				if container != want {
					continue
				}
				found = true
				if prev, ok := hostPorts[host]; ok {
					t.Errorf("%s and %s publish host port %s", name, prev, host)
				}
				hostPorts[host] = name
			}
			if !found {
				t.Errorf("%s: container port %s is not published (%v)", name, want, s.Ports)
			}
		}
	}
	if len(dataVolumes) != len(configs) {
		t.Errorf("data volumes %v: want one per gateway", dataVolumes)
	}
}

// stringList is a compose value that is one string or a list of them.
type stringList []string

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = []string{n.Value}
		return nil
	}
	return n.Decode((*[]string)(l))
}

// volume returns a compose volume's source and target, short or long form.
func volume(t *testing.T, n yaml.Node) (src, dst string) {
	t.Helper()
	if n.Kind == yaml.ScalarNode {
		parts := strings.Split(n.Value, ":")
		if len(parts) == 1 {
			return "", parts[0] // an anonymous volume
		}
		return parts[0], parts[1]
	}
	var long struct{ Source, Target string }
	if err := n.Decode(&long); err != nil {
		t.Fatalf("volume at line %d: %v", n.Line, err)
	}
	return long.Source, long.Target
}

// dockerfile returns the Dockerfile's instructions, continuation lines joined.
func dockerfile(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "deploy", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		l := strings.TrimSpace(line)
		if cur.Len() == 0 && (l == "" || l[0] == '#') {
			continue
		}
		if strings.HasPrefix(l, "#") {
			continue // a comment inside a continued instruction
		}
		if strings.HasSuffix(l, "\\") {
			cur.WriteString(strings.TrimSuffix(l, "\\") + " ")
			continue
		}
		cur.WriteString(l)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

func healthcheck(t *testing.T) string {
	for _, ins := range dockerfile(t) {
		if strings.HasPrefix(ins, "HEALTHCHECK ") {
			return ins
		}
	}
	return ""
}

// TestDockerfile: every COPY source exists in the build context (the
// repository), the health check asks /readyz with a tool the final stage
// installs, and the default configuration is copied into the image.
func TestDockerfile(t *testing.T) {
	root := testenv.RepoRoot(t)
	var lastStage []string // instructions since the last FROM
	type copyOp struct{ src, dst string }
	var copies []copyOp // of the current stage
	for _, ins := range dockerfile(t) {
		f := strings.Fields(ins)
		switch strings.ToUpper(f[0]) {
		case "FROM":
			lastStage, copies = nil, nil
		case "COPY", "ADD":
			args := f[1:]
			if slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--from=") }) {
				break
			}
			args = slices.DeleteFunc(args, func(a string) bool { return strings.HasPrefix(a, "--") })
			if len(args) < 2 {
				t.Errorf("%s: no source and destination", ins)
				break
			}
			for _, src := range args[:len(args)-1] {
				matches, _ := filepath.Glob(filepath.Join(root, src))
				if len(matches) == 0 {
					t.Errorf("%s: %s does not exist in the build context", ins, src)
				}
			}
			for _, src := range args[:len(args)-1] {
				copies = append(copies, copyOp{src, args[len(args)-1]})
			}
		}
		lastStage = append(lastStage, ins)
	}
	hc := healthcheck(t)
	if !strings.Contains(hc, "/readyz") {
		t.Errorf("health check %q does not ask /readyz", hc)
	}
	if strings.Contains(hc, "curl") && !slices.ContainsFunc(lastStage, func(s string) bool {
		return strings.HasPrefix(s, "RUN ") && strings.Contains(s, "apt-get install") && slices.Contains(strings.Fields(s), "curl")
	}) {
		t.Error("the health check runs curl, which the final stage does not install")
	}
	var cmd string
	for _, s := range lastStage {
		if strings.HasPrefix(s, "CMD ") {
			cmd = s
		}
	}
	m := regexp.MustCompile(`"-c", "([^"]+)"`).FindStringSubmatch(cmd)
	inImage := func(path string) bool {
		for _, c := range copies {
			if c.dst == path {
				return true
			}
			// A directory copied into a directory: dst/x is src/x.
			if rest, ok := strings.CutPrefix(path, c.dst); ok && strings.HasSuffix(c.dst, "/") {
				if _, err := os.Stat(filepath.Join(root, c.src, rest)); err == nil {
					return true
				}
			}
		}
		return false
	}
	if m == nil || !inImage(m[1]) {
		t.Errorf("CMD %q: its configuration is not copied into the final stage (%v)", cmd, copies)
	}
}

// TestSystemdUnit: the unit verifies with systemd-analyze (with its binary
// path pointed at a freshly built lanewatch; any warning, such as an unknown
// key, fails), uses SystemCallErrorNumber=EPERM, and the user it runs as is
// created by the shipped sysusers.d file.
func TestSystemdUnit(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(t), "deploy")
	unit, err := os.ReadFile(filepath.Join(dir, "lanewatch.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^SystemCallErrorNumber=EPERM$`).Match(unit) {
		t.Error("lanewatch.service: no SystemCallErrorNumber=EPERM")
	}
	m := regexp.MustCompile(`(?m)^User=(\S+)$`).FindSubmatch(unit)
	if m == nil {
		t.Fatal("lanewatch.service: no User=")
	}
	user := string(m[1])

	t.Run("sysusers", func(t *testing.T) {
		bin, err := exec.LookPath("systemd-sysusers")
		if err != nil {
			t.Skipf("systemd-sysusers cannot run here (%v): the user definition is not checked", err)
		}
		root := t.TempDir()
		os.MkdirAll(filepath.Join(root, "etc"), 0o755)
		if out, err := exec.Command(bin, "--root="+root, filepath.Join(dir, "lanewatch.sysusers.conf")).CombinedOutput(); err != nil {
			t.Fatalf("systemd-sysusers: %v\n%s", err, out)
		}
		passwd, _ := os.ReadFile(filepath.Join(root, "etc", "passwd"))
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(user) + `:x:\d+:\d+:[^:]*:/var/lib/lanewatch:`).Match(passwd) {
			t.Errorf("lanewatch.sysusers.conf does not create user %s with home /var/lib/lanewatch:\n%s", user, passwd)
		}
	})

	t.Run("systemd-analyze verify", func(t *testing.T) {
		analyze, err := exec.LookPath("systemd-analyze")
		if err != nil {
			t.Skipf("systemd-analyze cannot run here (%v; scripts/deps.sh installs systemd): the unit is not verified", err)
		}
		tmp := t.TempDir()
		path := filepath.Join(tmp, "lanewatch.service")
		// systemd-analyze checks that the commands exist; the unit's own
		// path is where an installation puts the binary.
		body := strings.ReplaceAll(string(unit), "/usr/local/bin/lanewatch", lanewatch(t))
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(analyze, "verify", "--man=no", path)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Skipf("systemd-analyze cannot run here (%v): the unit is not verified", err)
		}
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify lanewatch.service: %v\n%s", err, out)
		}
	})
}
