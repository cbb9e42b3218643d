package x86

import (
	"fmt"
	"go/token"
	"go/types"
	"math"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/gotypes"
	avoir "github.com/mmcloughlin/avo/ir"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/simdoptim/optim/asm/internal/kernelgen"
	"github.com/simdoptim/optim/internal/ir"
)

// Fixed general-purpose registers. BP, SP and R14/R15 (the ABIInternal g
// register and the dynamic-linking GOT register) are left alone.
var (
	coeffPtr  = reg.RAX // *Coeffs, only read before the loop
	count     = reg.RCX // n
	index     = reg.RDX // element index i
	limit     = reg.RBX // end of the current loop
	maskBits  = reg.R11 // tail mask
	constBits = reg.R12 // a constant's bits on their way to a vector register, before the loop
	streams   = [ir.NumStreams]reg.GPPhysical{reg.RSI, reg.RDI, reg.R8, reg.R9, reg.R10, reg.R13}
)

// The k registers of AVX-512: K1 selects the valid lanes of the tail, K2
// marks NaN lanes in OpMaxNaN and OpNarrow and K3 the lanes OpSelect takes
// X in; K4 holds the odd 16-bit lanes (0xAAAAAAAA) in the kernels that
// split bfloat16 vectors into even and odd elements (pairEvenOdd), K5
// and K6 the lanes VCVTNE2PS2BF16 gets wrong (pairCvt), and K7 the lanes
// Markstein's correction applies to (divMarkstein).
var tailMask, nanMask, selectMask, oddWords, corrected = reg.K1, reg.K2, reg.K3, reg.K4, reg.K7
var inexact = [2]reg.Register{reg.K5, reg.K6}

// pairing is how the main loop of a bfloat16 kernel pairs its copies: two
// vectors, copies 2j and 2j+1, hold the elements of the pair j of vector
// widths of every stream (32 elements, 64 bytes, on AVX-512; 16 and 32 on
// AVX2), which one store writes.
type pairing int

const (
	unpaired pairing = iota
	// pairEvenOdd: copy 2j holds the even elements, copy 2j+1 the odd
	// ones. AVX-512 then widens each vector with one instruction from
	// memory (the even elements are the low halves of the 32-bit lanes,
	// shifted left by 16; the odd ones the high halves, the low ones
	// zeroed by a masked load), and narrows two vectors into one by a
	// blend of 16-bit lanes: the rounded even lanes shifted right by 16,
	// the rounded odd lanes as they are. That saves the widening
	// VPMOVZXWD and the narrowing VPMOVDW (several µops on AMD, and
	// shuffles, which compete for the same two pipes as the shifts). The
	// arithmetic is elementwise, so which elements a vector holds changes
	// no bit, provided every stream is split alike: every stream must be
	// bfloat16.
	pairEvenOdd
	// pairCvt (AVX512_BF16): the elements split as in pairEvenOdd, and
	// widened likewise, but VCVTNE2PS2BF16 narrows both vectors at once,
	// the even elements' results below the odd's, which VPERMW
	// interleaves (interleaveTable). It rounds to nearest even as the
	// reference does, except for two kinds of input: it reads a subnormal
	// as zero, and keeps a NaN's sign and payload. VFPCLASSPS marks both
	// in each vector, and where either vector has one, a branch out of the
	// loop, taken for no typical data, redoes the pair with pairEvenOdd's
	// integer sequence.
	pairCvt
	// pairCvtInOrder (AVX512_BF16, a kernel that mixes bfloat16 and
	// float32 streams: inOrder): copies 2j and
	// 2j+1 hold consecutive elements, 16 each, as unpaired copies do, and
	// VCVTNE2PS2BF16 narrows both at once, its result already in memory
	// order (the first source's elements above the second's). The guard
	// is pairCvt's; its fix-up narrows each vector with the integer
	// sequence and VPMOVDW and joins the halves.
	pairCvtInOrder
	// pairPermInOrder (AVX-512 without AVX512_BF16, inOrder): copies 2j
	// and 2j+1 hold consecutive elements, 16 each; each
	// is rounded with the integer sequence, its results left in the high
	// halves of its 32-bit lanes, and one VPERMT2W gathers the high
	// halves of both (highWordsTable) into the even copy's register in
	// memory order, in place of a shift and VPMOVDW (two µops on AMD)
	// per vector.
	pairPermInOrder
	// pairPack (AVX2): copy 2j holds elements 0 to 7, copy 2j+1 elements
	// 8 to 15, each rounded as unpaired; then one VPACKUSDW packs both
	// vectors' 32-bit lanes (the roundings, at most 0xFFFF each) into one
	// of 16-bit lanes, in the order of its 128-bit halves (0-3, 8-11,
	// 4-7, 12-15), which VPERMQ puts in memory order, in place of the
	// extraction and packing of each vector alone.
	pairPack
)

// form is how one copy of the body is emitted.
type form int

const (
	fullVector   form = iota // a whole vector, unmasked
	maskedVector             // a vector whose lanes beyond n are masked off (AVX-512)
	scalarElem               // one element in the low lane (AVX2 tail)
)

// compiler emits one kernel for one ISA and element type.
type compiler struct {
	ctx  *build.Context
	k    ir.Program
	isa  ISA
	d    kernelgen.Elem
	vec  arith
	one  arith
	regs kernelgen.Regs
	// hoisted are the coefficients and constants in order of first use;
	// the n-th is in register n.
	hoisted []ir.Instr
	absReg  int // the |x| mask register, after the hoisted ones; -1 if unused
	// lowpRegs hold the 32-bit constants of OpNarrow (lowpConsts), after
	// absReg, where the body fits the registers with them; otherwise none,
	// and OpNarrow builds them (AVX2's 16 registers are scarce).
	lowpRegs []int
	// ext reports the form that uses AVX512_BF16 (the extension "bf16").
	ext bool
	// paired is how the loop being emitted pairs its copies (pairing).
	paired pairing
	// narrowed is the latest OpNarrow of each copy, which the paired
	// narrowing of the odd copy merges with the even's.
	narrowed map[int]kernelgen.Placed
	// interleaveReg holds interleaveTable in the AVX512_BF16 form of the
	// kernels with every stream bfloat16, highWordsTable in the AVX-512
	// kernels that mix bfloat16 and float32 streams without it (inOrder);
	// -1 in the others.
	interleaveReg int
	// fixups are the out-of-line blocks of pairCvt and pairCvtInOrder,
	// emitted after the function's return.
	fixups []func()
	// recipReg holds RN(1/c) of the coefficient c the divisions of
	// divCoeff are by, in the kernels that compute them with Markstein's
	// correction (marksteinDivs); -1 in the others. fast selects that form
	// in the loop being emitted (the other loop divides).
	recipReg int
	divCoeff int
	fast     bool
}

