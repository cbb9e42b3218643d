package arm64

import (
	"bytes"
	"testing"

	"github.com/simdoptim/optim/asm/internal/rules"
)

// TestDeterministic checks that generating twice gives the same bytes, as
// go generate's clean-tree check requires.
func TestDeterministic(t *testing.T) {
	for _, gen := range []func(string) ([]byte, error){Assembly, Stubs} {
		a, err := gen("test")
		if err != nil {
			t.Fatal(err)
		}
		b, err := gen("test")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatal("two generations differ")
		}
	}
}

// TestPlacement replays every register assignment symbolically: each
// operand must still be in its register when read, and OpMaxNaN's result
// and scratch registers, written before its operands' last read, must not
// alias them. It also checks that every kernel keeps the widest unroll.
func TestPlacement(t *testing.T) {
	for _, k := range rules.All() {
		for _, e := range Elems {
			coeffReg, _ := coefficients(k, e)
			for _, copies := range []int{unrollChoices[0], 1} {
				code, err := place(interleave(k, copies), coeffReg)
				if err != nil {
					t.Errorf("%s with %d copies: %v", FuncName(k, e), copies, err)
					continue
				}
				replay(t, FuncName(k, e), code, coeffReg)
			}
			code, err := place(tailOrder(k), coeffReg)
			if err != nil {
				t.Fatal(err)
			}
			replay(t, FuncName(k, e)+" tail", code, coeffReg)
		}
	}
}

func replay(t *testing.T, name string, code []placed, coeffReg map[rules.Value]int) {
	type content struct {
		valid bool
		slot
	}
	var holds [numVRegs]content
	coeffs := map[int]bool{}
	for _, r := range coeffReg {
		coeffs[r] = true
	}
	for i, p := range code {
		regs := []int{p.a, p.b}
		for j, v := range p.in.Operands() {
			r := regs[j]
			if want, ok := coeffReg[v]; ok {
				if r != want {
					t.Fatalf("%s step %d: coefficient x%d read from V%d, broadcast in V%d", name, i, v, r, want)
				}
				continue
			}
			if h := holds[r]; !h.valid || h.slot != (slot{p.copy, v}) {
				t.Fatalf("%s step %d (%v): V%d does not hold x%d of copy %d", name, i, p.in.Op, r, v, p.copy)
			}
		}
		for _, w := range []int{p.d, p.t} {
			if w >= 0 && coeffs[w] {
				t.Fatalf("%s step %d: writes coefficient register V%d", name, i, w)
			}
		}
		if p.in.Op == rules.OpMaxNaN {
			if p.d == p.a || p.d == p.b || p.t == p.a || p.t == p.b || p.d == p.t {
				t.Fatalf("%s step %d: maxnan registers alias: d=V%d t=V%d a=V%d b=V%d", name, i, p.d, p.t, p.a, p.b)
			}
			holds[p.t] = content{}
		}
		if p.d >= 0 {
			holds[p.d] = content{true, slot{p.copy, p.in.Dst}}
		}
	}
}
