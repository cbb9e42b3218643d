package x86

import (
	"fmt"
	"go/token"
	"go/types"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/gotypes"
	avoir "github.com/mmcloughlin/avo/ir"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/simdoptim/optim/asm/internal/kernelgen"
	"github.com/simdoptim/optim/internal/ir"
)

// The conversion kernels (ir.ConvPrograms): OpNarrow and OpExpand in every
// amd64 form.
//
//   - bfloat16 narrowing: NaN lanes are replaced by the float32 quiet NaN
//     0x7FC00000 first, which every sequence below turns into the canonical
//     0x7FC0; then the integer rounding of generic.BF16FromFloat32,
//     b + 0x7FFF + (b>>16 & 1), whose upper halves are packed to 16 bits.
//     With AVX512_BF16 (the form "bf16"), VCVTNEPS2BF16 rounds instead. It
//     rounds to nearest even as the reference does, but treats a subnormal
//     input as zero; so lanes whose exponent field is zero (zeros and
//     subnormals) get the exponent field 1 first (b | 0x00800000, which
//     adds 2^23 to b) and 0x80 subtracted from their result (2^23 >> 16),
//     which gives the integer rounding of b exactly: adding a multiple of
//     2^16 commutes with rounding at bit 16.
//   - float16 narrowing: NaN lanes become 0x7FC00000, then F16C's (or
//     AVX-512F's) VCVTPS2PH with the immediate rounding mode 0 (to nearest
//     even, whatever MXCSR says) gives generic.F16FromFloat32's bits: the
//     quiet NaN becomes 0x7E00, and subnormal results are produced (not
//     flushed) since VCVTPS2PH ignores MXCSR.FTZ. Without the replacement
//     it would keep a NaN's sign and payload.
//   - bfloat16 widening: zero-extend to 32 bits and shift left by 16.
//   - float16 widening: VCVTPH2PS, exact, which quiets a signaling NaN and
//     keeps sign and payload, as generic.Float32FromF16 does.
//
// Every kernel runs whole units of kernelgen.ConvUnit elements: a main loop
// of four units per iteration, then one unit at a time, so no byte beyond
// n elements of either slice is touched.

// The x86 conversion forms: every program with each set's own
// instructions, and the bfloat16 narrowing with AVX512_BF16.
func (b *Backend) ConvForms() []kernelgen.ConvForm {
	all := []ir.ConvKind{ir.ConvNarrowBF16, ir.ConvWidenBF16, ir.ConvNarrowF16, ir.ConvWidenF16}
	return []kernelgen.ConvForm{
		{Set: AVX512.Set, Kinds: all},
		{Set: AVX512.Set, Ext: "bf16", Kinds: []ir.ConvKind{ir.ConvNarrowBF16}},
		{Set: AVX2.Set, Kinds: all},
	}
}

// Conv adds the kernel of conversion program p in form f.
func (b *Backend) Conv(f kernelgen.ConvForm, p ir.ConvProgram) error {
	isa, err := isaOf(f.Set)
	if err != nil {
		return err
	}
	if f.Ext != "" && (f.Ext != "bf16" || !isa.Masked) {
		return fmt.Errorf("x86: no extension %q of %s", f.Ext, isa.Name)
	}
	return compileConv(b.ctx, isa, f, p)
}

// convCompiler emits one conversion kernel.
type convCompiler struct {
	ctx    *build.Context
	isa    ISA
	p      ir.ConvProgram
	bf16   bool // the AVX512_BF16 form
	consts []uint32
	lanes  int // float32 elements per step of the body
}

// The constants the kernels broadcast before the loop, each to its own
// register, numbered in this order of first need.
const (
	cQNaN    = 0x7FC00000 // the float32 quiet NaN that every NaN lane becomes
	cOne     = 1
	cBias    = 0x7FFF
	cExpMask = 0x7F800000
	cMinExp  = 0x00800000
	cSub80   = 0x00800080 // 0x80 in each 16-bit half
)

// copyRegs is how many registers each copy of the body takes; copies
// rotate among four sets of them.
const copyRegs, copySets = 3, 4