// The constants of OpNarrow, in 32-bit lanes: bfloat16's rounding (the
// kept part's lowest bit, and the bias of half an ulp less one) and
// canonical NaN, and the quiet float32 NaN that float16's narrowing turns
// into its canonical NaN. AVX-512 has the canonical bfloat16 NaN 0x7FC0 in
// both halves of each lane, for the even elements (the low half, after the
// shift) and the odd (the high half) of pairEvenOdd, and for VPMOVDW, which
// keeps the low half; AVX2's VPACKUSDW saturates, so it has 0x7FC0 alone.
func lowpConsts(isa ISA, f ir.Format) []uint32 {
	switch {
	case f == ir.F16:
		return []uint32{0x7FC00000}
	case isa.Masked:
		return []uint32{1, 0x7FFF, 0x7FC07FC0}
	}
	return []uint32{1, 0x7FFF, 0x7FC0}
}

// pairedBF16 returns how the main loop of kernel k, whose copies are
// interleaved in groups of group, pairs its copies: a kernel whose every
// stream is bfloat16 pairs them (pairPack on AVX2; on AVX-512 pairCvt with
// AVX512_BF16, pairEvenOdd without), and so does one that mixes bfloat16
// and float32 streams (inOrder: pairPack on AVX2; on AVX-512
// pairCvtInOrder with AVX512_BF16, pairPermInOrder without), provided the copies of a pair are
// interleaved in one group, so that the even copy's narrowing is still in
// its register (its store comes after the group's narrowings) when the
// odd one merges it.
func pairedBF16(k ir.Program, isa ISA, ext bool, group int) pairing {
	switch {
	case inOrder(k) && (k.Format != ir.BF16 || group%2 != 0):
		return unpaired
	case inOrder(k) && !isa.Masked:
		return pairPack
	case inOrder(k) && ext:
		return pairCvtInOrder
	case inOrder(k):
		return pairPermInOrder
	case !k.Lowp() || k.Format != ir.BF16 || k.Half != k.Streams || group%2 != 0:
		return unpaired
	case !isa.Masked:
		return pairPack
	case ext:
		return pairCvt
	}
	return pairEvenOdd
}

// inOrder reports whether program k mixes 16-bit and float32 streams (a
// master kernel, or one with float32 state): its copies then hold
// consecutive elements, as the float32 streams need, and only the
// narrowings of its 16-bit streams pair up, in memory order.
func inOrder(k ir.Program) bool { return k.Master() || k.State32 }

