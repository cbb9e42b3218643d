package arm64

import (
	"fmt"
	"strings"

	"github.com/simdoptim/optim/asm/internal/kernelgen"
	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/ir"
)

// regAccOut holds the address of the result while it is written.
const regAccOut = "R7"

// gradPlan is how one gradient program is laid out in the NEON registers.
type gradPlan struct {
	lanes   int // elements per vector (2 float64 lanes in a wide program)
	copies  int // vectors per iteration of the main loop
	acc     int // first accumulator register (one per copy)
	scratch [2]int
	args    []int // argument indices in order of first use; the n-th is in V<n>
	regs    kernelgen.Regs
	main    []kernelgen.Placed
	single  []kernelgen.Placed // nil for a wide program
}

// planGrad assigns registers as the x86 compiler does: arguments from V0
// up, then AccMax's two scratch registers, then the body's values; the
// accumulators, one per copy of the body, take the top registers. A wide
// program runs ReduceLanes elements per iteration in 16 copies of two
// float64 lanes, so copy c always feeds accumulator register c, which holds
// accumulators 2c and 2c+1: element j of a block lands in accumulator j mod
// ReduceLanes, as the reference adds it.
func planGrad(p ir.GradProgram, e arrangement) (*gradPlan, error) {
	pl := &gradPlan{lanes: e.Lanes, copies: unrollChoices[0], scratch: [2]int{-1, -1}}
	if p.Wide() {
		pl.lanes = 2
		pl.copies = generic.ReduceLanes / pl.lanes
	}
	coeff, order := kernelgen.HoistedRegs(p.Body, func(n int) int { return n })
	for _, in := range order {
		pl.args = append(pl.args, in.Coeff)
	}
	pl.acc = numVRegs
	if p.Acc != ir.AccNone {
		pl.acc = numVRegs - pl.copies
	}
	pl.regs = kernelgen.Regs{N: pl.acc, Coeff: coeff, MaxNaNScratch: true}
	if p.Acc == ir.AccMax {
		next := len(order)
		pl.scratch = [2]int{next, next + 1}
		pl.regs.Reserve(next)
		pl.regs.Reserve(next + 1)
	}
	var err error
	if pl.main, _, err = pl.regs.Unrolled(p.Body, pl.copies); err != nil {
		return nil, err
	}
	if !p.Wide() {
		if pl.single, _, err = pl.regs.Unrolled(p.Body, 1); err != nil {
			return nil, err
		}
	}
	return pl, nil
}