func compileConv(ctx *build.Context, isa ISA, f kernelgen.ConvForm, p ir.ConvProgram) error {
	c := &convCompiler{ctx: ctx, isa: isa, p: p, bf16: f.Ext == "bf16", lanes: isa.Bits / 32}
	for _, in := range p.Body {
		switch {
		case in.Op == ir.OpNarrow && in.Format == ir.BF16 && c.bf16:
			c.consts = []uint32{cQNaN, cExpMask, cMinExp, cSub80}
		case in.Op == ir.OpNarrow && in.Format == ir.BF16:
			c.consts = []uint32{cQNaN, cOne, cBias}
			if !isa.Masked {
				c.lanes = 16 // two ymm, packed together
			}
		case in.Op == ir.OpNarrow:
			c.consts = []uint32{cQNaN}
		}
	}
	if len(c.consts)+copyRegs*copySets > isa.Regs || kernelgen.ConvUnit%c.lanes != 0 {
		return fmt.Errorf("x86: the conversion kernel does not fit %s", isa.Name)
	}
	ctx.Function(kernelgen.ConvFuncName(p, f))
	ctx.Attributes(attr.NOSPLIT)
	ctx.Signature(ConvSignature(p))
	ctx.Load(ctx.Param("n"), count)
	ctx.Load(ctx.Param("dst"), streams[ir.StreamP])
	ctx.Load(ctx.Param("src"), streams[ir.StreamG])
	for r, k := range c.consts {
		ctx.Commentf("the constant %#08x in every 32-bit lane", k)
		ctx.MOVL(operand.U32(k), constBits.As32())
		if isa.Masked {
			ctx.VPBROADCASTD(constBits.As32(), c.vreg(r, 32))
		} else {
			ctx.VMOVD(constBits.As32(), c.vreg(r, 16))
			ctx.VPBROADCASTD(c.vreg(r, 16), c.vreg(r, 32))
		}
	}
	ctx.XORL(index.As32(), index.As32())
	unit := kernelgen.ConvUnit
	step := 4 * unit
	ctx.MOVQ(count, limit)
	ctx.ANDQ(operand.I32(-step), limit)
	ctx.JZ(operand.LabelRef("single"))
	ctx.Label("unrolled")
	ctx.Commentf("%d elements per iteration, %d at a time", step, c.lanes)
	for i := 0; i < step/c.lanes; i++ {
		c.body(i)
	}
	ctx.ADDQ(operand.U32(step), index)
	ctx.CMPQ(index, limit)
	ctx.JB(operand.LabelRef("unrolled"))
	ctx.Label("single")
	ctx.CMPQ(index, count)
	ctx.JAE(operand.LabelRef("done"))
	ctx.Label("unit")
	for i := 0; i < unit/c.lanes; i++ {
		c.body(i)
	}
	ctx.ADDQ(operand.U32(unit), index)
	ctx.CMPQ(index, count)
	ctx.JB(operand.LabelRef("unit"))
	ctx.Label("done")
	ctx.VZEROUPPER()
	ctx.RET()
	return nil
}

// vreg returns vector register r at width/32 of the ISA's width: width 32
// is the whole register (float32 lanes), 16 the register half as wide,
// which holds as many 16-bit lanes.
func (c *convCompiler) vreg(r, width int) reg.Register {
	bits := c.isa.Bits * width / 32
	spec := map[int]reg.Spec{128: reg.S128, 256: reg.S256, 512: reg.S512}[bits]
	return reg.Vector.Lookup(reg.Index(r), spec)
}

// mem is element i + off of stream s, whose elements have size bytes.
func (c *convCompiler) mem(s, size, off int) operand.Mem {
	return operand.Mem{Base: streams[s], Index: index, Scale: uint8(size), Disp: off * size}
}