// compile adds the assembly function for program k to ctx.
//
// Register use: each coefficient and constant the body reads is broadcast
// once, before the loop, into its own register, counting up from 0, then
// comes OpAbs's mask if the body takes an absolute value; the body's values
// share the remaining registers (kernelgen.Regs.Place). Copies of the
// body are interleaved instruction by instruction in groups as large as the
// registers allow, so that independent long-latency operations (divisions,
// square roots) overlap. Out-of-order execution overlaps the groups anyway:
// moving coefficients to memory operands to interleave all four vectors of
// AVX2's Adam and RMSProp measured no faster on Zen 5, so coefficients stay
// in registers.
//
// ext selects the form of a kernel with bfloat16 streams or a bfloat16
// copy that uses AVX512_BF16 (pairCvt, pairCvtInOrder), named after the
// set and the extension ("adam_v00_bf16_avx512bf16_f32"); table returns the memory of the named
// word table (interleaveTable, highWordsTable) that a kernel loads.
func compile(ctx *build.Context, k ir.Program, isa ISA, d kernelgen.Elem, ext bool, table func(name string, words [32]uint16) operand.Mem) error {
	// Plan every loop before emitting anything, so that an unroll that
	// does not fit the registers is an error here, not in avo. A
	// low-precision kernel keeps OpNarrow's constants in registers if the
	// body still fits with them, and builds them where needed otherwise
	// (AVX2's 16 registers, a rule with many coefficients).
	var c *compiler
	var main, single []kernelgen.Placed
	var group int
	var err error
	for _, consts := range []bool{k.Lowp(), false} {
		c = newCompiler(ctx, k, isa, d, consts, ext, false)
		if main, single, group, err = c.plan(); err == nil {
			break
		}
	}
	if err != nil {
		return err
	}
	// The loops that divide with Markstein's correction (marksteinDivs)
	// have a plan of their own, with the reciprocal's register (after every
	// other reserved one, which keep their numbers) and the scratch
	// registers; the plan above serves the loops that divide, which run
	// when the coefficient is out of range, so that they are the kernel as
	// it is without the correction. None where it does not fit.
	var fastMain, fastSingle []kernelgen.Placed
	var fastGroup int
	if f := newCompiler(ctx, k, isa, d, len(c.lowpRegs) > 0, ext, true); f.recipReg >= 0 {
		if fastMain, fastSingle, fastGroup, err = f.plan(); err == nil {
			c.recipReg, c.divCoeff, c.regs.Scratch = f.recipReg, f.divCoeff, f.regs.Scratch
		}
	}
	if ext && (!isa.Masked || k.Format != ir.BF16) {
		return fmt.Errorf("x86: no AVX512_BF16 form of %s", kernelgen.FuncName(k, isa.Name, d))
	}
	if k.Lowp() && isa.Masked && len(c.lowpRegs) == 0 {
		return fmt.Errorf("x86: %s does not fit the registers with OpNarrow's constants", kernelgen.FuncName(k, isa.Name, d))
	}

	name := isa.Name
	if ext {
		name += "bf16"
	}
	ctx.Function(kernelgen.FuncName(k, name, d))
	ctx.Attributes(attr.NOSPLIT)
	if fam := kernelgen.FamilyOf(k); fam != nil {
		ctx.Signature(FamilySignature(fam))
	} else {
		ctx.Signature(Signature(d))
	}

	ctx.Load(ctx.Param("c"), coeffPtr)
	ctx.Load(ctx.Param("n"), count)
	for s, used := range k.Streams {
		if used {
			ctx.Load(ctx.Param(kernelgen.ParamNames[s]), streams[s])
		}
	}
	bcast := broadcast(ctx, d)
	for r, in := range c.hoisted {
		if in.Op == ir.OpConst {
			ctx.Commentf("the constant %v", in.Imm)
			c.constant(in.Imm, r)
			continue
		}
		ctx.Commentf("c.%s, loop-invariant", ir.CoeffNames()[in.Coeff])
		bcast(operand.Mem{Base: coeffPtr, Disp: in.Coeff * d.Size}, c.reg(r, fullVector))
	}
	if c.absReg >= 0 {
		absMask(ctx, isa, c.reg(c.absReg, fullVector), d.Size)
	}
	for i, r := range c.lowpRegs {
		k := lowpConsts(isa, k.Format)[i]
		ctx.Commentf("the constant %#x in every 32-bit lane, for the %s narrowing", k, c.k.Format)
		ctx.MOVL(operand.U32(k), constBits.As32())
		if isa.Masked {
			ctx.VPBROADCASTD(constBits.As32(), c.reg(r, fullVector))
		} else {
			ctx.VMOVD(constBits.As32(), c.reg(r, scalarElem))
			ctx.VPBROADCASTD(c.reg(r, scalarElem), c.reg(r, fullVector))
		}
	}
	paired := pairedBF16(k, isa, c.ext, group)
	switch paired {
	case pairCvt:
		ctx.Comment("the interleaving of VCVTNE2PS2BF16's results")
		ctx.VMOVDQU16(table("bf16interleave", interleaveTable()), c.reg(c.interleaveReg, fullVector))
	case pairPermInOrder:
		ctx.Comment("the high halves of two vectors' 32-bit lanes, for VPERMT2W")
		ctx.VMOVDQU16(table("bf16highwords", highWordsTable()), c.reg(c.interleaveReg, fullVector))
	}
	if paired == pairEvenOdd || paired == pairCvt {
		ctx.Comment("the odd 16-bit lanes, for the even/odd split of the main loop")
		ctx.MOVL(operand.U32(0xAAAAAAAA), constBits.As32())
		ctx.KMOVD(constBits.As32(), oddWords)
	}
	if c.recipReg >= 0 {
		c.reciprocal("divide")
		c.fast = true
		c.loops(fastMain, fastSingle, fastGroup, pairedBF16(k, isa, c.ext, fastGroup), "")
		c.fast = false
		ctx.Label("divide")
		ctx.Commentf("c.%s is out of Markstein's range: the same loops, dividing.", ir.CoeffNames()[c.divCoeff])
		c.loops(main, single, group, paired, "div")
	} else {
		c.loops(main, single, group, paired, "")
	}
	for _, f := range c.fixups {
		f()
	}
	return nil
}

// loops emits the main loop, the loop over the whole vectors left over and
// the tail, and the return, from the plans main (its copies interleaved
// in groups of group, paired as paired) and single, their labels prefixed
// by prefix.
func (c *compiler) loops(main, single []kernelgen.Placed, group int, paired pairing, prefix string) {
	ctx, isa, lanes := c.ctx, c.isa, c.isa.Lanes(c.d)
	label := func(name string) string { return prefix + name }
	ctx.XORL(index.As32(), index.As32())

	// Main loop: Unroll vectors per iteration.
	step := isa.Unroll * lanes
	ctx.MOVQ(count, limit)
	ctx.ANDQ(operand.I32(-step), limit)
	ctx.JZ(operand.LabelRef(label("single")))
	ctx.Label(label("unrolled"))
	ctx.Commentf("%d vectors per iteration, interleaved %d at a time.", isa.Unroll, group)
	switch paired {
	case pairEvenOdd:
		ctx.Comment("Vectors 2j and 2j+1 hold the even and the odd elements of 32.")
	case pairCvt, pairCvtInOrder:
		ctx.Comment("Vectors 2j and 2j+1 are narrowed together by VCVTNE2PS2BF16.")
	case pairPermInOrder:
		ctx.Comment("Vectors 2j and 2j+1 are narrowed together by VPERMT2W.")
	case pairPack:
		ctx.Comment("Vectors 2j and 2j+1 are packed to 16 bits together.")
	}
	c.paired, c.narrowed = paired, map[int]kernelgen.Placed{}
	c.emit(main, fullVector)
	c.paired = unpaired
	ctx.ADDQ(operand.U32(step), index)
	ctx.CMPQ(index, limit)
	ctx.JB(operand.LabelRef(label("unrolled")))

	// Whole vectors left over.
	ctx.Label(label("single"))
	ctx.MOVQ(count, limit)
	ctx.ANDQ(operand.I32(-lanes), limit)
	ctx.CMPQ(index, limit)
	ctx.JAE(operand.LabelRef(label("tail")))
	ctx.Label(label("vector"))
	c.emit(single, fullVector)
	ctx.ADDQ(operand.U32(lanes), index)
	ctx.CMPQ(index, limit)
	ctx.JB(operand.LabelRef(label("vector")))

	// Fewer than lanes elements left.
	ctx.Label(label("tail"))
	ctx.CMPQ(index, count)
	ctx.JAE(operand.LabelRef(label("done")))
	if isa.Masked {
		ctx.Comment("Lanes n-i and up are masked off: never loaded, never stored.")
		ctx.MOVQ(count, limit)
		ctx.SUBQ(index, limit)
		ctx.MOVL(operand.U32(0xffffffff), maskBits.As32())
		ctx.BZHIL(limit.As32(), maskBits.As32(), maskBits.As32())
		ctx.KMOVW(maskBits.As32(), tailMask)
		c.emit(single, maskedVector)
	} else {
		ctx.Comment("One element at a time, in the low lane.")
		ctx.Label(label("scalar"))
		c.emit(single, scalarElem)
		ctx.INCQ(index)
		ctx.CMPQ(index, count)
		ctx.JB(operand.LabelRef(label("scalar")))
	}
	ctx.Label(label("done"))
	ctx.VZEROUPPER()
	ctx.RET()
}

