package x86

import (
	"testing"

	"github.com/mmcloughlin/avo/build"

	"github.com/simdoptim/optim/asm/internal/rules"
)

// TestAllocationReplays replays every planned schedule on a model of the
// register file and checks that each instruction finds its operands where
// the plan says, that no live value is overwritten, and that OpMaxNaN's
// result and scratch registers alias neither operand. This checks the
// register assignment of every kernel, including AVX-512 ones on machines
// that cannot run them.
func TestAllocationReplays(t *testing.T) {
	type content struct {
		coeff int // field index + 1 for a coefficient, else 0
		copy  int
		value rules.Value
	}
	for _, isa := range ISAs {
		for _, d := range DTypes {
			for _, k := range rules.All() {
				c := newCompiler(build.NewContext(), k, isa, d)
				for _, copies := range []int{isa.Unroll, 1} {
					steps, _, err := c.plan(copies)
					if err != nil {
						t.Fatal(err)
					}
					regs := map[int]content{}
					for field, r := range c.coeff {
						regs[r] = content{coeff: field + 1}
					}
					want := func(s step, v rules.Value) content {
						def := k.Body[c.defIndex(v)]
						if def.Op == rules.OpCoeff {
							return content{coeff: def.Coeff + 1}
						}
						return content{copy: s.copy, value: v}
					}
					name := FuncName(k, isa, d)
					for i, s := range steps {
						ops := s.in.Operands()
						got := []int{s.a, s.b}
						for j, v := range ops {
							if regs[got[j]] != want(s, v) {
								t.Fatalf("%s step %d (%v): operand %d in register %d holds %+v, want %+v", name, i, s.in.Op, j, got[j], regs[got[j]], want(s, v))
							}
							if got[j] < 0 || got[j] >= isa.Regs {
								t.Fatalf("%s step %d: register %d out of range", name, i, got[j])
							}
						}
						if s.in.Op == rules.OpMaxNaN {
							if s.dst == s.a || s.dst == s.b {
								t.Fatalf("%s step %d: maxnan result aliases an operand", name, i)
							}
							if !isa.Masked && (s.scratch == s.a || s.scratch == s.b || s.scratch == s.dst || s.scratch < 0) {
								t.Fatalf("%s step %d: maxnan scratch register %d conflicts", name, i, s.scratch)
							}
						}
						if s.scratch >= 0 {
							regs[s.scratch] = content{coeff: -1} // the NaN mask: garbage to anyone else
						}
						if s.in.Op != rules.OpStore {
							if regs[s.dst].coeff != 0 {
								t.Fatalf("%s step %d: overwrites a coefficient register", name, i)
							}
							regs[s.dst] = content{copy: s.copy, value: s.in.Dst}
						}
					}
				}
			}
		}
	}
}