// body emits copy k of the program: the step of c.lanes elements at
// element i + k*c.lanes. A load is folded into the widening that reads it.
func (c *convCompiler) body(k int) {
	base := len(c.consts) + (k%copySets)*copyRegs
	x, y, t := base, base+1, base+2
	off := k * c.lanes
	for _, in := range c.p.Body {
		switch in.Op {
		case ir.OpLoad:
			if c.p.Narrow {
				c.loadF32(x, off)
			}
		case ir.OpNarrow:
			c.narrow(in.Format, x, y, t, k)
		case ir.OpExpand:
			c.expand(in.Format, x, off)
		case ir.OpStore:
			if c.p.Narrow {
				// The step's lanes*16 bits of results.
				c.ctx.VMOVDQU(c.vreg(x, c.lanes*16*32/c.isa.Bits), c.mem(ir.StreamP, 2, off))
			} else {
				c.ctx.VMOVUPS(c.vreg(x, 32), c.mem(ir.StreamP, 4, off))
			}
		default:
			panic("x86: unexpected op in a conversion program: " + in.Op.String())
		}
	}
}

// loadF32 loads the float32 elements of one step into register x, or, for
// a step of two registers (AVX2's bfloat16 narrowing), into x and x+1.
func (c *convCompiler) loadF32(x, off int) {
	per := c.isa.Bits / 32
	for j := 0; j*per < c.lanes; j++ {
		c.ctx.VMOVUPS(c.mem(ir.StreamG, 4, off+j*per), c.vreg(x+j, 32))
	}
}

// quiet replaces the NaN lanes of x by the quiet NaN cQNaN (register 0),
// with k register km or scratch register t.
func (c *convCompiler) quiet(x, t int, km reg.Register) {
	q := c.vreg(0, 32)
	if c.isa.Masked {
		c.ctx.VCMPPS(operand.U8(unordered), c.vreg(x, 32), c.vreg(x, 32), km)
		c.ctx.VMOVAPS(q, km, c.vreg(x, 32))
		return
	}
	c.ctx.VCMPPS(operand.U8(unordered), c.vreg(x, 32), c.vreg(x, 32), c.vreg(t, 32))
	c.ctx.VBLENDVPS(c.vreg(t, 32), q, c.vreg(x, 32), c.vreg(x, 32))
}

// roundBF16 rounds the float32 bits in x to bfloat16 in the upper halves
// of its 32-bit lanes, with scratch register t: x + 0x7FFF + (x>>16 & 1),
// and shifts them down.
func (c *convCompiler) roundBF16(x, t int) {
	X, T := c.vreg(x, 32), c.vreg(t, 32)
	one, bias := c.vreg(1, 32), c.vreg(2, 32)
	c.ctx.VPSRLD(operand.U8(16), X, T)
	if c.isa.Masked {
		c.ctx.VPANDD(one, T, T)
	} else {
		c.ctx.VPAND(one, T, T)
	}
	c.ctx.VPADDD(bias, X, X)
	c.ctx.VPADDD(T, X, X)
	c.ctx.VPSRLD(operand.U8(16), X, X)
}

// narrow emits OpNarrow of the float32 lanes in x (and x+1 = y for AVX2's
// bfloat16 step of two registers), leaving the 16-bit results in the
// half-width register x, with scratch registers y and t; copy k uses k
// register K1+k%4 on AVX-512.
func (c *convCompiler) narrow(f ir.Format, x, y, t, k int) {
	km := reg.K1
	switch k % copySets {
	case 1:
		km = reg.K2
	case 2:
		km = reg.K3
	case 3:
		km = reg.K4
	}
	X := c.vreg(x, 32)
	switch {
	case f == ir.F16:
		c.quiet(x, t, km)
		c.ctx.VCVTPS2PH(operand.U8(0), X, c.vreg(x, 16))
	case c.bf16:
		c.quiet(x, t, km)
		// Zeros and subnormals: exponent field 1, and 0x80 off the result.
		c.ctx.VPTESTNMD(c.vreg(1, 32), X, km)
		c.ctx.VPORD(c.vreg(2, 32), X, km, X)
		for _, b := range CvtNEPS2BF16(x, x) {
			c.ctx.Instruction(&avoir.Instruction{Opcode: "BYTE", Operands: []operand.Op{operand.U8(b)}})
		}
		c.ctx.VPSUBW(c.vreg(3, 16), c.vreg(x, 16), km, c.vreg(x, 16))
	case c.isa.Masked:
		c.quiet(x, t, km)
		c.roundBF16(x, t)
		c.ctx.VPMOVDW(X, c.vreg(x, 16))
	default:
		// Two ymm registers of eight float32 each, x and y (= x+1),
		// packed into the 16 words of x: VPACKUSDW interleaves the
		// registers' 128-bit halves (no value saturates: each is at most
		// 0xFFFF), and VPERMQ puts the four quadwords back in order.
		c.quiet(x, t, km)
		c.quiet(y, t, km)
		c.roundBF16(x, t)
		c.roundBF16(y, t)
		Y := c.vreg(y, 32)
		c.ctx.VPACKUSDW(Y, X, X)
		c.ctx.VPERMQ(operand.U8(0xD8), X, X)
	}
}