// plan places the main loop's copies, interleaved in the largest groups
// that fit the registers, and the single vector's.
func (c *compiler) plan() (main, single []kernelgen.Placed, group int, err error) {
	if main, group, err = c.regs.Unrolled(c.k.Body, c.isa.Unroll); err != nil {
		return nil, nil, 0, err
	}
	single, _, err = c.regs.Unrolled(c.k.Body, 1)
	return main, single, group, err
}

// newCompiler returns the compiler of k, with OpNarrow's constants in
// registers if lowpConstRegs, in the AVX512_BF16 form if ext, and with the
// register and scratch registers of the division with Markstein's
// correction if markstein and k has one (AVX-512 only, float32 and float64
// update kernels).
func newCompiler(ctx *build.Context, k ir.Program, isa ISA, d kernelgen.Elem, lowpConstRegs, ext, markstein bool) *compiler {
	coeff, hoisted := kernelgen.HoistedRegs(k.Body, func(n int) int { return n })
	c := &compiler{ctx: ctx, k: k, isa: isa, d: d, vec: packed(ctx, isa, d), one: scalar(ctx, d), hoisted: hoisted,
		absReg: -1, regs: kernelgen.Regs{N: isa.Regs, Coeff: coeff, MaxNaNScratch: !isa.Masked}, ext: ext, interleaveReg: -1,
		recipReg: -1}
	next := len(hoisted)
	for _, in := range k.Body {
		if in.Op == ir.OpAbs {
			c.absReg = next
			c.regs.Reserve(c.absReg)
			next++
			break
		}
	}
	if lowpConstRegs {
		for range lowpConsts(isa, k.Format) {
			c.lowpRegs = append(c.lowpRegs, next)
			c.regs.Reserve(next)
			next++
		}
		// The AVX512_BF16 form's results need interleaving in the
		// kernels with every stream 16-bit, and the results of the
		// kernels that mix 16-bit and float32 streams a gathering without
		// it.
		if ext != inOrder(k) && isa.Masked && k.Format == ir.BF16 {
			c.interleaveReg = next
			c.regs.Reserve(next)
			next++
		}
	}
	// Not in the fused low-precision kernels: they are not bound by the
	// divider, and the correction's extra operations made the bfloat16
	// Adam kernel without AVX512_BF16 4% slower on Zen 5 (the form with it
	// unchanged: docs/performance.md). The kernels with float32 state or a
	// copy keep most of the float32 kernels' streams, and what bounds
	// them in cache.
	if divs, coeff := marksteinDivs(k.Body); markstein && isa.Masked && (!k.Lowp() || inOrder(k)) && len(divs) > 0 {
		c.recipReg, c.divCoeff, c.regs.Scratch = next, coeff, divs
		c.regs.Reserve(next)
	}
	return c
}

// highWordsTable is the VPERMT2W index that gathers the high 16 bits of
// every 32-bit lane of two vectors, the first's then the second's, in the
// master kernels without AVX512_BF16 (pairPermInOrder): word i takes word
// 2i+1 of the two vectors' 64.
func highWordsTable() [32]uint16 {
	var t [32]uint16
	for i := range t {
		t[i] = uint16(2*i + 1)
	}
	return t
}

// interleaveTable is the VPERMW index that interleaves the two halves of
// VCVTNE2PS2BF16's result in the AVX512_BF16 form (pairCvt): word 2i takes
// word i (the even elements' results), word 2i+1 word 16+i (the odd's).
func interleaveTable() [32]uint16 {
	var t [32]uint16
	for i := range 16 {
		t[2*i], t[2*i+1] = uint16(i), uint16(16+i)
	}
	return t
}

// half returns vector register r at half the width of form f: the 16-bit
// lanes of as many elements as r holds float32 lanes at width f. The
// scalar form's low lane is in an xmm register either way.
func (c *compiler) half(r int, f form) reg.Register {
	if r < 0 {
		return nil
	}
	spec := reg.S128
	if f != scalarElem && c.isa.Bits == 512 {
		spec = reg.S256
	}
	return reg.Vector.Lookup(reg.Index(r), spec)
}

// constant fills vector register n with x in every lane, through a
// general-purpose register: an immediate cannot go to a vector register
// directly.
func (c *compiler) constant(x float64, n int) {
	ctx, r, low := c.ctx, c.reg(n, fullVector), c.reg(n, scalarElem)
	if c.d.Size == 4 {
		ctx.MOVL(operand.U32(math.Float32bits(float32(x))), constBits.As32())
		if c.isa.Masked {
			ctx.VPBROADCASTD(constBits.As32(), r)
			return
		}
		ctx.VMOVD(constBits.As32(), low)
		ctx.VBROADCASTSS(low, r)
		return
	}
	ctx.MOVQ(operand.U64(math.Float64bits(x)), constBits)
	if c.isa.Masked {
		ctx.VPBROADCASTQ(constBits, r)
		return
	}
	ctx.VMOVQ(constBits, low)
	ctx.VBROADCASTSD(low, r)
}

