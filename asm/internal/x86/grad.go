package x86

import (
	"go/token"
	"go/types"
	"strings"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/gotypes"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/simdoptim/optim/asm/internal/kernelgen"
	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/ir"
)

// gradPlan is how one gradient program is laid out on one ISA.
type gradPlan struct {
	lanes  int // elements per vector (float64 lanes for a wide program)
	copies int // vectors per iteration of the main loop
	acc    int // first accumulator register (one per copy), or Regs if none
	absReg int // the |x| mask register, -1 if unused
	tmpReg int // AccMax's NaN-mask scratch (AVX2), -1 if unused
	regs   kernelgen.Regs
	main   []kernelgen.Placed
	single []kernelgen.Placed // nil for a wide program
	group  int
}

// planGrad assigns the registers of p: its arguments from 0 up, then the
// |x| mask, then the body's values; the accumulators, one per copy of the
// body, take the top registers, where they stay for the whole call.
//
// A wide program (AccLanes) runs ReduceLanes elements per iteration, so
// that copy c of the body always feeds accumulator register c, which holds
// accumulators c*lanes to c*lanes+lanes-1: element j of a block lands in
// accumulator j mod ReduceLanes, as the reference adds it, whatever the
// vector width. The kernel is called on whole groups of ReduceLanes
// elements of one block; the caller folds (see kernels/grad.go).
func planGrad(p ir.GradProgram, isa ISA, d kernelgen.Elem) (*gradPlan, error) {
	pl := &gradPlan{lanes: isa.Lanes(d), copies: isa.Unroll, absReg: -1, tmpReg: -1}
	if p.Wide() {
		pl.lanes = isa.Bits / 64
		pl.copies = generic.ReduceLanes / pl.lanes
	}
	coeff, order := kernelgen.HoistedRegs(p.Body, func(n int) int { return n })
	pl.acc = isa.Regs
	if p.Acc != ir.AccNone {
		pl.acc = isa.Regs - pl.copies
	}
	pl.regs = kernelgen.Regs{N: pl.acc, Coeff: coeff, MaxNaNScratch: !isa.Masked}
	next := len(order)
	for _, in := range p.Body {
		if in.Op == ir.OpAbs && pl.absReg < 0 {
			pl.absReg = next
			next++
		}
	}
	if p.Acc == ir.AccMax && !isa.Masked {
		pl.tmpReg = next
		next++
	}
	for r := len(order); r < next; r++ {
		pl.regs.Reserve(r)
	}
	var err error
	if pl.main, pl.group, err = pl.regs.Unrolled(p.Body, pl.copies); err != nil {
		return nil, err
	}
	if !p.Wide() {
		if pl.single, _, err = pl.regs.Unrolled(p.Body, 1); err != nil {
			return nil, err
		}
	}
	return pl, nil
}

// gradCompiler emits one gradient kernel.
type gradCompiler struct {
	ctx  *build.Context
	p    ir.GradProgram
	isa  ISA
	d    kernelgen.Elem
	pl   *gradPlan
	wide []bool // wide[v]: value v is float64 in a wide program
}