// expand emits OpExpand with its load folded in: the 16-bit elements of one
// step widened into the float32 lanes of x.
func (c *convCompiler) expand(f ir.Format, x, off int) {
	src := c.mem(ir.StreamG, 2, off)
	X := c.vreg(x, 32)
	if f == ir.F16 {
		c.ctx.VCVTPH2PS(src, X)
		return
	}
	c.ctx.VPMOVZXWD(src, X)
	c.ctx.VPSLLD(operand.U8(16), X, X)
}

// CvtNEPS2BF16 is the encoding of VCVTNEPS2BF16 ymm<dst>, zmm<src>
// (AVX512_BF16), which the Go assembler lacks, so that the kernels emit it
// as BYTE directives: EVEX.512.F3.0F38.W0 72 /r, the registers in ModRM
// (reg = dst, rm = src) and their upper bits, inverted, in P0.
func CvtNEPS2BF16(dst, src int) [6]byte {
	inv := func(b int) byte { return byte(b&1) ^ 1 }
	p0 := inv(dst>>3)<<7 | inv(src>>4)<<6 | inv(src>>3)<<5 | inv(dst>>4)<<4 | 0b10
	return [6]byte{0x62, p0, 0x7E, 0x48, 0x72, byte(0xC0 | (dst&7)<<3 | src&7)}
}

// CvtNE2PS2BF16 is the encoding of VCVTNE2PS2BF16 zmm<dst>, zmm<hi>,
// zmm<lo> (AVX512_BF16), which the Go assembler lacks: the 16 float32 of
// lo narrowed to the low 16 bfloat16 of dst, those of hi to the high 16.
// EVEX.512.F2.0F38.W0 72 /r: dst in ModRM.reg, lo in ModRM.rm, hi in
// EVEX.vvvv and V' (all inverted).
func CvtNE2PS2BF16(dst, hi, lo int) [6]byte {
	inv := func(b int) byte { return byte(b&1) ^ 1 }
	p0 := inv(dst>>3)<<7 | inv(lo>>4)<<6 | inv(lo>>3)<<5 | inv(dst>>4)<<4 | 0b10
	p1 := byte(^hi&15)<<3 | 1<<2 | 0b11
	p2 := 0b0100_0000 | inv(hi>>4)<<3
	return [6]byte{0x62, p0, p1, p2, 0x72, byte(0xC0 | (dst&7)<<3 | lo&7)}
}

// ConvSignature is the Go signature of conversion program p's kernels
// (kernelgen.ConvSignature).
func ConvSignature(p ir.ConvProgram) *gotypes.Signature {
	u16, f32 := types.NewPointer(types.Typ[types.Uint16]), types.NewPointer(types.Typ[types.Float32])
	dst, src := u16, f32
	if !p.Narrow {
		dst, src = f32, u16
	}
	params := []*types.Var{
		types.NewParam(token.NoPos, nil, "n", types.Typ[types.Int]),
		types.NewParam(token.NoPos, nil, "dst", dst),
		types.NewParam(token.NoPos, nil, "src", src),
	}
	return gotypes.NewSignature(nil, types.NewSignatureType(nil, nil, nil, types.NewTuple(params...), nil, false))
}