// reg returns vector register r in the width of form f, nil for none (-1).
func (c *compiler) reg(r int, f form) reg.Register {
	if r < 0 {
		return nil
	}
	spec := reg.S128
	if f != scalarElem {
		spec = reg.S256
		if c.isa.Bits == 512 {
			spec = reg.S512
		}
	}
	return reg.Vector.Lookup(reg.Index(r), spec)
}

// unordered is the VCMPPx predicate that is true when an operand is NaN.
const unordered = 3

// emit writes the scheduled steps in form f.
func (c *compiler) emit(steps []kernelgen.Placed, f form) {
	ar := c.vec
	if f == scalarElem {
		ar = c.one
	}
	vecBytes := c.isa.Bits / 8
	// A full vector's 16-bit load is folded into the OpExpand that reads
	// it, its only reader (ir.Lowp): loaded maps each such load, by copy
	// and value, to its memory operand.
	loaded := map[[2]int]operand.Mem{}
	for _, s := range steps {
		size := c.d.Size
		if s.In.Op == ir.OpLoad || s.In.Op == ir.OpStore {
			if c.k.Half[s.In.Stream] {
				size = 2
			}
		}
		copy := s.Copy
		// The pair's bytes start at the even copy's; the loads of the
		// pairings in memory order are each copy's own.
		inMemoryOrder := c.paired == pairPack || c.paired == pairCvtInOrder || c.paired == pairPermInOrder
		if c.paired != unpaired && size == 2 && (!inMemoryOrder || s.In.Op == ir.OpStore) {
			copy &^= 1
		}
		mem := operand.Mem{Base: streams[s.In.Stream], Index: index, Scale: uint8(size), Disp: copy * vecBytes * size / c.d.Size}
		a, b, dst := c.reg(s.A, f), c.reg(s.B, f), c.reg(s.D, f)
		switch {
		case size == 2 && s.In.Op == ir.OpLoad && f == fullVector:
			loaded[[2]int{s.Copy, int(s.In.Dst)}] = mem
			continue
		case size == 2 && s.In.Op == ir.OpLoad:
			c.loadHalf(mem, f, s.D)
			continue
		case size == 2 && c.paired == pairPack:
			// The odd copy stores the pair's 16 results, which its
			// narrowing packed; the even copy's store is that one.
			if s.Copy%2 == 1 {
				c.ctx.VMOVDQU(a, mem)
			}
			continue
		case size == 2 && c.paired == pairEvenOdd:
			// The odd copy stores the pair's 32 results, which its
			// narrowing merged; the even copy's store is that one.
			if s.Copy%2 == 1 {
				c.ctx.VMOVDQU16(a, mem)
			}
			continue
		case size == 2 && (c.paired == pairCvt || c.paired == pairCvtInOrder || c.paired == pairPermInOrder):
			// The even copy stores the pair's 32 results, which the odd
			// copy's narrowing left in the even's register.
			if s.Copy%2 == 0 {
				c.ctx.VMOVDQU16(a, mem)
			}
			continue
		case size == 2:
			c.storeHalf(mem, f, s.A)
			continue
		}
		switch s.In.Op {
		case ir.OpNarrow:
			c.narrow(f, s)
		case ir.OpExpand:
			var src operand.Op = c.half(s.A, f)
			if m, ok := loaded[[2]int{s.Copy, int(s.In.A)}]; ok {
				src = m
			}
			if c.paired == pairEvenOdd || c.paired == pairCvt {
				c.expandPaired(s, src, dst)
				continue
			}
			if s.In.Format == ir.F16 {
				c.ctx.VCVTPH2PS(src, dst)
			} else {
				c.ctx.VPMOVZXWD(src, dst)
				c.ctx.VPSLLD(operand.U8(16), dst, dst)
			}
		case ir.OpLoad:
			if f == maskedVector {
				ar.loadz(mem, tailMask, dst)
			} else {
				ar.mov(mem, dst)
			}
		case ir.OpStore:
			if f == maskedVector {
				ar.mov(a, tailMask, mem)
			} else {
				ar.mov(a, mem)
			}
		// Go assembler order: "VSUBPS B, A, D" computes D = A - B.
		case ir.OpAdd:
			ar.add(b, a, dst)
		case ir.OpSub:
			ar.sub(b, a, dst)
		case ir.OpMul:
			ar.mul(b, a, dst)
		case ir.OpDiv:
			if c.fast && c.regs.Scratch[s.In.Dst] {
				c.divMarkstein(s, f)
				continue
			}
			ar.div(b, a, dst)
		case ir.OpXor:
			ar.xor(b, a, dst)
		case ir.OpSqrt:
			if f == scalarElem {
				ar.sqrt(a, a, dst)
			} else {
				ar.sqrt(a, dst)
			}
		case ir.OpMaxNaN:
			c.maxNaN(ar, f, a, b, dst, s.T)
		case ir.OpAbs:
			ar.abs(c.reg(c.absReg, f), a, dst)
		case ir.OpRaise:
			ar.raise(a, b, dst)
		case ir.OpLower:
			ar.lower(a, b, dst)
		case ir.OpSelect:
			c.choose(ar, f, a, b, c.reg(s.X, f), c.reg(s.Y, f), dst)
		default:
			panic("x86: unexpected op " + s.In.Op.String())
		}
	}
}

// maxNaN emits D = generic.MaxNaN(A, B): NaN if either is NaN, else B if
// A < B, else A. VMAXPS with B as its first (Intel) source returns B if
// B > A and A otherwise, which is right except when B is NaN (it returns A);
// those lanes are then replaced by B. D never aliases A or B.
func (c *compiler) maxNaN(ar arith, f form, a, b, dst reg.Register, scratch int) {
	ar.max(a, b, dst)
	if c.isa.Masked && f != scalarElem {
		ar.cmp(operand.U8(unordered), b, b, nanMask)
		ar.blendm(b, dst, nanMask, dst)
		return
	}
	t := c.reg(scratch, f)
	ar.cmp(operand.U8(unordered), b, b, t)
	ar.blendv(t, b, dst, dst)
}