// compileGrad adds the assembly function of gradient program p to ctx:
//
//	func name(n int, x, y *T, s float64, a, b T) (acc [32]float64)
//
// It runs p on x[0:n'] (and y[0:n'] if p reads y) with n' = n rounded down
// to whole iterations of the main loop (a wide program) or to whole vectors
// (others), never touching either beyond n', nor y at all if p does not
// read it; the caller runs the few elements left with the reference
// (kernels/grad.go).
// The accumulators start at +0 and are returned in acc: 32 float64 in lane
// order for AccLanes, one vector of T per copy for AccMax and AccFlag (at
// most 256 bytes), the rest +0. A result rather than a pointer argument, so
// that a caller's buffer does not escape to the heap through the indirect
// call.
func compileGrad(ctx *build.Context, p ir.GradProgram, isa ISA, d kernelgen.Elem) error {
	pl, err := planGrad(p, isa, d)
	if err != nil {
		return err
	}
	c := &gradCompiler{ctx: ctx, p: p, isa: isa, d: d, pl: pl, wide: make([]bool, p.Values)}
	for _, in := range p.Body {
		switch {
		case in.Op == ir.OpWiden, in.Op == ir.OpCoeff && in.Coeff == ir.GradArgS:
			c.wide[in.Dst] = true
		case in.Op != ir.OpStore && in.Op != ir.OpAccum && in.Op != ir.OpLoad && in.Op != ir.OpCoeff:
			c.wide[in.Dst] = c.wide[in.A]
		}
	}

	ctx.Function(kernelgen.GradFuncName(p, isa.Name, d))
	ctx.Attributes(attr.NOSPLIT)
	ctx.Signature(GradSignature(d))
	accPtr := coeffPtr
	ctx.Load(ctx.Param("n"), count)
	for _, gs := range kernelgen.GradStreams {
		if p.Streams[gs.Stream] {
			ctx.Load(ctx.Param(gs.Param), streams[gs.Stream])
		}
	}
	acc0, err := ctx.Return("acc").Index(0).Resolve()
	if err != nil {
		return err
	}
	ctx.LEAQ(acc0.Addr, accPtr)
	_, order := kernelgen.HoistedRegs(p.Body, func(n int) int { return n })
	for r, in := range order {
		arg := in.Coeff
		ctx.Commentf("argument %s, loop-invariant", ir.GradArgNames[arg])
		b, err := ctx.Param(ir.GradArgNames[arg]).Resolve()
		if err != nil {
			return err
		}
		if arg == ir.GradArgS {
			ctx.VBROADCASTSD(b.Addr, c.vreg(r, true))
		} else {
			broadcast(ctx, d)(b.Addr, c.vreg(r, false))
		}
	}
	if pl.absReg >= 0 {
		c.absMask()
	}
	for i := 0; i < pl.copies && p.Acc != ir.AccNone; i++ {
		r := c.vreg(pl.acc+i, c.p.Wide())
		c.vec(c.p.Wide()).xor(r, r, r)
	}
	ctx.XORL(index.As32(), index.As32())

	step := pl.copies * pl.lanes
	ctx.MOVQ(count, limit)
	ctx.ANDQ(operand.I32(-step), limit)
	ctx.JZ(operand.LabelRef("single"))
	ctx.Label("unrolled")
	ctx.Commentf("%d vectors per iteration, interleaved %d at a time.", pl.copies, pl.group)
	c.emit(pl.main)
	ctx.ADDQ(operand.U32(step), index)
	ctx.CMPQ(index, limit)
	ctx.JB(operand.LabelRef("unrolled"))

	ctx.Label("single")
	if pl.single != nil {
		ctx.MOVQ(count, limit)
		ctx.ANDQ(operand.I32(-pl.lanes), limit)
		ctx.CMPQ(index, limit)
		ctx.JAE(operand.LabelRef("done"))
		ctx.Label("vector")
		c.emit(pl.single)
		ctx.ADDQ(operand.U32(pl.lanes), index)
		ctx.CMPQ(index, limit)
		ctx.JB(operand.LabelRef("vector"))
	}
	ctx.Label("done")
	// Every byte of the result is written: the accumulators, then +0.
	accBytes, stored := c.isa.Bits/8, 0
	for i := 0; i < pl.copies && p.Acc != ir.AccNone; i++ {
		c.vec(c.p.Wide()).mov(c.vreg(pl.acc+i, c.p.Wide()), operand.Mem{Base: accPtr, Disp: stored})
		stored += accBytes
	}
	if stored < 8*generic.ReduceLanes {
		zero := reg.Vector.Lookup(0, reg.S256) // arguments are dead here
		c.ctx.VPXOR(zero, zero, zero)
		for ; stored < 8*generic.ReduceLanes; stored += 32 {
			c.ctx.VMOVDQU(zero, operand.Mem{Base: accPtr, Disp: stored})
		}
	}
	ctx.VZEROUPPER()
	ctx.RET()
	return nil
}

// vreg returns vector register r holding float64 lanes (wide) or T lanes.
// In a wide program over float32, a T vector holds as many elements as a
// float64 vector, so it is half as wide.
func (c *gradCompiler) vreg(r int, wide bool) reg.Register {
	bits := c.isa.Bits
	if c.p.Wide() && !wide && c.d.Size == 4 {
		bits /= 2
	}
	spec := map[int]reg.Spec{128: reg.S128, 256: reg.S256, 512: reg.S512}[bits]
	return reg.Vector.Lookup(reg.Index(r), spec)
}

// vec returns the arithmetic of float64 lanes (wide) or of T.
func (c *gradCompiler) vec(wide bool) arith {
	if wide {
		return packed(c.ctx, c.isa, kernelgen.F64)
	}
	return packed(c.ctx, c.isa, c.d)
}

// absMask fills the |x| mask register at its full width, for float64
// lanes if the absolute value is taken of float64 values.
func (c *gradCompiler) absMask() {
	wide := c.p.Wide()
	for _, in := range c.p.Body {
		if in.Op == ir.OpAbs {
			wide = c.wide[in.A]
		}
	}
	size := c.d.Size
	if wide {
		size = 8
	}
	absMask(c.ctx, c.isa, c.vreg(c.pl.absReg, true), size)
}

