package main

import (
	"bytes"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/simdoptim/optim/asm/internal/gentest"
	"github.com/simdoptim/optim/asm/internal/kernelgen"
	"github.com/simdoptim/optim/asm/internal/x86"
	"github.com/simdoptim/optim/internal/ir"
)

// TestCheckedInOutputIsCurrent regenerates both files and compares them
// with the ones in package kernels, then checks the assembly.
func TestCheckedInOutputIsCurrent(t *testing.T) {
	dir := t.TempDir()
	out, stubs := filepath.Join(dir, "update_amd64.s"), filepath.Join(dir, "update_amd64.go")
	if err := run(out, stubs); err != nil {
		t.Fatal(err)
	}
	checkAssembly(t, gentest.Current(t, out, stubs)[0])
}

// checkAssembly checks properties the exactness of the kernels rests on.
func checkAssembly(t *testing.T, asm []byte) {
	// A fused multiply-add rounds once where the reference rounds twice,
	// except in the division with Markstein's correction (x86's
	// divMarkstein), which gives the division's bits: its exact sequence,
	// in a kernel that checks the coefficient's range first, is the only
	// place one may appear.
	markstein := regexp.MustCompile(`(?m)^\tVFPCLASSP([SD])Z +\$0x9f, (Z\d+), K7\n\tKNOTW +K7, K7\n(\tVMOVAP[SD] +Z\d+, Z\d+\n)?\tVMULP[SD] +Z\d+, Z\d+, Z\d+\n\tVFNMADD231P[SD] +Z\d+, Z\d+, Z\d+\n\tVFMADD231P[SD] +Z\d+, Z\d+, K7, Z\d+\n`)
	corrected := 0
	for _, fn := range bytes.Split(asm, []byte("\nTEXT ")) {
		if markstein.Match(fn) {
			corrected++
			if !regexp.MustCompile(`(?m)^\tJA +divide$`).Match(fn) {
				t.Errorf("%s corrects a division without checking the coefficient's range", fn[:bytes.IndexByte(fn, '(')])
			}
		}
	}
	if corrected == 0 {
		t.Error("no kernel divides with Markstein's correction")
	}
	if m := regexp.MustCompile(`\bVF[N]?M(ADD|SUB)\w*`).Find(markstein.ReplaceAll(asm, nil)); m != nil {
		t.Errorf("assembly contains a fused operation: %s", m)
	}
	// Rounding and denormal modes are the caller's; the kernels must not
	// change them.
	if m := regexp.MustCompile(`\b(V?LDMXCSR|V?STMXCSR|FLDCW)\b`).Find(asm); m != nil {
		t.Errorf("assembly touches the floating-point control state: %s", m)
	}
	// AVX2's kernels run on CPUs without AVX-512: no k register, no zmm
	// register nor register 16-31, no instruction only EVEX encodes.
	evex := regexp.MustCompile(`\b(K[0-7]|Z\d+|[XY](1[6-9]|2\d|3[01])|VMOVDQ[AU](8|16|32|64)|VPMOV[DQ][BWD]|VINSERTI64X4|VPERMW|VPBLENDM\w+|VFPCLASS\w+|VP(AND|ANDN|OR|XOR|TERNLOG)[DQ]|KMOV\w+|KORTEST\w+|\w+\.Z)\b`)
	for _, fn := range regexp.MustCompile(`(?ms)^TEXT ·\w+_avx2_\w+\(SB\).*?^\tRET$`).FindAll(asm, -1) {
		if m := evex.Find(fn); m != nil {
			t.Errorf("an AVX2 kernel uses AVX-512's %s: %s", m, fn[:bytes.IndexByte(fn, '(')])
		}
	}
	// Every program, update and gradient, per element type per
	// instruction set, and every program of each family of fused kernels
	// on 16-bit storage (float32) per instruction set, those that round
	// to bfloat16 again in the form with an extension (AVX512_BF16).
	want := (len(kernelgen.Programs()) + len(ir.GradPrograms())) * len(kernelgen.Elems) * len(x86.ISAs)
	for _, isa := range x86.ISAs {
		for _, fam := range isa.Set.Fused {
			want += len(fam.Programs()) + len(fam.ExtPrograms(isa.Set))
		}
	}
	if n := len(regexp.MustCompile(`(?m)^TEXT `).FindAll(asm, -1)); n != want {
		t.Errorf("%d assembly functions, want %d", n, want)
	}
}