// lessThan is the VCMPPx predicate LT_OQ: A < B, false when either is NaN,
// and quiet (no invalid-operation flag for a quiet NaN), as Go's < is.
const lessThan = 0x11

// choose emits D = X if A < B, else Y (OpSelect). Without k registers the
// comparison's mask goes to D, which blends: D aliases none of A, B, X, Y.
func (c *compiler) choose(ar arith, f form, a, b, x, y, dst reg.Register) {
	if c.isa.Masked && f != scalarElem {
		ar.cmp(operand.U8(lessThan), b, a, selectMask)
		ar.blendm(x, y, selectMask, dst)
		return
	}
	ar.cmp(operand.U8(lessThan), b, a, dst)
	ar.blendv(dst, x, y, dst)
}

// loadHalf loads the 16-bit lanes of one step into the half-width register
// r: half a vector, its tail lanes masked off (zeroed, never read), or one
// element into the low lane through a general-purpose register.
func (c *compiler) loadHalf(m operand.Mem, f form, r int) {
	switch {
	case f == fullVector && c.isa.Masked:
		c.ctx.VMOVDQU16(m, c.half(r, f)) // EVEX: registers 16-31 too
	case f == fullVector:
		c.ctx.VMOVDQU(m, c.half(r, f))
	case f == maskedVector:
		c.ctx.VMOVDQU16_Z(m, tailMask, c.half(r, f))
	default:
		c.ctx.MOVWLZX(m, constBits.As32())
		c.ctx.VMOVD(constBits.As32(), c.half(r, f))
	}
}

// storeHalf stores the 16-bit lanes of the half-width register r: half a
// vector, its tail lanes masked off, or the low lane's 16 bits through a
// general-purpose register.
func (c *compiler) storeHalf(m operand.Mem, f form, r int) {
	switch {
	case f == fullVector && c.isa.Masked:
		c.ctx.VMOVDQU16(c.half(r, f), m)
	case f == fullVector:
		c.ctx.VMOVDQU(c.half(r, f), m)
	case f == maskedVector:
		c.ctx.VMOVDQU16(c.half(r, f), tailMask, m)
	default:
		c.ctx.VMOVD(c.half(r, f), constBits.As32())
		c.ctx.MOVW(constBits.As16(), m)
	}
}

// narrow emits OpNarrow: the float32 lanes of A rounded to the 16-bit
// format into the half-width register D, as generic.BF16FromFloat32 and
// generic.F16FromFloat32 (the conversion kernels' sequences, conv.go). D
// aliases no operand (kernelgen's mustNotAlias): it is written before A's
// last read.
//
//   - bfloat16: D = (A + 0x7FFF + (A>>16 & 1)) >> 16, NaN lanes 0x7FC0,
//     then packed from 32-bit to 16-bit lanes.
//   - float16: NaN lanes become the quiet NaN 0x7FC00000, which VCVTPS2PH
//     (rounding to nearest even by its immediate, whatever MXCSR says, with
//     subnormal results) turns into 0x7E00.
//
// AVX-512 reads its constants from lowpRegs and marks NaN lanes in K2.
// AVX2 marks them in the scratch register T, and reads its constants from
// lowpRegs too where the body fits the registers with them; otherwise it
// builds them from all-ones vectors by shifts, in D and T.
func (c *compiler) narrow(f form, s kernelgen.Placed) {
	ctx := c.ctx
	A, D, Dh := c.reg(s.A, f), c.reg(s.D, f), c.half(s.D, f)
	if c.isa.Masked {
		k := c.lowpRegs
		if s.In.Format == ir.F16 {
			ctx.VCMPPS(operand.U8(unordered), A, A, nanMask)
			ctx.VMOVAPS(A, D)
			ctx.VMOVAPS(c.reg(k[0], f), nanMask, D)
			ctx.VCVTPS2PH(operand.U8(0), D, Dh)
			return
		}
		switch c.paired {
		case pairEvenOdd:
			c.narrowPaired(s)
			return
		case pairCvt, pairCvtInOrder:
			c.narrowCvt(s)
			return
		case pairPermInOrder:
			c.narrowPerm(s)
			return
		}
		c.roundBF16(A, D, c.reg(k[0], f), c.reg(k[1], f), true)
		ctx.VCMPPS(operand.U8(unordered), A, A, nanMask)
		ctx.VMOVDQA32(c.reg(k[2], f), nanMask, D)
		ctx.VPMOVDW(D, Dh)
		return
	}
	T := c.reg(s.T, f)
	if k := c.lowpRegs; len(k) > 0 {
		ctx.VCMPPS(operand.U8(unordered), A, A, T)
		if s.In.Format == ir.F16 {
			ctx.VBLENDVPS(T, c.reg(k[0], f), A, D)
			ctx.VCVTPS2PH(operand.U8(0), D, Dh)
			return
		}
		c.roundBF16(A, D, c.reg(k[0], f), c.reg(k[1], f), true)
		ctx.VBLENDVPS(T, c.reg(k[2], f), D, D)
		c.pack(f, s)
		return
	}
	if s.In.Format == ir.F16 {
		// T = NaN lanes; D = 0x7FC00000 there, 0 elsewhere ((~0 >> 23) << 22
		// of T's all-ones lanes); D = T ? D : A.
		ctx.VCMPPS(operand.U8(unordered), A, A, T)
		ctx.VPSRLD(operand.U8(23), T, D)
		ctx.VPSLLD(operand.U8(22), D, D)
		ctx.VBLENDVPS(T, D, A, D)
		ctx.VCVTPS2PH(operand.U8(0), D, Dh)
		return
	}
	// T = A + (A>>16 & 1) (the bit isolated by shifts); D = 0x7FFF
	// (~0 >> 17); T = (T + D) >> 16; D = NaN lanes; T = T &^ D; D =
	// 0x7FC0 in NaN lanes ((~0 >> 23) << 6), 0 elsewhere; D = D | T.
	ctx.VPSRLD(operand.U8(16), A, T)
	ctx.VPSLLD(operand.U8(31), T, T)
	ctx.VPSRLD(operand.U8(31), T, T)
	ctx.VPADDD(A, T, T)
	ctx.VPCMPEQD(D, D, D)
	ctx.VPSRLD(operand.U8(17), D, D)
	ctx.VPADDD(D, T, T)
	ctx.VPSRLD(operand.U8(16), T, T)
	ctx.VCMPPS(operand.U8(unordered), A, A, D)
	ctx.VPANDN(T, D, T)
	ctx.VPSRLD(operand.U8(23), D, D)
	ctx.VPSLLD(operand.U8(6), D, D)
	ctx.VPOR(T, D, D)
	c.pack(f, s)
}

