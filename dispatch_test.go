package optim

import (
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/simdoptim/optim/internal/cpufeat"
	"github.com/simdoptim/optim/kernels"
)

func TestSupportedSetsOrder(t *testing.T) {
	sets := SupportedSets()
	if len(sets) == 0 || sets[len(sets)-1] != kernels.Generic() {
		t.Fatalf("SupportedSets() = %v, want generic last", supportedNames())
	}
	for _, s := range sets {
		if !Supported(s.Name()) {
			t.Errorf("Supported(%q) = false for a member of SupportedSets", s.Name())
		}
		if _, err := cpufeat.ParseISA(s.Name()); err != nil {
			t.Errorf("SupportedSets has an unknown set %q", s.Name())
		}
	}
	if Supported("bogus") || Supported("") {
		t.Error("Supported accepts a name that is not a set")
	}
	// Fastest first: avx512 before avx2.
	names := supportedNames()
	if i, j := slices.Index(names, "avx512"), slices.Index(names, "avx2"); i >= 0 && j >= 0 && i > j {
		t.Errorf("SupportedSets() = %v, want avx512 before avx2", names)
	}
}

func TestISA(t *testing.T) {
	isa := ISA()
	if !slices.Contains([]string{"generic", "avx2", "avx512", "neon"}, isa) {
		t.Fatalf("ISA() = %q, not one of the four sets", isa)
	}
	if Kernels().Name() != isa {
		t.Errorf("Kernels() is %s, ISA() %s", Kernels().Name(), isa)
	}
	if ISAReason() == "" {
		t.Error("ISAReason() is empty")
	}
	t.Logf("ISA() = %s: %s", isa, ISAReason())
	// CI also runs the tests with OPTIM_ISA=generic: the package must honour it.
	env := os.Getenv("OPTIM_ISA")
	want := SupportedSets()[0].Name()
	if env != "" && Supported(env) {
		want = env
	}
	if isa != want {
		t.Errorf("ISA() = %s with OPTIM_ISA=%q, want %s", isa, env, want)
	}
	if env != "" && !strings.Contains(ISAReason(), env) {
		t.Errorf("ISAReason() %q does not mention OPTIM_ISA=%s", ISAReason(), env)
	}
}

// TestOneChooser: package optim runs the set internal/cpufeat chose, with
// its reason; there is no second decision to drift from it. (The choice
// itself is tested in internal/cpufeat.)
func TestOneChooser(t *testing.T) {
	c := cpufeat.Chosen()
	if ISA() != c.ISA.String() || ISAReason() != c.Reason {
		t.Errorf("ISA() = %s (%q), cpufeat chose %v (%q)", ISA(), ISAReason(), c.ISA, c.Reason)
	}
}

// TestCompiledAgrees: package kernels compiles exactly the sets cpufeat
// chooses between, in the same order.
func TestCompiledAgrees(t *testing.T) {
	var got, want []string
	for _, s := range kernels.Compiled() {
		got = append(got, s.Name())
	}
	for _, i := range cpufeat.Compiled() {
		want = append(want, i.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("kernels.Compiled() = %v, cpufeat.Compiled() = %v", got, want)
	}
	for _, s := range kernels.Compiled() {
		if s.Supported() != cpufeat.Supports(s.Name()) {
			t.Errorf("%s: kernels says supported=%v, cpufeat %v", s.Name(), s.Supported(), cpufeat.Supports(s.Name()))
		}
	}
}

// TestKernelsForMissingSet: were cpufeat to choose a set package kernels
// lacks, generic runs and the reason says so, rather than a nil set.
func TestKernelsForMissingSet(t *testing.T) {
	missing := cpufeat.NEON
	if runtime.GOARCH == "arm64" {
		missing = cpufeat.AVX2
	}
	c := kernelsFor(cpufeat.Choice{ISA: missing, Reason: "posed"})
	if c.set != kernels.Generic() || !strings.Contains(c.reason, "posed") || !strings.Contains(c.reason, "no "+missing.String()+" set") {
		t.Errorf("kernelsFor(%v) = %s, %q", missing, c.set.Name(), c.reason)
	}
}

// TestREADMEFeatureLists: the README's table of kernel sets names exactly
// the CPU features internal/cpufeat requires for each set, the one list.
func TestREADMEFeatureLists(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, i := range cpufeat.All() {
		for _, f := range i.Features() {
			known[f.String()] = true
		}
	}
	for _, i := range cpufeat.All() {
		prefix := "| `" + i.String() + "` |"
		var row string
		for _, line := range strings.Split(string(readme), "\n") {
			if strings.HasPrefix(line, prefix) {
				row = line
			}
		}
		if row == "" {
			t.Errorf("README has no table row for %s", i)
			continue
		}
		var named []string
		for _, w := range strings.FieldsFunc(row, func(r rune) bool {
			return !('A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9')
		}) {
			if known[w] && !slices.Contains(named, w) {
				named = append(named, w)
			}
		}
		var want []string
		for _, f := range i.Features() {
			want = append(want, f.String())
		}
		slices.Sort(named)
		slices.Sort(want)
		if !slices.Equal(named, want) {
			t.Errorf("README row for %s names the features %v; internal/cpufeat requires %v", i, named, want)
		}
	}
}
