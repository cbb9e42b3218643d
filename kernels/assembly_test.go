package kernels

import (
	"fmt"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/simdoptim/optim/generic"
)

// generatedFiles are the generated Go files and the kernel sets each holds.
var generatedFiles = map[string][]string{"update_amd64": {"avx512", "avx2"}, "update_arm64": {"neon"}}

// TestEveryVariantHasAssembly reads the generated files (as text, so on
// every architecture) and checks that, in every set and for both element
// types, each rule's kernel switches on exactly the variants of the rule's
// description, each case calling the assembly function of that variant,
// which the assembly file defines. No variant in use falls back to Go.
func TestEveryVariantHasAssembly(t *testing.T) {
	caseRE := regexp.MustCompile(`\n\tcase ([^:]+):\n\t\t(\w+)\(`)
	for file, sets := range generatedFiles {
		src, err := os.ReadFile(file + ".go")
		if err != nil {
			t.Fatal(err)
		}
		asm, err := os.ReadFile(file + ".s")
		if err != nil {
			t.Fatal(err)
		}
		for _, set := range sets {
			for _, d := range []string{"f32", "f64"} {
				for _, r := range generic.Rules() {
					glue := fmt.Sprintf("%s_%s_%s", r.Name, set, d)
					body := regexp.MustCompile(`(?s)\nfunc ` + glue + `\(v generic\.Variant.*?\n}\n`).FindString(string(src))
					if body == "" {
						t.Errorf("%s.go: no function %s", file, glue)
						continue
					}
					var got []Variant
					for _, c := range caseRE.FindAllStringSubmatch(body, -1) {
						v := parseVariant(t, c[1])
						got = append(got, v)
						want := fmt.Sprintf("%s_v%02x_%s_%s", r.Name, uint32(v), set, d)
						if c[2] != want {
							t.Errorf("%s: case %s calls %s, want %s", glue, c[1], c[2], want)
						}
						if !strings.Contains(string(asm), "TEXT ·"+want+"(SB)") {
							t.Errorf("%s.s: no assembly function %s", file, want)
						}
					}
					if !slices.Equal(got, r.Variants()) {
						t.Errorf("%s switches on %v, the description lists %v", glue, got, r.Variants())
					}
				}
			}
		}
	}
}

// parseVariant evaluates a case label of the generated switch: "0" or
// generic's Var constants joined by "|".
func parseVariant(t *testing.T, expr string) Variant {
	var v Variant
	if expr == "0" {
		return 0
	}
	for _, term := range strings.Split(expr, "|") {
		name := strings.TrimPrefix(strings.TrimSpace(term), "generic.")
		i := slices.Index(generic.VariantNames[:], name)
		if i < 0 {
			t.Fatalf("case label %q: unknown term %q", expr, term)
		}
		v |= 1 << i
	}
	return v
}

// TestCompiledSets checks which sets this build compiles, fastest first and
// generic last, and that each has a kernel for every rule.
func TestCompiledSets(t *testing.T) {
	var names []string
	for _, s := range Compiled() {
		names = append(names, s.name)
		for k := range kindCount {
			if s.f32[k] == nil || s.f64[k] == nil {
				t.Errorf("%s: no kernel for %v", s.name, k)
			}
		}
		if got, ok := Lookup(s.name); !ok || got != s {
			t.Errorf("Lookup(%q) does not find the compiled set", s.name)
		}
	}
	want := []string{"generic"}
	if len(archSets()) > 0 { // not a noasm build
		want = append(generatedFiles["update_"+runtime.GOARCH], want...)
	}
	if !slices.Equal(names, want) {
		t.Errorf("Compiled() = %v, want %v", names, want)
	}
}