// roundBF16 sets D = A + bias + (A>>16 & one), generic.BF16FromFloat32's
// rounding of every lane but NaNs in the upper halves, with the constants
// 1 and 0x7FFF in one and bias, and shifts it down by 16 if shift.
func (c *compiler) roundBF16(a, d, one, bias reg.Register, shift bool) {
	c.ctx.VPSRLD(operand.U8(16), a, d)
	if c.isa.Masked {
		c.ctx.VPANDD(one, d, d) // EVEX: registers 16-31 too
	} else {
		c.ctx.VPAND(one, d, d)
	}
	c.ctx.VPADDD(bias, d, d)
	c.ctx.VPADDD(a, d, d)
	if shift {
		c.ctx.VPSRLD(operand.U8(16), d, d)
	}
}

// expandPaired emits OpExpand of a bfloat16 stream in the paired main loop
// (pairedBF16), its load folded in from src, the pair's 64 bytes: the even
// copy takes the low 16 bits of each 32-bit lane, shifted up; the odd copy
// the high 16 bits, the low ones zeroed by the masked load.
func (c *compiler) expandPaired(s kernelgen.Placed, src, dst operand.Op) {
	if _, ok := src.(operand.Mem); !ok {
		panic("x86: a paired widening without its load")
	}
	if s.Copy%2 == 0 {
		c.ctx.VPSLLD(operand.U8(16), src, dst)
		return
	}
	c.ctx.VMOVDQU16_Z(src, oddWords, dst)
}

// narrowPaired emits OpNarrow of a bfloat16 stream in the paired main loop
// (pairedBF16). The even copy leaves its results in the low halves of its
// 32-bit lanes of D, the odd copy in the high halves, and then merges the
// even copy's low halves in (its D, still live: its store comes later), so
// that the odd copy's D holds the pair's 32 results in memory order. NaN
// lanes get 0x7FC07FC0, whose half in either place is the canonical NaN.
func (c *compiler) narrowPaired(s kernelgen.Placed) {
	ctx, f, k := c.ctx, fullVector, c.lowpRegs
	A, D := c.reg(s.A, f), c.reg(s.D, f)
	odd := s.Copy%2 == 1
	c.roundBF16(A, D, c.reg(k[0], f), c.reg(k[1], f), !odd)
	ctx.VCMPPS(operand.U8(unordered), A, A, nanMask)
	ctx.VMOVDQA32(c.reg(k[2], f), nanMask, D)
	if odd {
		ctx.VPBLENDMW(D, c.reg(c.evenOf(s).D, f), oddWords, D)
	}
	c.narrowed[s.Copy] = s
}

// narrowPerm emits OpNarrow of a bfloat16 stream in the main loop of the
// AVX-512 form without AVX512_BF16 of a kernel that mixes bfloat16 and
// float32 streams (pairPermInOrder):
// each copy rounds its vector into the high halves of its D's 32-bit
// lanes (NaN lanes 0x7FC07FC0), and the odd copy then gathers the high
// halves of the even copy's D and its own into the even's, which the even
// copy's store writes.
func (c *compiler) narrowPerm(s kernelgen.Placed) {
	ctx, f, k := c.ctx, fullVector, c.lowpRegs
	A, D := c.reg(s.A, f), c.reg(s.D, f)
	c.roundBF16(A, D, c.reg(k[0], f), c.reg(k[1], f), false)
	ctx.VCMPPS(operand.U8(unordered), A, A, nanMask)
	ctx.VMOVDQA32(c.reg(k[2], f), nanMask, D)
	c.narrowed[s.Copy] = s
	if s.Copy%2 == 1 {
		E := c.reg(c.evenOf(s).D, f)
		ctx.VPERMT2W(D, c.reg(c.interleaveReg, f), E)
	}
}

// evenOf returns the narrowing of the even copy paired with odd copy s's.
func (c *compiler) evenOf(s kernelgen.Placed) kernelgen.Placed {
	even, ok := c.narrowed[s.Copy-1]
	if !ok || s.Copy%2 != 1 {
		panic("x86: the odd copy's narrowing before the even's")
	}
	return even
}

// fpclassInexact is VFPCLASSPS's selection of the inputs VCVTNE2PS2BF16
// does not round as generic.BF16FromFloat32 does: quiet NaN (bit 0),
// subnormal (bit 5) and signaling NaN (bit 7).
const fpclassInexact = 0x01 | 0x20 | 0x80

