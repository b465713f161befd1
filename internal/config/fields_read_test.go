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
	"maps"
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
	// Mask ids only name a mask in validation messages (duplicates, bad
	// polygons); masks act by their kind and polygon.
	"Config.Cameras.Masks.ID": "config.validate",
}

// notReadYet are keys accepted and validated ahead of the code that will
// read them, each documented as such in docs/configuration.md and owned by
// an open issue. The test fails once one is read, so that it leaves here.
var notReadYet = map[string]string{}

// TestEveryFieldIsRead walks every field of config.Config and fails for one
// that no Go code outside internal/config (tests excluded) selects: a key
// that is parsed, validated and documented but read by nothing (as
// zones[].cooldown was) promises something the gateway does not do. The
// selections are resolved by type (go/types), so Zone.Cooldown is not
// mistaken for Incidents.Cooldown. A field passed on only as part of its
// struct counts when the receiving code selects it, and a field that a
// config method reads counts when code outside calls the method.
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
		if _, ok := notReadYet[path]; ok {
			if read[typeField] {
				t.Errorf("%s is read now: take it off notReadYet", path)
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
	for path := range notReadYet {
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
// internal/config and returns the config fields it reads, as "Type.Field":
// the fields it selects, and the fields read by the config methods it
// calls (ONVIF.Credentials reads ONVIF.Username, ...), followed through
// methods calling methods. Dependencies come from the compiler's export data
// (go list -export); cgo calls are type-checked with FakeImportC, which
// leaves C identifiers untyped but every Go selector resolved.
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
	var cfgSrc pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		exports[p.ImportPath] = p.Export
		switch {
		case p.ImportPath == configPkg:
			cfgSrc = p
		case p.Module != nil && p.Module.Path == module:
			mine = append(mine, p)
		}
	}
	if len(mine) < 20 || cfgSrc.Dir == "" {
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
	check := func(p pkg) (*types.Package, *types.Info, []*ast.File) {
		var files []*ast.File
		for _, name := range append(p.GoFiles, p.CgoFiles...) {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		info := &types.Info{Selections: map[*ast.SelectorExpr]*types.Selection{}, Defs: map[*ast.Ident]types.Object{}}
		conf := types.Config{Importer: imp, FakeImportC: true, Error: func(error) {}}
		tp, _ := conf.Check(p.ImportPath, fset, files, info) // C.* identifiers do not type-check; the selections of Go code are complete
		return tp, info, files
	}
	// One importer for every package: the config package is loaded once, so
	// its field and method objects are the same in every package's type
	// information.
	cfgPkg, err := imp.Import(configPkg)
	if err != nil {
		t.Fatal(err)
	}
	names := memberNames(cfgPkg)
	read := map[string]bool{}
	called := map[string]bool{}
	for _, p := range mine {
		_, info, _ := check(p)
		for _, sel := range info.Selections {
			if n, ok := names[sel.Obj()]; ok {
				if _, isFunc := sel.Obj().(*types.Func); isFunc {
					called[n] = true
				} else {
					read[n] = true
				}
			}
		}
	}
	// What each config method reads and calls, from config's own source.
	src, info, files := check(cfgSrc)
	srcNames := memberNames(src)
	reads, calls := map[string][]string{}, map[string][]string{}
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv == nil || fd.Body == nil {
				continue
			}
			m := srcNames[info.Defs[fd.Name]]
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				if se, ok := n.(*ast.SelectorExpr); ok {
					if sel := info.Selections[se]; sel != nil {
						if n, ok := srcNames[sel.Obj()]; ok {
							if _, isFunc := sel.Obj().(*types.Func); isFunc {
								calls[m] = append(calls[m], n)
							} else {
								reads[m] = append(reads[m], n)
							}
						}
					}
				}
				return true
			})
		}
	}
	for queue := slices.Collect(maps.Keys(called)); len(queue) > 0; queue = queue[1:] {
		m := queue[0]
		for _, f := range reads[m] {
			read[f] = true
		}
		for _, c := range calls[m] {
			if !called[c] {
				called[c] = true
				queue = append(queue, c)
			}
		}
	}
	return read
}

// memberNames names the fields and methods of pkg's named types "Type.Name".
func memberNames(pkg *types.Package) map[types.Object]string {
	out := map[types.Object]string{}
	scope := pkg.Scope()
	for _, name := range scope.Names() {
		tn, ok := scope.Lookup(name).(*types.TypeName)
		if !ok {
			continue
		}
		named, ok := tn.Type().(*types.Named)
		if !ok {
			continue
		}
		for i := range named.NumMethods() {
			out[named.Method(i)] = name + "." + named.Method(i).Name()
		}
		if st, ok := named.Underlying().(*types.Struct); ok {
			for i := range st.NumFields() {
				out[st.Field(i)] = name + "." + st.Field(i).Name()
			}
		}
	}
	return out
}

const (
	module    = "github.com/lanewatch/lanewatch"
	configPkg = module + "/internal/config"
)
