// Package kernelgen holds what the amd64 (avo) and arm64 kernel generators
// share, none of it architecture-specific: the contract of a backend
// (Backend, with the element types, Elem) and the driver that runs one
// (Generate), the interleaving of unrolled copies of a rule's operation
// list, the register allocation over it, and the Go file of declarations,
// dispatch glue and kernel sets that goes with the assembly.
package kernelgen

import (
	"errors"
	"fmt"
	"math"

	"github.com/simdoptim/optim/internal/ir"
)

// Step is one instruction of one copy of the body. Unrolled loops run
// several copies, each on its own vector of elements.
type Step struct {
	In   ir.Instr
	Copy int
}

// Placed is a step with its vector registers: D receives the result (-1 for
// a store), A and B hold the operands and X and Y OpSelect's choices (-1
// when absent), and T is OpMaxNaN's scratch register, or a Regs.Scratch
// instruction's (-1 when none).
type Placed struct {
	Step
	D, A, B, X, Y, T int
}

// Interleave returns `copies` copies of body for consecutive vectors, in
// groups of `group` copies (group divides copies): within a group the copies
// advance instruction by instruction, so that independent long-latency
// operations (divisions, square roots) overlap. Coefficients and constants
// are not steps: they are broadcast once before the loop (see HoistedRegs).
func Interleave(body []ir.Instr, copies, group int) []Step {
	var out []Step
	for g := 0; g < copies; g += group {
		for _, in := range body {
			if in.Hoisted() {
				continue
			}
			for c := g; c < g+group; c++ {
				out = append(out, Step{in, c})
			}
		}
	}
	return out
}

// TailOrder is one copy of body with every load first and every store last,
// so a tail can fill its input vectors lane by lane before computing and
// write its results lane by lane after. Streams are distinct memory, so
// moving loads before stores of other streams changes nothing.
func TailOrder(body []ir.Instr) []Step {
	var loads, ops, stores []Step
	for _, in := range body {
		switch {
		case in.Hoisted():
		case in.Op == ir.OpLoad:
			loads = append(loads, Step{in, 0})
		case in.Op == ir.OpStore:
			stores = append(stores, Step{in, 0})
		default:
			ops = append(ops, Step{in, 0})
		}
	}
	return append(append(loads, ops...), stores...)
}

// HoistedRegs gives every loop-invariant value the body reads (see
// ir.Instr.Hoisted) its own register, reg(n) for the n-th distinct one
// in order of first use: a coefficient read twice, or a constant stated
// twice with the same bits, shares one register. It returns the register of
// each such value and the first instruction of each register, in order, for
// the generator to broadcast before the loop.
func HoistedRegs(body []ir.Instr, reg func(n int) int) (map[ir.Value]int, []ir.Instr) {
	type key struct {
		op   ir.Op
		id   int    // a coefficient's index
		bits uint64 // a constant's bits: -0 and +0 are distinct
	}
	regs := map[ir.Value]int{}
	byKey := map[key]int{}
	var order []ir.Instr
	for _, in := range body {
		if !in.Hoisted() {
			continue
		}
		k := key{op: in.Op}
		if in.Op == ir.OpCoeff {
			k.id = in.Coeff
		} else {
			k.bits = math.Float64bits(in.Imm)
		}
		r, ok := byKey[k]
		if !ok {
			r = reg(len(order))
			byKey[k] = r
			order = append(order, in)
		}
		regs[in.Dst] = r
	}
	return regs, order
}

// Regs is the vector register file as the body sees it.
type Regs struct {
	N int // vector registers, numbered 0 to N-1
	// Coeff holds the registers of the hoisted values (coefficients and
	// constants), set before the loop, and of any register a generator
	// reserves (entered as a value no instruction defines).
	Coeff map[ir.Value]int
	// MaxNaNScratch reports that OpMaxNaN needs a scratch register for its
	// NaN mask (it does unless the mask is a k register).
	MaxNaNScratch bool
	// Scratch marks the instructions, by their result, that also take a
	// scratch register (Placed.T) distinct from their result: operand A's
	// register where A dies there (the x86 generator's division by a
	// coefficient with Markstein's correction, which writes the result
	// before its last read of the scratch, then needs no copy of A). Nil
	// for none.
	Scratch map[ir.Value]bool
}

