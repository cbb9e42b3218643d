package x86

import (
	"testing"

	"github.com/mmcloughlin/avo/build"

	"github.com/simdoptim/optim/asm/internal/kernelgen"
	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/ir"
)

// TestAllocationReplays replays every planned schedule on a model of the
// register file (kernelgen.Regs.Verify). This checks the register
// assignment of every kernel, including AVX-512 ones on machines that
// cannot run them.
func TestAllocationReplays(t *testing.T) {
	for _, isa := range ISAs {
		for _, d := range kernelgen.Elems {
			progs := kernelgen.Programs()
			if d == kernelgen.F32 {
				for _, fam := range isa.Set.Fused {
					progs = append(progs, fam.Programs()...)
				}
			}
			for _, k := range progs {
				// A low-precision kernel is planned with OpNarrow's
				// constants in registers, and without them when they do
				// not fit (compile); both plans must replay.
				// The AVX512_BF16 form of a bfloat16 one reserves one
				// register more.
				// A kernel with a division by a coefficient has a second
				// plan, for Markstein's correction (AVX-512), which
				// compile leaves out where it does not fit.
				for _, consts := range []bool{k.Lowp(), false} {
					for _, ext := range []bool{false, consts && isa.Set.LowpExt != "" && k.Format == ir.BF16} {
						for _, markstein := range []bool{false, true} {
							c := newCompiler(build.NewContext(), k, isa, d, consts, ext, markstein)
							for _, copies := range []int{isa.Unroll, 1} {
								code, _, err := c.regs.Unrolled(k.Body, copies)
								if err != nil {
									if consts || markstein {
										break // compile plans without them
									}
									t.Fatal(err)
								}
								if err := c.regs.Verify(code); err != nil {
									t.Fatalf("%s (ext %v, markstein %v), %d copies: %v", kernelgen.FuncName(k, isa.Name, d), ext, markstein, copies, err)
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestGradAllocationReplays checks the register plan of every gradient
// kernel on every ISA the same way, and that the accumulators, the
// arguments and the reserved registers do not collide.
func TestGradAllocationReplays(t *testing.T) {
	for _, isa := range ISAs {
		for _, d := range kernelgen.Elems {
			for _, p := range ir.GradPrograms() {
				pl, err := planGrad(p, isa, d)
				if err != nil {
					t.Fatalf("%s: %v", kernelgen.GradFuncName(p, isa.Name, d), err)
				}
				for _, code := range [][]kernelgen.Placed{pl.main, pl.single} {
					if err := pl.regs.Verify(code); err != nil {
						t.Fatalf("%s: %v", kernelgen.GradFuncName(p, isa.Name, d), err)
					}
				}
				if p.Wide() && pl.copies*pl.lanes != generic.ReduceLanes {
					t.Errorf("%s: %d copies of %d lanes, not one accumulator per lane", kernelgen.GradFuncName(p, isa.Name, d), pl.copies, pl.lanes)
				}
				for _, r := range []int{pl.absReg, pl.tmpReg} {
					if r >= pl.regs.N {
						t.Errorf("%s: reserved register %d among the accumulators", kernelgen.GradFuncName(p, isa.Name, d), r)
					}
				}
			}
		}
	}
}
