package kernelgen

import (
	"testing"

	"github.com/simdoptim/optim/generic"
)

// TestVerifyCatchesBadPlacement checks that Verify, which the generators'
// tests rely on, rejects a placement whose operand is not where the value
// lives and one whose OpMaxNaN result aliases an operand.
func TestVerifyCatchesBadPlacement(t *testing.T) {
	prog := generic.Build(generic.KindAdam, generic.VarAMSGrad)
	coeff, _ := HoistedRegs(prog.Body, func(n int) int { return 31 - n })
	regs := Regs{N: 32, Coeff: coeff, MaxNaNScratch: true}
	code, err := regs.Place(Interleave(prog.Body, 2, 2))
	if err != nil {
		t.Fatal(err)
	}
	if err := regs.Verify(code); err != nil {
		t.Fatalf("a correct placement fails: %v", err)
	}
	for i, p := range code {
		if p.In.Op == generic.OpAdd {
			bad := append([]Placed(nil), code...)
			bad[i].A = (p.A + 1) % 20
			if regs.Verify(bad) == nil {
				t.Errorf("step %d: a wrong operand register is accepted", i)
			}
			break
		}
	}
	for i, p := range code {
		if p.In.Op == generic.OpMaxNaN {
			bad := append([]Placed(nil), code...)
			bad[i].D = p.A
			if regs.Verify(bad) == nil {
				t.Errorf("step %d: a maxnan result aliasing its operand is accepted", i)
			}
			break
		}
	}
}
