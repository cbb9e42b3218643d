package arm64

import (
	"bytes"
	"testing"

	"github.com/simdoptim/optim/asm/internal/kernelgen"
	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/ir"
)

// TestDeterministic checks that generating twice gives the same bytes, as
// go generate's clean-tree check requires.
func TestDeterministic(t *testing.T) {
	asm1, go1, err := kernelgen.Generate(&Backend{}, "test")
	if err != nil {
		t.Fatal(err)
	}
	asm2, go2, err := kernelgen.Generate(&Backend{}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(asm1, asm2) || !bytes.Equal(go1, go2) {
		t.Fatal("two generations differ")
	}
}

// TestPlacement replays every register assignment on a model of the
// register file (kernelgen.Regs.Verify), and checks that every kernel keeps
// the widest unroll (a low-precision kernel, the widest that fits).
func TestPlacement(t *testing.T) {
	for _, k := range append(kernelgen.Programs(), kernelgen.Lowp.Programs()...) {
		for _, e := range []arrangement{arr4S, arr2D} {
			if k.Lowp() && e != arr4S {
				continue // low-precision kernels compute in float32
			}
			regs, _ := coefficients(k, e)
			widest := unrollChoices[0]
			if k.Lowp() {
				// A low-precision kernel holds OpNarrow's constants and
				// scratch too: it takes the widest unroll that fits.
				for _, u := range unrollChoices {
					if _, err := regs.Place(kernelgen.Interleave(k.Body, u, u)); err == nil {
						widest = u
						break
					}
				}
			}
			for _, copies := range []int{widest, 1} {
				code, err := regs.Place(kernelgen.Interleave(k.Body, copies, copies))
				if err == nil {
					err = regs.Verify(code)
				}
				if err != nil {
					t.Errorf("%s with %d copies: %v", kernelgen.FuncName(k, neon.Name, e.Elem), copies, err)
				}
			}
			code, err := regs.Place(kernelgen.TailOrder(k.Body))
			if err == nil {
				err = regs.Verify(code)
			}
			if err != nil {
				t.Errorf("%s tail: %v", kernelgen.FuncName(k, neon.Name, e.Elem), err)
			}
		}
	}
}

// TestGradPlacement replays the register assignment of every gradient
// kernel and checks that a wide program has one accumulator per lane.
func TestGradPlacement(t *testing.T) {
	for _, p := range ir.GradPrograms() {
		for _, e := range []arrangement{arr4S, arr2D} {
			pl, err := planGrad(p, e)
			if err != nil {
				t.Fatalf("%s: %v", kernelgen.GradFuncName(p, neon.Name, e.Elem), err)
			}
			for _, code := range [][]kernelgen.Placed{pl.main, pl.single} {
				if err := pl.regs.Verify(code); err != nil {
					t.Errorf("%s: %v", kernelgen.GradFuncName(p, neon.Name, e.Elem), err)
				}
			}
			if p.Wide() && pl.copies*pl.lanes != generic.ReduceLanes {
				t.Errorf("%s: %d copies of %d lanes", kernelgen.GradFuncName(p, neon.Name, e.Elem), pl.copies, pl.lanes)
			}
		}
	}
}