// emit writes placed steps. A load whose value only a widening reads is
// folded into it: VCVTPS2PD (or, for float64, VMOVUPD) from memory, one
// instruction fewer per vector, which the float32 sums are bound by.
func (c *gradCompiler) emit(steps []kernelgen.Placed) {
	uses, loads := map[ir.Value]int{}, map[ir.Value]int{} // loads: the stream of each loaded value
	for _, in := range c.p.Body {
		for _, v := range in.Operands() {
			uses[v]++
		}
		if in.Op == ir.OpLoad {
			loads[in.Dst] = in.Stream
		}
	}
	folded := map[ir.Value]bool{}
	for _, in := range c.p.Body {
		if _, loaded := loads[in.A]; in.Op == ir.OpWiden && uses[in.A] == 1 && loaded {
			folded[in.A] = true
		}
	}
	// elem is element i of copy s.Copy in the stream of the load or store
	// s, or of the load folded into the widening s.
	elem := func(s kernelgen.Placed) operand.Mem {
		stream := s.In.Stream
		if s.In.Op == ir.OpWiden {
			stream = loads[s.In.A]
		}
		return operand.Mem{Base: streams[stream], Index: index, Scale: uint8(c.d.Size), Disp: s.Copy * c.pl.lanes * c.d.Size}
	}
	for _, s := range steps {
		w := s.In.Op != ir.OpStore && s.In.Dst >= 0 && c.wide[s.In.Dst]
		ops := s.In.Operands()
		if len(ops) > 0 {
			w = c.wide[ops[0]]
		}
		if s.In.Op == ir.OpWiden {
			w = false // its operand is T
		}
		ar := c.vec(w)
		a, b, dst := c.vreg(s.A, w), c.vreg(s.B, w), c.vreg(s.D, w)
		switch s.In.Op {
		case ir.OpLoad:
			if !folded[s.In.Dst] {
				ar.mov(elem(s), c.vreg(s.D, false))
			}
		case ir.OpStore:
			ar.mov(a, elem(s))
		case ir.OpWiden:
			var src operand.Op = a
			if folded[s.In.A] {
				src = elem(s) // the load's element: the same copy, the same index
			}
			switch {
			case c.d.Size == 4:
				c.ctx.VCVTPS2PD(src, c.vreg(s.D, true))
			case folded[s.In.A]:
				c.ctx.VMOVUPD(src, c.vreg(s.D, true))
			default:
				c.ctx.VMOVAPD(src, c.vreg(s.D, true))
			}
		// Go assembler order: "VSUBPS B, A, D" computes D = A - B.
		case ir.OpAdd:
			ar.add(b, a, dst)
		case ir.OpSub:
			ar.sub(b, a, dst)
		case ir.OpMul:
			ar.mul(b, a, dst)
		case ir.OpAbs:
			ar.abs(c.vreg(c.pl.absReg, w), a, dst)
		case ir.OpRaise:
			ar.raise(a, b, dst)
		case ir.OpLower:
			ar.lower(a, b, dst)
		case ir.OpAccum:
			c.accum(ar, a, c.vreg(c.pl.acc+s.Copy, w))
		default:
			panic("x86: unexpected op in a gradient program: " + s.In.Op.String())
		}
	}
}

// accum adds value a into accumulator register acc.
func (c *gradCompiler) accum(ar arith, a, acc reg.Register) {
	switch c.p.Acc {
	case ir.AccLanes, ir.AccFlag:
		ar.add(a, acc, acc)
	case ir.AccMax:
		// acc = MaxNaN(acc, a). VMAXPS with a as its first source gives a
		// if a > acc, else acc (a NaN acc stays); lanes where a is NaN then
		// take a.
		ar.max(acc, a, acc)
		if c.isa.Masked {
			ar.cmp(operand.U8(unordered), a, a, nanMask)
			ar.blendm(a, acc, nanMask, acc)
			return
		}
		t := c.vreg(c.pl.tmpReg, false)
		ar.cmp(operand.U8(unordered), a, a, t)
		ar.blendv(t, a, acc, acc)
	}
}

// GradSignature is the Go signature of every gradient kernel of element
// type d, kernelgen.GradParams:
//
//	func(n int, x, y *T, s float64, a, b T) (acc [32]float64)
func GradSignature(d kernelgen.Elem) *gotypes.Signature {
	var params []*types.Var
	for _, p := range kernelgen.GradParams(d) {
		var typ types.Type
		if elem, ok := strings.CutPrefix(p.Go, "*"); ok {
			typ = types.NewPointer(types.Universe.Lookup(elem).Type())
		} else {
			typ = types.Universe.Lookup(p.Go).Type()
		}
		params = append(params, types.NewParam(token.NoPos, nil, p.Name, typ))
	}
	acc := types.NewParam(token.NoPos, nil, "acc", types.NewArray(types.Typ[types.Float64], generic.ReduceLanes))
	return gotypes.NewSignature(nil, types.NewSignatureType(nil, nil, nil, types.NewTuple(params...), types.NewTuple(acc), false))
}
