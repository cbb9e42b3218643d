package optim

import (
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

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
		if !knownISA(s.Name()) {
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

func TestChooseDefault(t *testing.T) {
	c := choose("")
	if best := SupportedSets()[0]; c.set != best {
		t.Errorf(`choose("") = %s, want the first supported set %s`, c.set.Name(), best.Name())
	}
	if c.reason == "" {
		t.Error(`choose("") gives no reason`)
	}
}

func TestChooseForced(t *testing.T) {
	for _, s := range SupportedSets() {
		c := choose(s.Name())
		if c.set != s {
			t.Errorf("choose(%q) = %s", s.Name(), c.set.Name())
		}
		if !strings.Contains(c.reason, "OPTIM_ISA="+s.Name()) {
			t.Errorf("choose(%q) reason %q does not mention the setting", s.Name(), c.reason)
		}
	}
	if c := choose("generic"); c.set != kernels.Generic() {
		t.Errorf(`choose("generic") = %s, want generic`, c.set.Name())
	}
}

func TestChooseFallback(t *testing.T) {
	best := SupportedSets()[0]
	bad := []string{"bogus", "AVX2", " generic", "sse"}
	switch runtime.GOARCH {
	case "amd64":
		bad = append(bad, "neon")
	case "arm64":
		bad = append(bad, "avx2", "avx512")
	default:
		bad = append(bad, "avx2", "avx512", "neon")
	}
	// Every known set this CPU or build cannot run.
	for _, name := range []string{"avx2", "avx512", "neon"} {
		if !Supported(name) && !slices.Contains(bad, name) {
			bad = append(bad, name)
		}
	}
	for _, env := range bad {
		c := choose(env)
		if c.set != best {
			t.Errorf("choose(%q) = %s, want the fallback %s", env, c.set.Name(), best.Name())
		}
		if !strings.Contains(c.reason, "OPTIM_ISA="+env) {
			t.Errorf("choose(%q) reason %q does not mention the value", env, c.reason)
		}
		if !strings.Contains(c.reason, best.Name()) {
			t.Errorf("choose(%q) reason %q does not name the set chosen instead", env, c.reason)
		}
	}
	if c := choose("bogus"); !strings.Contains(c.reason, "not a kernel set") {
		t.Errorf(`choose("bogus") reason %q does not say it is not a kernel set`, c.reason)
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
