package x86

import (
	"math"

	"github.com/mmcloughlin/avo/operand"

	"github.com/simdoptim/optim/asm/internal/kernelgen"
	"github.com/simdoptim/optim/internal/ir"
)

// Division by a coefficient with Markstein's correction.
//
// Adam divides sqrt(v) by the loop-invariant coefficient BC2Sqrt, and
// AVX-512 on Zen 5 is bound by the divider there. With y = RN(1/c), one
// correctly rounded division before the loop, each element computes
//
//	q  = RN(x*y)
//	r  = RN(x - q*c)   (exact: one FMA)
//	q' = RN(q + r*y)   (one FMA)
//
// and Markstein's theorem (Handbook of Floating-Point Arithmetic, the final
// step of IA-64's division) says q' = RN(x/c) when y is within half an ulp
// of 1/c (it is RN(1/c)) and q within an ulp of x/c (RN(x*y) is), provided
// no intermediate overflows or underflows: q and q' must be normal and
// finite, and r exact (the remainder of a quotient within an ulp is a
// float unless it underflows; here it is a multiple of ulp(q)*ulp(c), at
// least 2^-123 for float32 and 2^-642 for float64 with the x and c below,
// far above the subnormal quanta). The generic reference is IEEE division
// and stays so: the kernels give its bits.
//
// The ranges. x = sqrt(v) is ±0, +Inf, NaN (handled apart, below) or in
// [2^-75, 2^64) for float32 (the square roots of the smallest subnormal and
// of the largest finite value), [2^-537, 2^512) for float64. Normal values
// are [2^-126, 2^128) and [2^-1022, 2^1024). With c in [2^-62, 2^50],
// y = RN(1/c) is in [2^-50, 2^62] and q = RN(x*y) in [2^-125, 2^126]:
// normal, one binade from either end (RN is monotone, so the bounds carry
// over). For float64 the same margin gives c in [2^-510, 2^484]: y in
// [2^-484, 2^510], q in [2^-1021, 2^1022]. A c outside the range (or
// zero, negative, subnormal, infinite or NaN: the caller's coefficients
// are any values) runs the dividing loop instead, chosen by one unsigned
// compare of c's bits in the prologue: the positive finite floats are
// ordered as their bits are, and every negative value, NaN and infinity
// has bits above the range's.
//
// The exceptional x: q is x*y there, exactly x/c, but r would be NaN (0 -
// 0*c is fine, but -0 gives +0 after the correction, and Inf - Inf*c is
// NaN), so VFPCLASS marks zeros, infinities and NaNs (a NaN's q is x
// quieted, as x/c is) and the correction applies to the other lanes only.
// kernels/markstein_test.go holds the kernels to generic at and around the
// range's bounds, checks the algorithm in pure Go on samples of both types,
// and on every float32 x in range for nine divisors (both bounds among
// them) with OPTIM_EXHAUSTIVE=1.

// marksteinRange is the [lo, hi] range of the coefficient c, as bits of
// element type d, in which the kernels divide by c with Markstein's
// correction (see above).
func marksteinRange(d kernelgen.Elem) (lo, hi uint64) {
	if d.Size == 4 {
		return uint64(math.Float32bits(0x1p-62)), uint64(math.Float32bits(0x1p50))
	}
	return math.Float64bits(0x1p-510), math.Float64bits(0x1p484)
}

// fpclassSpecial is VFPCLASS's selection of the lanes the correction must
// leave alone: quiet NaN (bit 0), ±0 (bits 1, 2), ±Inf (bits 3, 4) and
// signaling NaN (bit 7).
const fpclassSpecial = 0x01 | 0x02 | 0x04 | 0x08 | 0x10 | 0x80

