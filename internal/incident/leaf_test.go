package incident

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// The package is a leaf: config validates against it and the engine, the
// rules and the outputs import it, so it must import none of them.
func TestImportsNothingOfOurs(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sources: %v", err)
	}
	for _, name := range files {
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range f.Imports {
			if strings.HasPrefix(strings.Trim(im.Path.Value, `"`), "github.com/lanewatch/") {
				t.Errorf("%s imports %s", name, im.Path.Value)
			}
		}
	}
}

func TestNames(t *testing.T) {
	if got := TypeNames(); len(got) != len(Types) || got[0] != "intrusion" || got[len(got)-1] != "sos" {
		t.Errorf("TypeNames = %v", got)
	}
	if got := SeverityNames(); strings.Join(got, ",") != "low,medium,high,critical" {
		t.Errorf("SeverityNames = %v", got)
	}
}