// gradFunction returns the Go assembly of gradient program p over elements
// e, with the Go declaration
//
//	func name(n int, x, y *T, s float64, a, b T) (acc [32]float64)
//
// It runs p on x[0:n'] (and y[0:n'] if p reads y) with n' = n rounded down
// to whole iterations of the main loop (a wide program) or to whole vectors
// (others), never touching either beyond n', nor y at all if p does not
// read it; the caller runs the few elements left. The accumulators
// start at +0 and are returned in acc, the rest of which is +0 (see the
// x86 compiler, which does the same).
func gradFunction(p ir.GradProgram, e arrangement) (string, error) {
	pl, err := planGrad(p, e)
	if err != nil {
		return "", err
	}
	wide := make([]bool, p.Values)
	uses, loads := map[ir.Value]int{}, map[ir.Value]int{} // loads: the stream of each loaded value
	for _, in := range p.Body {
		for _, v := range in.Operands() {
			uses[v]++
		}
		switch {
		case in.Op == ir.OpLoad:
			loads[in.Dst] = in.Stream
		case in.Op == ir.OpWiden, in.Op == ir.OpCoeff && in.Coeff == ir.GradArgS:
			wide[in.Dst] = true
		case in.Op != ir.OpStore && in.Op != ir.OpAccum && in.Op != ir.OpCoeff:
			wide[in.Dst] = wide[in.A]
		}
	}
	// A load that only a widening reads is done by the widening.
	folded := map[ir.Value]bool{}
	for _, in := range p.Body {
		if _, loaded := loads[in.A]; in.Op == ir.OpWiden && uses[in.A] == 1 && loaded {
			folded[in.A] = true
		}
	}

	var w strings.Builder
	line := func(format string, args ...any) { instr(&w, fmt.Sprintf(format, args...)) }
	label := func(name string) { fmt.Fprintf(&w, "%s:\n", name) }
	argOff, resOff, frame := kernelgen.GradFrame(e.Elem)
	name := kernelgen.GradFuncName(p, neon.Name, e.Elem)
	fmt.Fprintf(&w, "// func %s%s\n", name, kernelgen.GradSignature(e.Elem))
	fmt.Fprintf(&w, "TEXT ·%s(SB), NOSPLIT, $0-%d\n", name, frame)
	line("MOVD n+%d(FP), %s", argOff["n"], regN)
	var ptrs []string // the registers of the streams p touches, which advance by the elements run
	for _, gs := range kernelgen.GradStreams {
		if p.Streams[gs.Stream] {
			line("MOVD %s+%d(FP), %s", gs.Param, argOff[gs.Param], streamRegs[gs.Stream])
			ptrs = append(ptrs, streamRegs[gs.Stream])
		}
	}
	for r, arg := range pl.args {
		name := ir.GradArgNames[arg]
		if arg == ir.GradArgS {
			line("FMOVD %s+%d(FP), F%d", name, argOff[name], r)
			line("VDUP V%d.D[0], V%d.D2", r, r)
		} else {
			line("%s %s+%d(FP), F%d", e.fmov, name, argOff[name], r)
			line("VDUP V%d.%s[0], V%d.%s", r, e.goLane, r, e.goArr)
		}
	}
	if p.Acc != ir.AccNone {
		for i := range pl.copies {
			r := pl.acc + i
			line("VEOR V%d.B16, V%d.B16, V%d.B16", r, r, r)
		}
	}
	elemOf := func(isWide bool) arrangement {
		if isWide {
			return arr2D
		}
		return e
	}
	body := func(code []kernelgen.Placed) {
		for i := 0; i < len(code); i++ {
			s := code[i]
			// Whole vectors of one stream, loaded or stored by consecutive
			// copies, move two at a time, as in the update kernels.
			if !p.Wide() && i+1 < len(code) && pairable(ir.Program{}, s, code[i+1]) {
				line("%s", pairLine(s, code[i+1]))
				i++
				continue
			}
			off := s.Copy * pl.lanes * e.Size
			ops := s.In.Operands()
			isWide := s.In.Dst >= 0 && wide[s.In.Dst]
			if len(ops) > 0 {
				isWide = wide[ops[0]]
			}
			el := elemOf(isWide)
			switch s.In.Op {
			case ir.OpLoad:
				if folded[s.In.Dst] {
					continue
				}
				if p.Wide() && e.Size == 4 {
					line("FMOVD %s, F%d", mem(off, streamRegs[s.In.Stream]), s.D)
				} else {
					line("FMOVQ %s, F%d", mem(off, streamRegs[s.In.Stream]), s.D)
				}
			case ir.OpStore:
				line("FMOVQ F%d, %s", s.A, mem(off, streamRegs[s.In.Stream]))
			case ir.OpWiden:
				src := s.A
				if folded[s.In.A] {
					src = s.D
					from := mem(off, streamRegs[loads[s.In.A]])
					if e.Size == 4 {
						line("FMOVD %s, F%d", from, s.D)
					} else {
						line("FMOVQ %s, F%d", from, s.D)
					}
				}
				if e.Size == 4 {
					w := encFCVTL | uint32(src)<<5 | uint32(s.D)
					line("%s", word(w, fmt.Sprintf("fcvtl v%d.2d, v%d.2s", s.D, src)))
				} else if src != s.D {
					line("VORR V%d.B16, V%d.B16, V%d.B16", src, src, s.D)
				}
			case ir.OpAdd, ir.OpSub, ir.OpMul, ir.OpAbs, ir.OpRaise, ir.OpLower:
				for _, l := range el.arith(s) {
					line("%s", l)
				}
			case ir.OpAccum:
				acc := pl.acc + s.Copy
				switch p.Acc {
				case ir.AccLanes, ir.AccFlag:
					line("%s", fp3("fadd", encFADD, el, acc, acc, s.A))
				case ir.AccMax:
					// acc = MaxNaN(acc, a): a where a > acc or a is NaN,
					// else acc (a NaN acc stays).
					t, u := pl.scratch[0], pl.scratch[1]
					line("%s", fp3("fcmgt", encFCMGT, el, t, s.A, acc))
					line("%s", fp3("fcmeq", encFCMEQ, el, u, s.A, s.A))
					line("%s", logic3("orn", encORN, t, t, u))
					line("%s", logic3("bit", encBIT, acc, s.A, t))
				}
			default:
				panic("arm64: unexpected op in a gradient program: " + s.In.Op.String())
			}
		}
	}
	loop := func(name, next string, vectors int, code []kernelgen.Placed) {
		elems := vectors * pl.lanes
		line("CMP $%d, %s", elems, regN)
		line("BLT %s", next)
		label(name)
		body(code)
		for _, ptr := range ptrs {
			line("ADD $%d, %s", elems*e.Size, ptr)
		}
		line("SUB $%d, %s", elems, regN)
		line("CMP $%d, %s", elems, regN)
		line("BGE %s", name)
	}
	fmt.Fprintf(&w, "\n\t// %d elements per iteration: %d vectors\n", pl.copies*pl.lanes, pl.copies)
	if pl.single != nil {
		loop("unrolled", "single", pl.copies, pl.main)
		label("single")
		loop("vector", "done", 1, pl.single)
	} else {
		loop("unrolled", "done", pl.copies, pl.main)
	}
	label("done")
	// Every byte of the result is written: the accumulators, then +0.
	line("MOVD $acc_0+%d(FP), %s", resOff, regAccOut)
	stored := 0
	if p.Acc != ir.AccNone {
		for i := 0; i < pl.copies; i += 2 {
			line("FSTPQ (F%d, F%d), %s", pl.acc+i, pl.acc+i+1, mem(16*i, regAccOut))
		}
		stored = 16 * pl.copies
	}
	if stored < 8*generic.ReduceLanes {
		line("VEOR V0.B16, V0.B16, V0.B16") // the arguments are dead here
		for ; stored < 8*generic.ReduceLanes; stored += 32 {
			line("FSTPQ (F0, F0), %s", mem(stored, regAccOut))
		}
	}
	line("RET")
	return w.String(), nil
}