// Reserve withholds register reg from the body's values, as if it held a
// hoisted value: it enters reg under a pseudo-value no instruction defines
// (-2, -3, ...), for a register a generator keeps for itself (a mask, a
// scratch).
func (r Regs) Reserve(reg int) {
	v := ir.Value(-2)
	for {
		if _, taken := r.Coeff[v]; !taken {
			r.Coeff[v] = reg
			return
		}
		v--
	}
}

// ErrRegisters reports a body that does not fit the registers.
var ErrRegisters = errors.New("out of vector registers")

// Place assigns registers to steps by a linear scan over the straight-line
// code: a value holds its register from its definition to its last use, and
// the lowest free register is always taken, so the output is deterministic.
func (r Regs) Place(steps []Step) ([]Placed, error) {
	free := make([]bool, r.N)
	for i := range free {
		free[i] = true
	}
	for _, reg := range r.Coeff {
		free[reg] = false
	}
	type slot struct {
		copy int
		v    ir.Value
	}
	last := map[slot]int{}
	for i, s := range steps {
		for _, v := range s.In.Operands() {
			if _, isCoeff := r.Coeff[v]; !isCoeff {
				last[slot{s.Copy, v}] = i
			}
		}
	}
	where := map[slot]int{}
	take := func() (int, error) {
		for reg := range free {
			if free[reg] {
				free[reg] = false
				return reg, nil
			}
		}
		return 0, ErrRegisters
	}
	read := func(s Step, v ir.Value) int {
		if reg, ok := r.Coeff[v]; ok {
			return reg
		}
		reg, ok := where[slot{s.Copy, v}]
		if !ok {
			panic(fmt.Sprintf("kernelgen: value %d of copy %d read before it is defined", v, s.Copy))
		}
		return reg
	}
	release := func(i int, s Step) {
		for _, v := range s.In.Operands() {
			sl := slot{s.Copy, v}
			if reg, ok := where[sl]; ok && last[sl] == i {
				free[reg] = true
				delete(where, sl)
			}
		}
	}
	out := make([]Placed, 0, len(steps))
	for i, s := range steps {
		if s.In.Hoisted() {
			continue
		}
		p := Placed{Step: s, D: -1, A: -1, B: -1, X: -1, Y: -1, T: -1}
		for j, v := range s.In.Operands() {
			*p.operand(j) = read(s, v)
		}
		var err error
		switch {
		case s.In.Op == ir.OpStore || s.In.Op == ir.OpAccum:
			// Neither has a result: a store writes memory, an accumulation
			// a register the generator reserved outside this file.
			release(i, s)
		case mustNotAlias(s.In.Op):
			// The result is written before the operands' last read (a
			// compare into it, then a select), so neither it nor the
			// scratch may alias them (see mustNotAlias).
			if p.D, err = take(); err != nil {
				return nil, err
			}
			if r.MaxNaNScratch && needsScratch(s.In.Op) {
				if p.T, err = take(); err != nil {
					return nil, err
				}
				free[p.T] = true
			}
			release(i, s)
		case r.Scratch[s.In.Dst]:
			// The scratch is operand A's register where A dies here, so
			// that the instruction needs no more registers than one that
			// has none; the result is then another. Otherwise both are
			// taken, the result first.
			_, isCoeff := r.Coeff[s.In.A]
			dies := !isCoeff && last[slot{s.Copy, s.In.A}] == i
			release(i, s)
			if dies {
				free[p.A] = false
			}
			if p.D, err = take(); err != nil {
				return nil, err
			}
			if dies {
				p.T = p.A
			} else if p.T, err = take(); err != nil {
				return nil, err
			}
			free[p.T] = true
		default:
			// One instruction reads its operands before writing, so the
			// result may reuse an operand that dies here.
			release(i, s)
			if p.D, err = take(); err != nil {
				return nil, err
			}
		}
		if p.D >= 0 {
			sl := slot{s.Copy, s.In.Dst}
			if _, used := last[sl]; used {
				where[sl] = p.D
			} else {
				free[p.D] = true
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// operand returns the field holding the register of operand j, in the
// order of ir.Instr.Operands.
func (p *Placed) operand(j int) *int {
	return [...]*int{&p.A, &p.B, &p.X, &p.Y}[j]
}

// mustNotAlias reports whether op writes its result before its operands'
// last read, so that the result must not share a register with any of them.
func mustNotAlias(op ir.Op) bool {
	switch op {
	case ir.OpMaxNaN, ir.OpRaise, ir.OpLower, ir.OpSelect, ir.OpNarrow:
		return true
	}
	return false
}

// needsScratch reports whether op takes a scratch register (Placed.T) where
// Regs.MaxNaNScratch says NaN masks are vectors: OpMaxNaN's mask, and
// OpNarrow's NaN mask and packing (the rounding of an update kernel's
// stored values to 16 bits).
func needsScratch(op ir.Op) bool { return op == ir.OpMaxNaN || op == ir.OpNarrow }

// Unrolled places `copies` copies of body, interleaved in the largest
// groups that fit the registers, and returns the code and the group size.
func (r Regs) Unrolled(body []ir.Instr, copies int) ([]Placed, int, error) {
	for group := copies; group >= 1; group-- {
		if copies%group != 0 {
			continue
		}
		if code, err := r.Place(Interleave(body, copies, group)); err == nil {
			return code, group, nil
		}
	}
	return nil, 0, ErrRegisters
}

// Verify replays placed code on a model of the register file: every operand
// must still be in its register when read, no coefficient register may be
// written, and the result of an operation that writes it before its
// operands' last read (OpMaxNaN, OpRaise, OpLower, OpSelect) must alias no
// operand, nor OpMaxNaN's scratch any operand or the result. The generators'
// tests run it over every kernel, including those this CPU cannot execute.
func (r Regs) Verify(code []Placed) error {
	type content struct {
		valid bool
		copy  int
		v     ir.Value
	}
	holds := make([]content, r.N)
	coeffs := map[int]bool{}
	for _, reg := range r.Coeff {
		coeffs[reg] = true
	}
	inRange := func(reg int) bool { return reg >= 0 && reg < r.N }
	for i, p := range code {
		for j, v := range p.In.Operands() {
			reg := *p.operand(j)
			if !inRange(reg) {
				return fmt.Errorf("step %d (%v): operand %d in register %d, out of range", i, p.In.Op, j, reg)
			}
			if want, ok := r.Coeff[v]; ok {
				if reg != want {
					return fmt.Errorf("step %d: coefficient value %d read from register %d, broadcast in %d", i, v, reg, want)
				}
				continue
			}
			if h := holds[reg]; !h.valid || h.copy != p.Copy || h.v != v {
				return fmt.Errorf("step %d (%v): register %d does not hold value %d of copy %d", i, p.In.Op, reg, v, p.Copy)
			}
		}
		for _, w := range []int{p.D, p.T} {
			if w >= 0 && (coeffs[w] || !inRange(w)) {
				return fmt.Errorf("step %d: writes register %d, a coefficient or out of range", i, w)
			}
		}
		if mustNotAlias(p.In.Op) {
			for j := range p.In.Operands() {
				if reg := *p.operand(j); reg == p.D {
					return fmt.Errorf("step %d (%v): the result aliases operand %d in register %d", i, p.In.Op, j, reg)
				}
			}
		}
		if needsScratch(p.In.Op) && r.MaxNaNScratch && (p.T < 0 || p.T == p.A || p.T == p.B || p.T == p.D) {
			return fmt.Errorf("step %d: %v registers alias: d=%d t=%d a=%d b=%d", i, p.In.Op, p.D, p.T, p.A, p.B)
		}
		if p.D >= 0 && r.Scratch[p.In.Dst] && (p.T < 0 || p.T == p.D || p.T == p.B) {
			return fmt.Errorf("step %d: %v's scratch aliases: d=%d t=%d a=%d b=%d", i, p.In.Op, p.D, p.T, p.A, p.B)
		}
		if p.T >= 0 {
			holds[p.T] = content{} // a scratch: garbage to anyone else
		}
		if p.D >= 0 {
			holds[p.D] = content{true, p.Copy, p.In.Dst}
		}
	}
	return nil
}
