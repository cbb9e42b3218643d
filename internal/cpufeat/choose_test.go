package cpufeat

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// usable returns the compiled sets this CPU supports, fastest first.
func usable() []ISA {
	var out []ISA
	for _, i := range Compiled() {
		if i.Supported() {
			out = append(out, i)
		}
	}
	return out
}

func TestChooseDefault(t *testing.T) {
	c := Choose("")
	if best := usable()[0]; c.ISA != best {
		t.Errorf(`Choose("") = %v, want the first supported set %v`, c.ISA, best)
	}
	if c.Reason == "" {
		t.Error(`Choose("") gives no reason`)
	}
}

func TestChooseForced(t *testing.T) {
	for _, i := range usable() {
		c := Choose(i.String())
		if c.ISA != i {
			t.Errorf("Choose(%q) = %v", i.String(), c.ISA)
		}
		if !strings.Contains(c.Reason, "OPTIM_ISA="+i.String()) {
			t.Errorf("Choose(%q) reason %q does not mention the setting", i.String(), c.Reason)
		}
	}
	if c := Choose("generic"); c.ISA != Generic {
		t.Errorf(`Choose("generic") = %v, want generic`, c.ISA)
	}
}

func TestChooseFallback(t *testing.T) {
	best := usable()[0]
	bad := []string{"bogus", "AVX2", " generic", "sse"}
	// Every known set this CPU or build cannot run.
	for _, i := range All() {
		if !slices.Contains(usable(), i) {
			bad = append(bad, i.String())
		}
	}
	for _, env := range bad {
		c := Choose(env)
		if c.ISA != best {
			t.Errorf("Choose(%q) = %v, want the fallback %v", env, c.ISA, best)
		}
		if !strings.Contains(c.Reason, "OPTIM_ISA="+env) {
			t.Errorf("Choose(%q) reason %q does not mention the value", env, c.Reason)
		}
		if !strings.Contains(c.Reason, best.String()) {
			t.Errorf("Choose(%q) reason %q does not name the set chosen instead", env, c.Reason)
		}
	}
	if c := Choose("bogus"); !strings.Contains(c.Reason, "not a kernel set (want generic, avx2, avx512 or neon)") {
		t.Errorf(`Choose("bogus") reason %q does not say it is not a kernel set`, c.Reason)
	}
}

// TestChooseOtherMachines poses as CPUs and builds this one is not, so that
// every branch of the choice runs on any machine.
func TestChooseOtherMachines(t *testing.T) {
	amd64 := []ISA{AVX512, AVX2, Generic}
	avx2Only := func(i ISA) bool { return i == AVX2 || i == Generic }
	for _, tc := range []struct {
		env       string
		compiled  []ISA
		supported func(ISA) bool
		want      ISA
		reason    string
	}{
		{"", amd64, avx2Only, AVX2, "avx2 is the fastest set this CPU supports"},
		{"avx512", amd64, avx2Only, AVX2, "OPTIM_ISA=avx512 is not supported by this CPU; avx2 is the fastest"},
		{"neon", amd64, avx2Only, AVX2, "OPTIM_ISA=neon is not compiled into this binary"},
		{"generic", amd64, avx2Only, Generic, "OPTIM_ISA=generic selected it"},
		{"avx2", amd64, avx2Only, AVX2, "OPTIM_ISA=avx2 selected it"},
		{"", amd64, func(i ISA) bool { return i == Generic }, Generic, "generic is the fastest set this CPU supports"},
		{"avx2", []ISA{Generic}, ISA.Supported, Generic, "OPTIM_ISA=avx2 is not compiled into this binary; generic is the only set compiled in"},
		{"", []ISA{NEON, Generic}, func(ISA) bool { return true }, NEON, "neon is the fastest"},
	} {
		c := choose(tc.env, tc.compiled, tc.supported)
		if c.ISA != tc.want || !strings.Contains(c.Reason, tc.reason) {
			t.Errorf("choose(%q, %v) = %v, %q; want %v, %q", tc.env, tc.compiled, c.ISA, c.Reason, tc.want, tc.reason)
		}
	}
}

// TestChosen: the decision every package reads honours OPTIM_ISA (CI also
// runs the tests with OPTIM_ISA=generic).
func TestChosen(t *testing.T) {
	env := os.Getenv("OPTIM_ISA")
	if c := Chosen(); c != Choose(env) {
		t.Errorf("Chosen() = %v, Choose(%q) = %v", c, env, Choose(env))
	}
	t.Logf("Chosen() = %v: %s", Chosen().ISA, Chosen().Reason)
}

// TestChooseExtensionsOff: "no<ext>" terms switch extensions off, alone or
// beside a set's name; a value with any other bad term is ignored whole.
func TestChooseExtensionsOff(t *testing.T) {
	amd64 := []ISA{AVX512, AVX2, Generic}
	all := func(ISA) bool { return true }
	for _, tc := range []struct {
		env    string
		want   ISA
		off    bool
		reason string
	}{
		{"nobf16", AVX512, true, "OPTIM_ISA=nobf16 switches extensions off; avx512 is the fastest"},
		{"avx512,nobf16", AVX512, true, "OPTIM_ISA=avx512,nobf16 selected it"},
		{"nobf16,avx2", AVX2, true, "selected it"},
		{"avx2", AVX2, false, "selected it"},
		{"avx2,avx512", AVX512, false, "names more than one kernel set"},
		{"bogus,nobf16", AVX512, false, "is not a kernel set"},
		{"nobogus", AVX512, false, "is not a kernel set"},
		{"bf16", AVX512, false, "is not a kernel set"},
	} {
		c := choose(tc.env, amd64, all)
		if c.ISA != tc.want || c.Off.Has(BF16) != tc.off || !strings.Contains(c.Reason, tc.reason) {
			t.Errorf("choose(%q) = %v, off %v, %q; want %v, off %v, %q", tc.env, c.ISA, c.Off.Has(BF16), c.Reason, tc.want, tc.off, tc.reason)
		}
	}
}

func TestExtensions(t *testing.T) {
	for _, e := range Exts() {
		if e.Supported() && !e.Set().Supported() {
			t.Errorf("%v is supported without its set %v", e, e.Set())
		}
		if e.Enabled() && (!e.Supported() || Chosen().Off.Has(e)) {
			t.Errorf("%v is enabled: supported %v, switched off %v", e, e.Supported(), Chosen().Off.Has(e))
		}
		if _, ok := parseExtOff("no" + e.String()); !ok {
			t.Errorf("no%s does not parse", e)
		}
		t.Logf("%v (%v in %v): supported %v, enabled %v", e, e.Features(), e.Set(), e.Supported(), e.Enabled())
	}
	if s := Ext(9).String(); s != "Ext(9)" || Ext(9).Supported() {
		t.Errorf("Ext(9): %q, supported %v", s, Ext(9).Supported())
	}
}
