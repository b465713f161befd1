package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// Load reads, expands, decodes, defaults and validates the file at path. When
// anything is wrong the error is an *Errors listing every problem, sorted by
// line; a file that cannot be read gives the os error instead.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Check is Load for `lanewatch check`: it only reports problems. A file that
// cannot be read is a single problem with Line 0.
func Check(path string) []Problem {
	data, err := os.ReadFile(path)
	if err != nil {
		return []Problem{{File: path, Msg: err.Error()}}
	}
	_, ps := parse(path, data)
	return ps
}

// Parse is Load on bytes already read; file names the source in problems.
func Parse(file string, data []byte) (*Config, error) {
	cfg, ps := parse(file, data)
	if len(ps) > 0 {
		return nil, &Errors{Problems: ps}
	}
	return cfg, nil
}

// CheckBytes is Check on bytes already read.
func CheckBytes(file string, data []byte) []Problem {
	_, ps := parse(file, data)
	return ps
}

// nodeBudget bounds how many YAML nodes one load may visit. Aliases are
// followed during decoding, so a small "billion laughs" file could otherwise
// expand without limit.
const nodeBudget = 200000

func parse(file string, data []byte) (*Config, []Problem) {
	d := &decoder{file: file, lines: map[string]int{}, broken: map[string]bool{}, budget: nodeBudget}
	root, ok := d.readYAML(data)
	if !ok {
		sortProblems(d.problems)
		return nil, d.problems
	}
	d.expandEnv(root, "")
	cfg := &Config{}
	d.decode(root, reflect.ValueOf(cfg).Elem(), "")
	if d.overBudget {
		sortProblems(d.problems)
		return nil, d.problems
	}
	applyDefaults(cfg)
	(&validator{d: d}).config(cfg)
	sortProblems(d.problems)
	if len(d.problems) > 0 {
		return cfg, d.problems
	}
	if loc, err := time.LoadLocation(cfg.Site.Timezone); err == nil {
		cfg.loc = loc
	}
	return cfg, nil
}

type decoder struct {
	file     string
	problems []Problem
	lines    map[string]int // field path -> line of its key or list item
	// broken holds paths whose value could not be decoded; validation stays
	// quiet below them so that one typo is not reported again as "required".
	broken     map[string]bool
	budget     int
	overBudget bool
}

