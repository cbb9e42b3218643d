package x86

import (
	"testing"

	"github.com/mmcloughlin/avo/build"

	"github.com/simdoptim/optim/asm/internal/kernelgen"
)

// TestAllocationReplays replays every planned schedule on a model of the
// register file (kernelgen.Regs.Verify). This checks the register
// assignment of every kernel, including AVX-512 ones on machines that
// cannot run them.
func TestAllocationReplays(t *testing.T) {
	for _, isa := range ISAs {
		for _, d := range DTypes {
			for _, k := range kernelgen.Programs() {
				c := newCompiler(build.NewContext(), k, isa, d)
				for _, copies := range []int{isa.Unroll, 1} {
					code, _, err := c.regs.Unrolled(k.Body, copies)
					if err != nil {
						t.Fatal(err)
					}
					if err := c.regs.Verify(code); err != nil {
						t.Fatalf("%s, %d copies: %v", FuncName(k, isa, d), copies, err)
					}
				}
			}
		}
	}
}
