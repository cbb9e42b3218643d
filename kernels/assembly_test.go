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
// description, each case naming the program of that variant (a constant of
// update_programs.go whose value is the variant) and calling its assembly
// function, which the assembly file defines. No variant in use falls back
// to Go.
func TestEveryVariantHasAssembly(t *testing.T) {
	programs := programConstants(t)
	caseRE := regexp.MustCompile(`\n\tcase (\w+):\n\t\t(\w+)\(`)
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
						v, ok := programs[c[1]]
						if !ok {
							t.Errorf("%s: case %s is not a program of update_programs.go", glue, c[1])
							continue
						}
						got = append(got, v)
						if want := fmt.Sprintf("%s_v%02x", r.Name, uint32(v)); c[1] != want {
							t.Errorf("%s: case %s (variant %s) is not %s's program of the variant", glue, c[1], variantName(v), want)
						}
						want := fmt.Sprintf("%s_%s_%s", c[1], set, d)
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

// programConstants reads the update programs' constants of
// update_programs.go, "const adam_v41 generic.Variant = ...", and returns
// each one's variant by its name.
func programConstants(t *testing.T) map[string]Variant {
	src, err := os.ReadFile("update_programs.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Variant{}
	for _, m := range regexp.MustCompile(`(?m)^const (\w+) generic\.Variant = (.+)$`).FindAllStringSubmatch(string(src), -1) {
		out[m[1]] = parseVariant(t, m[2])
	}
	if len(out) == 0 {
		t.Fatal("update_programs.go declares no program")
	}
	return out
}

// parseVariant evaluates the value of a program's constant: "0" or
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
