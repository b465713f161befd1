package config_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/lanewatch/lanewatch/internal/config"
)

// readByConfigItself are the fields whose only reader is package config:
// each is consumed while loading and never needed afterwards. Every entry
// says who reads it. Nothing else belongs here: a key that is documented
// must change what the gateway does.
var readByConfigItself = map[string]string{
	// Load reads site.timezone into the *time.Location that Config.Location
	// returns; components take the Location.
	"Config.Site.Timezone": "config.Location",
	// Mask ids only name a mask in validation messages (duplicates, bad
	// polygons); masks act by their kind and polygon.
	"Config.Cameras.Masks.ID": "config.validate",
}

// TestEveryFieldIsRead walks every field of config.Config and fails for one
// that no Go code outside internal/config (tests excluded) selects: a key
// that is parsed, validated and documented but read by nothing (as
// zones[].cooldown was) promises something the gateway does not do. The
// selections are resolved by type (go/types), so Zone.Cooldown is not
// mistaken for Incidents.Cooldown. A field passed on only as part of its
// struct counts when the receiving code selects it.
func TestEveryFieldIsRead(t *testing.T) {
	read := fieldsRead(t)
	var fields []string
	walkFields(reflect.TypeOf(config.Config{}), "Config", map[reflect.Type]bool{}, func(path, typeField string) {
		fields = append(fields, path)
		if _, ok := readByConfigItself[path]; ok {
			if read[typeField] {
				t.Errorf("%s is read outside internal/config: take it off readByConfigItself", path)
			}
			return
		}
		if !read[typeField] {
			t.Errorf("%s (%s) is read nowhere outside internal/config", path, typeField)
		}
	})
	if len(fields) < 50 {
		t.Fatalf("walked only %d fields: the walk is broken", len(fields))
	}
	for path := range readByConfigItself {
		if !slices.Contains(fields, path) {
			t.Errorf("allow-list entry %s is not a field of config.Config", path)
		}
	}
}

// walkFields calls f for every exported field reachable from typ, through
// pointers, slices, arrays and map values, with its dotted path and its
// "Type.Field" name.
func walkFields(typ reflect.Type, path string, seen map[reflect.Type]bool, f func(path, name string)) {
	for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Array || typ.Kind() == reflect.Map {
		typ = typ.Elem()
	}
	if typ.Kind() != reflect.Struct || typ.PkgPath() != reflect.TypeOf(config.Config{}).PkgPath() || seen[typ] {
		return
	}
	seen[typ] = true
	defer delete(seen, typ)
	for i := range typ.NumField() {
		sf := typ.Field(i)
		if !sf.IsExported() {
			continue
		}
		p := path + "." + sf.Name
		f(p, typ.Name()+"."+sf.Name)
		walkFields(sf.Type, p, seen, f)
	}
}

// fieldsRead type-checks every non-test package of the module outside
// internal/config and returns the config fields it selects, as
// "Type.Field". Dependencies come from the compiler's export data (go list
// -export); cgo calls are type-checked with FakeImportC, which leaves C
// identifiers untyped but every Go selector resolved.
func fieldsRead(t *testing.T) map[string]bool {
	t.Helper()
	cmd := exec.Command("go", "list", "-export", "-deps", "-json=ImportPath,Export,Dir,GoFiles,CgoFiles,Module", "./...")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	type pkg struct {
		ImportPath, Export, Dir string
		GoFiles, CgoFiles       []string
		Module                  *struct{ Path string }
	}
	exports := map[string]string{}
	var mine []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		exports[p.ImportPath] = p.Export
		if p.Module != nil && p.Module.Path == module && p.ImportPath != configPkg {
			mine = append(mine, p)
		}
	}
	if len(mine) < 20 {
		t.Fatalf("go list found only %d packages of %s", len(mine), module)
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		f, ok := exports[path]
		if !ok || f == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(f)
	})
	// One importer for every package: the config package is loaded once, so
	// its field objects are the same in every package's type information.
	used := map[*types.Var]bool{}
	for _, p := range mine {
		var files []*ast.File
		for _, name := range append(p.GoFiles, p.CgoFiles...) {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		info := &types.Info{Selections: map[*ast.SelectorExpr]*types.Selection{}}
		conf := types.Config{Importer: imp, FakeImportC: true, Error: func(error) {}}
		conf.Check(p.ImportPath, fset, files, info) //nolint:errcheck // C.* identifiers do not type-check; the selections of Go code are complete
		for _, sel := range info.Selections {
			if v, ok := sel.Obj().(*types.Var); ok && v.IsField() {
				used[v] = true
			}
		}
	}
	cfgPkg, err := imp.Import(configPkg)
	if err != nil {
		t.Fatal(err)
	}
	read := map[string]bool{}
	scope := cfgPkg.Scope()
	for _, name := range scope.Names() {
		st, ok := scope.Lookup(name).Type().Underlying().(*types.Struct)
		if !ok {
			continue
		}
		for i := range st.NumFields() {
			if used[st.Field(i)] {
				read[name+"."+st.Field(i).Name()] = true
			}
		}
	}
	return read
}

const (
	module    = "github.com/lanewatch/lanewatch"
	configPkg = module + "/internal/config"
)
