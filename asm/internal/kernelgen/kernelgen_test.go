package kernelgen

import (
	"math"
	"testing"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/ir"
)

// TestVerifyCatchesBadPlacement checks that Verify, which the generators'
// tests rely on, rejects a placement whose operand is not where the value
// lives and one whose OpMaxNaN result aliases an operand.
func TestVerifyCatchesBadPlacement(t *testing.T) {
	prog := ir.Build(int(generic.KindAdam), uint32(generic.VarAMSGrad))
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
		if p.In.Op == ir.OpAdd {
			bad := append([]Placed(nil), code...)
			bad[i].A = (p.A + 1) % 20
			if regs.Verify(bad) == nil {
				t.Errorf("step %d: a wrong operand register is accepted", i)
			}
			break
		}
	}
	for i, p := range code {
		if p.In.Op == ir.OpMaxNaN {
			bad := append([]Placed(nil), code...)
			bad[i].D = p.A
			if regs.Verify(bad) == nil {
				t.Errorf("step %d: a maxnan result aliasing its operand is accepted", i)
			}
			break
		}
	}
}

// TestVerifyCatchesSelectAlias: OpSelect writes its comparison mask into
// its result before reading X and Y, so a result sharing a register with
// any of its four operands must be refused.
func TestVerifyCatchesSelectAlias(t *testing.T) {
	prog := ir.Build(int(generic.KindRprop), uint32(0))
	coeff, _ := HoistedRegs(prog.Body, func(n int) int { return n })
	regs := Regs{N: 16, Coeff: coeff, MaxNaNScratch: true}
	code, err := regs.Place(Interleave(prog.Body, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := regs.Verify(code); err != nil {
		t.Fatalf("a correct placement fails: %v", err)
	}
	checked := 0
	for i, p := range code {
		if p.In.Op != ir.OpSelect {
			continue
		}
		for j := range 4 {
			if _, hoisted := coeff[p.In.Operands()[j]]; hoisted {
				continue // refused anyway: a hoisted value's register is never written
			}
			bad := append([]Placed(nil), code...)
			bad[i].D = *bad[i].operand(j)
			if regs.Verify(bad) == nil {
				t.Errorf("step %d: a select result aliasing operand %d is accepted", i, j)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no select with an operand in a body register")
	}
}

// TestHoistedRegsShareByBits: a coefficient read twice and a constant
// stated twice each get one register, but +0 and -0, equal as floats, are
// different constants.
func TestHoistedRegsShareByBits(t *testing.T) {
	prog := ir.Build(int(generic.KindRprop), uint32(0))
	regs, order := HoistedRegs(prog.Body, func(n int) int { return n })
	byBits := map[uint64]int{}
	for _, in := range prog.Body {
		if in.Op != ir.OpConst {
			continue
		}
		bits := math.Float64bits(in.Imm)
		if r, ok := byBits[bits]; ok && r != regs[in.Dst] {
			t.Errorf("constant %v in registers %d and %d", in.Imm, r, regs[in.Dst])
		}
		byBits[bits] = regs[in.Dst]
	}
	if byBits[0] == byBits[math.Float64bits(math.Copysign(0, -1))] {
		t.Error("+0 and -0 share a register")
	}
	seen := map[int]bool{}
	for _, r := range regs {
		seen[r] = true
	}
	if len(seen) != len(order) {
		t.Errorf("%d registers for %d hoisted values", len(seen), len(order))
	}
}