// marksteinDivs returns the divisions of body, by their result, that
// divide a square root by a coefficient, Div(Sqrt(_), Coeff(c)), and the
// index of c: only those by the first such coefficient, so that one
// reciprocal and one range check serve them all. Only Adam has one today.
func marksteinDivs(body []ir.Instr) (map[ir.Value]bool, int) {
	def := map[ir.Value]ir.Instr{}
	var divs map[ir.Value]bool
	coeff := -1
	for _, in := range body {
		def[in.Dst] = in
		if in.Op != ir.OpDiv {
			continue
		}
		a, b := def[in.A], def[in.B]
		if a.Op != ir.OpSqrt || b.Op != ir.OpCoeff || coeff >= 0 && b.Coeff != coeff {
			continue
		}
		if divs == nil {
			divs, coeff = map[ir.Value]bool{}, b.Coeff
		}
		divs[in.Dst] = true
	}
	return divs, coeff
}

// reciprocal emits the prologue of the kernels with Markstein's
// correction: a branch to the dividing loops at label divide unless the
// coefficient is in marksteinRange, then RN(1/c) in every lane of
// recipReg.
func (c *compiler) reciprocal(divide string) {
	ctx := c.ctx
	name := ir.CoeffNames()[c.divCoeff]
	lo, hi := marksteinRange(c.d)
	mem := operand.Mem{Base: coeffPtr, Disp: c.divCoeff * c.d.Size}
	ctx.Commentf("c.%s in [%#x, %#x] as bits, or divide (one unsigned compare)", name, lo, hi)
	if c.d.Size == 4 {
		ctx.MOVL(mem, constBits.As32())
		ctx.SUBL(operand.U32(lo), constBits.As32())
		ctx.CMPL(constBits.As32(), operand.U32(hi-lo))
	} else {
		// No 64-bit immediate operands: the bounds go through maskBits,
		// free until the tail.
		ctx.MOVQ(mem, constBits)
		ctx.MOVQ(operand.U64(lo), maskBits)
		ctx.SUBQ(maskBits, constBits)
		ctx.MOVQ(operand.U64(hi-lo), maskBits)
		ctx.CMPQ(constBits, maskBits)
	}
	ctx.JA(operand.LabelRef(divide))
	ctx.Commentf("RN(1/c.%s), for Markstein's correction", name)
	c.constant(1, c.recipReg)
	r := c.reg(c.recipReg, fullVector)
	c.vec.div(c.reg(c.coeffReg(c.divCoeff), fullVector), r, r)
}

// coeffReg returns the register coefficient i is broadcast to.
func (c *compiler) coeffReg(i int) int {
	for r, in := range c.hoisted {
		if in.Op == ir.OpCoeff && in.Coeff == i {
			return r
		}
	}
	panic("x86: coefficient not hoisted")
}

// divMarkstein emits step s, D = A/B (B the coefficient, A a square root),
// in form f (a whole or masked vector) with Markstein's correction: K7 =
// the lanes A is finite and nonzero in; T = A (unless T is A's register,
// A dying here); D = A*y; T = A - D*B; D = D + T*y in K7's lanes. D may be
// A's register: A is read before D is written.
func (c *compiler) divMarkstein(s kernelgen.Placed, f form) {
	ctx := c.ctx
	a, b, d, t, y := c.reg(s.A, f), c.reg(s.B, f), c.reg(s.D, f), c.reg(s.T, f), c.reg(c.recipReg, f)
	if c.d.Size == 4 {
		ctx.VFPCLASSPSZ(operand.U8(fpclassSpecial), a, corrected)
	} else {
		ctx.VFPCLASSPDZ(operand.U8(fpclassSpecial), a, corrected)
	}
	ctx.KNOTW(corrected, corrected)
	if s.T != s.A {
		if c.d.Size == 4 {
			ctx.VMOVAPS(a, t)
		} else {
			ctx.VMOVAPD(a, t)
		}
	}
	c.vec.mul(y, a, d)
	if c.d.Size == 4 {
		ctx.VFNMADD231PS(b, d, t)
		ctx.VFMADD231PS(y, t, corrected, d)
	} else {
		ctx.VFNMADD231PD(b, d, t)
		ctx.VFMADD231PD(y, t, corrected, d)
	}
}