func (d *decoder) addf(line int, path, format string, args ...any) {
	if line <= 0 {
		line = 1
	}
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// typef reports a value of the wrong shape at path and marks it broken.
func (d *decoder) typef(n *yaml.Node, path, format string, args ...any) {
	d.broken[path] = true
	d.addf(n.Line, path, format, args...)
}

// isBroken reports whether path or a field enclosing it failed to decode.
func (d *decoder) isBroken(path string) bool {
	for {
		if d.broken[path] {
			return true
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return false
		}
		path = path[:i]
	}
}

// lineOf finds the line for path, falling back to the nearest enclosing
// field that was written in the file (a missing field is reported where its
// parent is).
func (d *decoder) lineOf(path string) int {
	for {
		if l, ok := d.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return 1
		}
		path = path[:i]
	}
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

// readYAML parses data into a single document's root node. yaml.v3 reports
// syntax errors as text; the line is taken from it.
func (d *decoder) readYAML(data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	if errors.Is(err, io.EOF) {
		d.addf(1, "", "the file is empty")
		return nil, false
	}
	if err != nil {
		line := 1
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			if n, convErr := strconv.Atoi(m[1]); convErr == nil && n > 0 {
				line = n
			}
		}
		d.addf(line, "", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.addf(extra.Line, "", "only one YAML document is allowed")
	} else if !errors.Is(err, io.EOF) {
		d.addf(1, "", "after the first document: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			d.addf(1, "", "the file is empty")
			return nil, false
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		d.addf(root.Line, "", "the file is empty")
		return nil, false
	}
	return root, true
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func joinIdx(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

var envRE = regexp.MustCompile(`\$\$\{|\$\{([^}]*)\}?`)
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expandEnv replaces ${NAME} in every scalar value (not key) of the tree
// before decoding, so that a number or duration can come from the
// environment too. "$${" stands for a literal "${". Aliases are skipped: the
// node they point to is expanded where it is anchored.
func (d *decoder) expandEnv(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.ScalarNode:
		if strings.Contains(n.Value, "${") {
			n.Value = d.expandValue(n, path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			d.expandEnv(n.Content[i+1], joinKey(path, n.Content[i].Value))
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			d.expandEnv(c, joinIdx(path, i))
		}
	}
}

func (d *decoder) expandValue(n *yaml.Node, path string) string {
	return envRE.ReplaceAllStringFunc(n.Value, func(m string) string {
		if m == "$${" {
			return "${"
		}
		if !strings.HasSuffix(m, "}") {
			d.typef(n, path, "unterminated ${ (write $${ for a literal ${)")
			return m
		}
		name := m[2 : len(m)-1]
		if !envNameRE.MatchString(name) {
			d.typef(n, path, "%q is not an environment variable name", name)
			return m
		}
		val, ok := os.LookupEnv(name)
		if !ok {
			d.typef(n, path, "environment variable %s is not set", name)
			return ""
		}
		return val
	})
}

var durationType = reflect.TypeOf(time.Duration(0))

// decode fills v from n, reporting every mismatch with n's line and
// carrying on, so that one run lists all problems.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	for hops := 0; n.Kind == yaml.AliasNode; hops++ {
		if n.Alias == nil || hops > 100 {
			d.typef(n, path, "unresolvable alias")
			return
		}
		n = n.Alias
	}
	if d.overBudget {
		return
	}
	if d.budget--; d.budget < 0 {
		d.overBudget = true
		d.addf(n.Line, path, "document too large after expanding aliases")
		return
	}
	if isNull(n) {
		return // absent: zero value, defaults apply later
	}
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		d.decode(n, p.Elem(), path)
		v.Set(p)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Array:
		d.decodeArray(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	default:
		d.decodeScalar(n, v, path)
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", truncate(n.Value, 40))
	}
	return "something else"
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

type fieldInfo struct {
	index int
	name  string
}

var fieldCache sync.Map // reflect.Type -> map[string]fieldInfo

// fieldsOf maps yaml key names to struct fields; unexported fields and
// `yaml:"-"` are not part of the file format.
func fieldsOf(t reflect.Type) map[string]fieldInfo {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]fieldInfo)
	}
	m := map[string]fieldInfo{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = fieldInfo{index: i, name: name}
	}
	fieldCache.Store(t, m)
	return m
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.typef(n, path, "expected a mapping, got %s", kindName(n))
		return
	}
	fields := fieldsOf(v.Type())
	// YAML merge keys ("<<: *defaults") first, so that keys written in the
	// mapping itself override merged ones wherever they appear.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Tag == "!!merge" {
			d.decodeMerge(n.Content[i+1], v, path)
		}
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.addf(k.Line, path, "a key must be a plain name, got %s", kindName(k))
			continue
		}
		if k.Value == "<<" && k.Tag == "!!merge" {
			continue
		}
		child := joinKey(path, k.Value)
		f, ok := fields[k.Value]
		if !ok {
			d.addf(k.Line, child, "unknown key%s", suggest(k.Value, fields))
			continue
		}
		if seen[k.Value] {
			d.addf(k.Line, child, "duplicate key")
			continue
		}
		seen[k.Value] = true
		d.lines[child] = k.Line
		fv := v.Field(f.index)
		if f.name == "schedule" && val.Kind == yaml.SequenceNode && fv.Kind() == reflect.String {
			d.joinSchedule(val, fv, child)
			continue
		}
		d.decode(val, fv, child)
	}
}

func (d *decoder) decodeMerge(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		d.decodeStruct(n, v, path)
	case yaml.SequenceNode:
		for _, c := range n.Content {
			d.decodeMerge(c, v, path)
		}
	default:
		d.addf(n.Line, path, "<< must merge a mapping, got %s", kindName(n))
	}
}

