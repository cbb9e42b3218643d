package cpufeat

import (
	"runtime"
	"slices"
	"testing"
)

func TestParseISARoundTrip(t *testing.T) {
	for _, i := range All() {
		got, err := ParseISA(i.String())
		if err != nil || got != i {
			t.Errorf("ParseISA(%q) = %v, %v; want %v", i.String(), got, err, i)
		}
	}
	for _, bad := range []string{"", "AVX2", " generic", "avx", "sse", "avx512f"} {
		if _, err := ParseISA(bad); err == nil {
			t.Errorf("ParseISA(%q) accepted a name that is not a set", bad)
		}
	}
	if s := ISA(200).String(); s != "ISA(200)" {
		t.Errorf("ISA(200).String() = %q", s)
	}
	if ISA(200).Supported() {
		t.Error("an ISA out of range reports Supported")
	}
}

// TestFeatureLists: avx512 requires everything avx2 does, so that a CPU
// running avx512 can always fall back to avx2; generic requires nothing.
func TestFeatureLists(t *testing.T) {
	for _, f := range AVX2.Features() {
		if !slices.Contains(AVX512.Features(), f) {
			t.Errorf("avx512 does not require %v, which avx2 requires", f)
		}
	}
	if len(Generic.Features()) != 0 || Generic.Arch() != "" {
		t.Errorf("generic requires %v on %q, want nothing on any architecture", Generic.Features(), Generic.Arch())
	}
	if !Generic.Supported() {
		t.Error("generic must always be supported")
	}
	// Features returns a copy: the one list cannot be edited by a caller.
	AVX512.Features()[0] = 0
	if AVX512.Features()[0] == 0 {
		t.Error("Features returned the table itself")
	}
}

func TestSupportedOnlyOnItsArch(t *testing.T) {
	for _, i := range All() {
		if i.Arch() != "" && i.Arch() != runtime.GOARCH && i.Supported() {
			t.Errorf("%v (for %s) reports Supported on %s", i, i.Arch(), runtime.GOARCH)
		}
		if Supports(i.String()) != i.Supported() {
			t.Errorf("Supports(%q) disagrees with %v.Supported()", i.String(), i)
		}
	}
	if runtime.GOARCH == "arm64" && !NEON.Supported() {
		t.Error("NEON is baseline on arm64")
	}
	if Supports("bogus") || Supports("") {
		t.Error("Supports accepts a name that is not a set")
	}
	t.Logf("%s", Describe())
}

func TestCompiled(t *testing.T) {
	c := Compiled()
	if len(c) == 0 || c[len(c)-1] != Generic {
		t.Fatalf("Compiled() = %v, want generic last", c)
	}
	for _, i := range c[:len(c)-1] {
		if i.Arch() != runtime.GOARCH {
			t.Errorf("Compiled() has %v, written for %s, on %s", i, i.Arch(), runtime.GOARCH)
		}
	}
	// Fastest first: avx512 before avx2.
	if i, j := slices.Index(c, AVX512), slices.Index(c, AVX2); i >= 0 && j >= 0 && i > j {
		t.Errorf("Compiled() = %v, want avx512 before avx2", c)
	}
	c[0] = 99
	if Compiled()[0] == 99 {
		t.Error("Compiled returned its own list")
	}
}
