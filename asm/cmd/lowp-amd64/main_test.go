package main

import (
	"path/filepath"
	"regexp"
	"testing"

	"github.com/simdoptim/optim/asm/internal/gentest"
	"github.com/simdoptim/optim/asm/internal/x86"
)

// TestCheckedInOutputIsCurrent regenerates both files and compares them
// with the ones in package kernels, then checks the assembly.
func TestCheckedInOutputIsCurrent(t *testing.T) {
	dir := t.TempDir()
	out, stubs := filepath.Join(dir, "lowp_amd64.s"), filepath.Join(dir, "lowp_amd64.go")
	if err := run(out, stubs); err != nil {
		t.Fatal(err)
	}
	asm := gentest.Current(t, out, stubs)[0]
	if m := regexp.MustCompile(`\b(V?LDMXCSR|V?STMXCSR|FLDCW)\b`).Find(asm); m != nil {
		t.Errorf("assembly touches the floating-point control state: %s", m)
	}
	want := 0
	for _, f := range x86.NewBackend().ConvForms() {
		want += len(f.Kinds)
	}
	if n := len(regexp.MustCompile(`(?m)^TEXT `).FindAll(asm, -1)); n != want {
		t.Errorf("%d assembly functions, want %d", n, want)
	}
}

// TestCvtNEPS2BF16 checks the hand-made encoding against llvm-mc's
// (llvm-mc -mattr=+avx512bf16 -show-encoding).
func TestCvtNEPS2BF16(t *testing.T) {
	for _, tc := range []struct {
		dst, src int
		want     [6]byte
	}{
		{1, 2, [6]byte{0x62, 0xf2, 0x7e, 0x48, 0x72, 0xca}},
		{0, 0, [6]byte{0x62, 0xf2, 0x7e, 0x48, 0x72, 0xc0}},
		{9, 12, [6]byte{0x62, 0x52, 0x7e, 0x48, 0x72, 0xcc}},
		{3, 15, [6]byte{0x62, 0xd2, 0x7e, 0x48, 0x72, 0xdf}},
		{17, 30, [6]byte{0x62, 0x82, 0x7e, 0x48, 0x72, 0xce}},
	} {
		if got := x86.CvtNEPS2BF16(tc.dst, tc.src); got != tc.want {
			t.Errorf("vcvtneps2bf16 ymm%d, zmm%d = % x, want % x", tc.dst, tc.src, got, tc.want)
		}
	}
}