// narrowCvt emits OpNarrow of a bfloat16 stream in the main loop of the
// AVX512_BF16 form (pairCvt). Each copy marks its inexact lanes
// (fpclassInexact) in its k register; the odd copy then narrows both
// vectors into the even copy's D (which aliases neither A: it was taken
// while both were live), interleaves the results there (the even copy's
// store writes it), and branches to a fix-up if any lane of either vector
// is marked. The odd copy's own D is left to the fix-up, which runs
// narrowPaired's sequence: it may be the even copy's A, read first.
func (c *compiler) narrowCvt(s kernelgen.Placed) {
	ctx, f := c.ctx, fullVector
	ctx.VFPCLASSPSZ(operand.U8(fpclassInexact), c.reg(s.A, f), inexact[s.Copy%2])
	c.narrowed[s.Copy] = s
	if s.Copy%2 == 0 {
		return
	}
	even, odd := c.evenOf(s), s
	ctx.KORTESTW(inexact[0], inexact[1])
	for _, b := range CvtNE2PS2BF16(even.D, odd.A, even.A) {
		ctx.Instruction(&avoir.Instruction{Opcode: "BYTE", Operands: []operand.Op{operand.U8(b)}})
	}
	E := c.reg(even.D, f)
	inOrder := c.paired == pairCvtInOrder
	if !inOrder {
		ctx.VPERMW(E, c.reg(c.interleaveReg, f), E)
	}
	fix := fmt.Sprintf("exact%d", len(c.fixups))
	back := fix + "done"
	ctx.JNZ(operand.LabelRef(fix))
	ctx.Label(back)
	c.fixups = append(c.fixups, func() {
		ctx.Label(fix)
		k := c.lowpRegs
		if inOrder {
			// Each vector's 16 results into the lower half of its D,
			// then the odd's into E's upper half. The even copy's D
			// is E; the odd's may be the even's A, so it goes second.
			for _, p := range []kernelgen.Placed{even, odd} {
				A, D := c.reg(p.A, f), c.reg(p.D, f)
				c.roundBF16(A, D, c.reg(k[0], f), c.reg(k[1], f), true)
				ctx.VCMPPS(operand.U8(unordered), A, A, nanMask)
				ctx.VMOVDQA32(c.reg(k[2], f), nanMask, D)
				ctx.VPMOVDW(D, c.half(p.D, f))
			}
			ctx.VINSERTI64X4(operand.U8(1), c.half(odd.D, f), E, E)
			ctx.JMP(operand.LabelRef(back))
			return
		}
		for _, p := range []kernelgen.Placed{even, odd} {
			A, D := c.reg(p.A, f), c.reg(p.D, f)
			c.roundBF16(A, D, c.reg(k[0], f), c.reg(k[1], f), p.Copy%2 == 0)
			ctx.VCMPPS(operand.U8(unordered), A, A, nanMask)
			ctx.VMOVDQA32(c.reg(k[2], f), nanMask, D)
		}
		ctx.VPBLENDMW(c.reg(odd.D, f), E, oddWords, E)
		ctx.JMP(operand.LabelRef(back))
	})
}

// pack packs AVX2's eight 32-bit lanes of D, each at most 0xFFFF, into
// eight 16-bit lanes of its lower half, the upper 128 bits after the lower,
// with the scratch register T; the scalar form's one lane needs nothing.
// In the paired main loop (pairPack) the odd copy packs its D with the
// even copy's instead, into its own.
func (c *compiler) pack(f form, s kernelgen.Placed) {
	if f == fullVector && c.paired == pairPack {
		c.narrowed[s.Copy] = s
		if s.Copy%2 == 1 {
			E, O := c.reg(c.evenOf(s).D, f), c.reg(s.D, f)
			c.ctx.VPACKUSDW(O, E, O)
			c.ctx.VPERMQ(operand.U8(0xD8), O, O)
		}
		return
	}
	if f == fullVector {
		c.ctx.VEXTRACTI128(operand.U8(1), c.reg(s.D, f), c.half(s.T, f))
		c.ctx.VPACKUSDW(c.half(s.T, f), c.half(s.D, f), c.half(s.D, f))
	}
}

// FamilySignature is the Go signature of every kernel of family fam
// (kernelgen.Family.Signature):
//
//	func(c *generic.Coeffs[float32], n int, p, grad *P, s0, s1, s2 *State[, copy *Copy])
func FamilySignature(fam *kernelgen.Family) *gotypes.Signature {
	elem := func(name string) types.Type { return types.NewPointer(types.Universe.Lookup(name).Type()) }
	var copy types.Type
	if fam.Copy != "" {
		copy = elem(fam.Copy)
	}
	return signature(kernelgen.F32, elem(fam.P), elem(fam.State), copy)
}

// Signature is the Go signature of every kernel of element type d:
//
//	func(c *generic.Coeffs[T], n int, p, grad, s0, s1, s2 *T)
func Signature(d kernelgen.Elem) *gotypes.Signature {
	elem := types.NewPointer(goType(d))
	return signature(d, elem, elem, nil)
}

// signature is the signature of a kernel with coefficients of type d,
// parameters and gradients of pointer type pg, state of pointer type st,
// and the copy of pointer type copy if it is not nil.
func signature(d kernelgen.Elem, pg, st, copy types.Type) *gotypes.Signature {
	genericPkg := types.NewPackage("github.com/simdoptim/optim/generic", "generic")
	tname := types.NewTypeName(token.NoPos, genericPkg, "T", nil)
	tparam := types.NewTypeParam(tname, types.NewInterfaceType(nil, nil))
	coeffs := types.NewNamed(types.NewTypeName(token.NoPos, genericPkg, "Coeffs", nil), nil, nil)
	coeffs.SetTypeParams([]*types.TypeParam{tparam})
	var fields []*types.Var
	for _, name := range ir.CoeffNames() {
		fields = append(fields, types.NewField(token.NoPos, genericPkg, name, tparam, false))
	}
	coeffs.SetUnderlying(types.NewStruct(fields, nil))
	inst, err := types.Instantiate(nil, coeffs, []types.Type{goType(d)}, false)
	if err != nil {
		panic(err)
	}
	params := []*types.Var{
		types.NewParam(token.NoPos, nil, "c", types.NewPointer(inst)),
		types.NewParam(token.NoPos, nil, "n", types.Typ[types.Int]),
	}
	for s, name := range kernelgen.ParamNames[:ir.StreamCopy] {
		elem := st
		if s < ir.StreamS0 {
			elem = pg
		}
		params = append(params, types.NewParam(token.NoPos, nil, name, elem))
	}
	if copy != nil {
		params = append(params, types.NewParam(token.NoPos, nil, kernelgen.ParamNames[ir.StreamCopy], copy))
	}
	return gotypes.NewSignature(nil, types.NewSignatureType(nil, nil, nil, types.NewTuple(params...), nil, false))
}
