package generic

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/simdoptim/optim/internal/ir"
)

// TestRegistry checks the descriptions against each other: every rule sits
// at its Kind, names are distinct, the summary is given, the axes give
// exactly the variants the coefficient function produces, among them the
// typical variant, and the slots each variant uses are the state streams
// its program touches.
func TestRegistry(t *testing.T) {
	rules := Rules()
	if len(rules) != int(KindCount) {
		t.Fatalf("%d rules, want %d", len(rules), KindCount)
	}
	names := map[string]bool{}
	for k, r := range rules {
		if r.Kind != Kind(k) {
			t.Errorf("Rules()[%d].Kind = %v", k, r.Kind)
		}
		if r.Name == "" || names[r.Name] || r.GoName == "" || Kind(k).String() != r.GoName {
			t.Errorf("%v: name %q / Go name %q missing, repeated or not the Kind's String", Kind(k), r.Name, r.GoName)
		}
		names[r.Name] = true
		if r.Summary == "" || len(r.Slots) > ir.NumStreams-ir.StreamS0 || r.program == nil || r.Produced == nil || r.ref32 == nil || r.ref64 == nil {
			t.Errorf("%v: incomplete description", r.Kind)
		}
		vs := r.Variants()
		sorted := slices.Clone(vs)
		slices.Sort(sorted)
		if !slices.Equal(slices.Compact(sorted), r.Produced()) || len(sorted) != len(vs) {
			t.Errorf("%v: axes give %v, the coefficient function produces %v", r.Kind, vs, r.Produced())
		}
		if !slices.Contains(vs, r.TypicalVariant) {
			t.Errorf("%v: typical variant %s is not one of the rule's variants", r.Kind, r.TypicalVariant.Expr(""))
		}
		for _, v := range vs {
			p := ir.Build(int(r.Kind), uint32(v))
			used := r.Uses(v)
			for s := range 3 {
				if p.Streams[ir.StreamS0+s] != used[s] {
					t.Errorf("%s: slot %d used %v, program touches it %v", p.Name(), s, used[s], p.Streams[ir.StreamS0+s])
				}
			}
			if !p.Streams[ir.StreamP] || !p.Streams[ir.StreamG] {
				t.Errorf("%s: does not read p and g", p.Name())
			}
		}
	}
	if got, want := KindCount.String(), fmt.Sprintf("Kind(%d)", int(KindCount)); got != want {
		t.Errorf("KindCount.String() = %q, want %q", got, want)
	}
}

// TestRegistryGoNames checks the names that GoName promises and that
// package kernels' generated documentation links to: each rule's reference
// kernel GoName and its coefficient function GoName+"Coeffs" are functions
// of this package.
func TestRegistryGoNames(t *testing.T) {
	funcs := map[string]bool{}
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil {
				funcs[fn.Name.Name] = true
			}
		}
	}
	for _, r := range Rules() {
		for _, name := range []string{r.GoName, r.GoName + "Coeffs"} {
			if !funcs[name] {
				t.Errorf("%v: package generic has no function %s", r.Kind, name)
			}
		}
	}
}

type namedFloat float32

// TestReferenceNamedType checks that a named float type reaches the
// reference of its underlying type.
func TestReferenceNamedType(t *testing.T) {
	c, v := SGDCoeffs[namedFloat](0.5, 0, 0, 0, false, false, false)
	p, g := []namedFloat{1}, []namedFloat{2}
	Reference[namedFloat](KindSGD)(v, &c, p, g, nil, nil, nil)
	if p[0] != 0 {
		t.Fatalf("p = %v, want 0", p[0])
	}
}