// joinSchedule accepts a schedule written as a YAML list of parts
// (["Mon-Fri 22:00-06:00", "Sat,Sun 00:00-24:00"]) as the parts joined by commas.
func (d *decoder) joinSchedule(n *yaml.Node, v reflect.Value, path string) {
	parts := make([]string, 0, len(n.Content))
	for i, c := range n.Content {
		if c.Kind != yaml.ScalarNode {
			d.typef(c, joinIdx(path, i), "expected a string, got %s", kindName(c))
			return
		}
		parts = append(parts, c.Value)
	}
	v.SetString(strings.Join(parts, ", "))
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.typef(n, path, "expected a list, got %s", kindName(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, c := range n.Content {
		child := joinIdx(path, i)
		d.lines[child] = c.Line
		d.decode(c, s.Index(i), child)
	}
	v.Set(s)
}

func (d *decoder) decodeArray(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode || len(n.Content) != v.Len() {
		d.typef(n, path, "expected a list of %d numbers, got %s", v.Len(), describeLen(n))
		return
	}
	for i, c := range n.Content {
		d.decode(c, v.Index(i), joinIdx(path, i))
	}
}

func describeLen(n *yaml.Node) string {
	if n.Kind == yaml.SequenceNode {
		return fmt.Sprintf("%d items", len(n.Content))
	}
	return kindName(n)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.typef(n, path, "expected a mapping, got %s", kindName(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.addf(k.Line, path, "a key must be a plain name, got %s", kindName(k))
			continue
		}
		child := joinKey(path, k.Value)
		if seen[k.Value] {
			d.addf(k.Line, child, "duplicate key")
			continue
		}
		seen[k.Value] = true
		d.lines[child] = k.Line
		ev := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, ev, child)
		v.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), ev)
	}
}

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.typef(n, path, "expected %s, got %s", scalarKind(v), kindName(n))
		return
	}
	s := strings.TrimSpace(n.Value)
	switch {
	case v.Kind() == reflect.String:
		v.SetString(n.Value)
	case v.Kind() == reflect.Bool:
		b, ok := parseBool(s)
		if !ok {
			d.typef(n, path, "expected true or false, got %s", kindName(n))
			return
		}
		v.SetBool(b)
	case v.Type() == durationType:
		dur, err := parseDuration(s)
		if err != nil {
			d.typef(n, path, "expected a duration such as 90s, 15m, 24h or 7d, got %s", kindName(n))
			return
		}
		v.SetInt(int64(dur))
	case v.Kind() >= reflect.Int && v.Kind() <= reflect.Int64:
		i, err := parseInt(s, strings.HasSuffix(path, "bytes") || strings.HasSuffix(path, "max_disk"))
		if err != nil || v.OverflowInt(i) {
			d.typef(n, path, "expected %s, got %s", scalarKind(v), kindName(n))
			return
		}
		v.SetInt(i)
	case v.Kind() == reflect.Float64 || v.Kind() == reflect.Float32:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.typef(n, path, "expected a number, got %s", kindName(n))
			return
		}
		v.SetFloat(f)
	default:
		// Only reachable if the schema gains a type this decoder does not know.
		d.addf(n.Line, path, "cannot decode into %s", v.Type())
	}
}

func scalarKind(v reflect.Value) string {
	switch {
	case v.Type() == durationType:
		return "a duration"
	case v.Kind() == reflect.String:
		return "a string"
	case v.Kind() == reflect.Bool:
		return "true or false"
	case v.Kind() >= reflect.Int && v.Kind() <= reflect.Int64:
		return "a whole number"
	default:
		return "a number"
	}
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true, true
	case "false", "no", "off":
		return false, true
	}
	return false, false
}

var sizeSuffixes = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
}

// parseDuration is time.ParseDuration plus whole days ("7d"), the unit
// retention periods are thought in.
func parseDuration(s string) (time.Duration, error) {
	if num, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseInt(num, 10, 64)
		if err != nil || days < 0 || days > 100*365 {
			return 0, fmt.Errorf("bad number of days %q", num)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// parseInt reads a whole number; byte sizes may carry a unit (512MiB, 2GB).
func parseInt(s string, size bool) (int64, error) {
	if size {
		for _, u := range sizeSuffixes {
			if num, ok := strings.CutSuffix(s, u.suffix); ok {
				i, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
				if err != nil {
					return 0, err
				}
				if i > math.MaxInt64/u.mult || i < math.MinInt64/u.mult {
					return 0, strconv.ErrRange
				}
				return i * u.mult, nil
			}
		}
	}
	return strconv.ParseInt(s, 0, 64)
}

// suggest names the closest known key for a typo, e.g. "zonez" -> "zones".
func suggest(key string, fields map[string]fieldInfo) string {
	best, bestDist := "", 3
	for name := range fields {
		if dist := editDistance(key, name); dist < bestDist || (dist == bestDist && best != "" && name < best) {
			best, bestDist = name, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99 // not a typo of any key, and keeps the work bounded
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
