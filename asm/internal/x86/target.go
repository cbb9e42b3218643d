// Package x86 compiles the operation lists of package internal/ir to
// amd64 assembly with avo: the kernelgen.Backend of the AVX-512 and AVX2
// kernel sets (Backend). One compiler serves every instruction set: AVX2 and
// AVX-512 are two values of ISA.
package x86

import (
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"

	"github.com/simdoptim/optim/asm/internal/kernelgen"
)

// ISA is one vector instruction set at its register width.
type ISA struct {
	kernelgen.Set     // the kernel set it compiles
	Bits          int // vector register width
	Regs          int // vector registers available
	Unroll        int // vectors per iteration of the main loop
	// Masked reports that the tail is one k-masked vector (AVX-512) rather
	// than a scalar loop (AVX2, which has no fault-suppressing masked
	// loads that are also fast).
	Masked bool
}

// AVX512 uses AVX-512F (with VL/DQ/BW required by dispatch) on zmm registers.
var AVX512 = ISA{Set: kernelgen.Set{Name: "avx512", Title: "AVX-512", Doc: "runs every kernel with AVX-512 on 512-bit registers.", Grad: true, Fused: kernelgen.Families, LowpExt: "bf16"},
	Bits: 512, Regs: 32, Unroll: 4, Masked: true}

// AVX2 uses AVX and AVX2 on ymm registers.
var AVX2 = ISA{Set: kernelgen.Set{Name: "avx2", Title: "AVX2", Doc: "runs every kernel with AVX2 on 256-bit registers.", Grad: true, Fused: kernelgen.Families},
	Bits: 256, Regs: 16, Unroll: 4}

// ISAs lists the instruction sets fastest first, the order of archSets.
var ISAs = []ISA{AVX512, AVX2}

// Lanes is the number of elements of type d in one vector.
func (isa ISA) Lanes(d kernelgen.Elem) int { return isa.Bits / 8 / d.Size }

// instrFn is an avo instruction builder taking its operands in Go assembler
// order (sources first, destination last).
type instrFn func(ops ...operand.Op)

// arith holds the instructions of one element type at one width: packed
// (vector) or scalar (the AVX2 tail).
type arith struct {
	add, sub, mul, div, sqrt, max, cmp, xor instrFn
	min, and                                instrFn // gradient kernels
	mov                                     instrFn // load or store
	blendv                                  func(mask, b, a, dst operand.Op)
	blendm                                  instrFn // AVX-512 k-mask blend
	loadz                                   func(m, k, dst operand.Op)
}

// Go assembler order puts the sources first and the destination last, and
// the first (Intel) source second to last: "VSUBPS B, A, D" is D = A - B.

// raise emits D = B if A < B, else A (ir.OpRaise). VMAXPS with B as
// its first (Intel) source returns B if B > A and A otherwise, a NaN of
// either included: B if A < B, else A.
func (ar arith) raise(a, b, dst operand.Op) { ar.max(a, b, dst) }

// lower emits D = B if A > B, else A (ir.OpLower): VMINPS likewise
// returns B if B < A, else A.
func (ar arith) lower(a, b, dst operand.Op) { ar.min(a, b, dst) }

// abs emits D = |A| (ir.OpAbs) with mask, a register holding all ones
// but each lane's sign bit (absMask).
func (ar arith) abs(mask, a, dst operand.Op) { ar.and(mask, a, dst) }

// absMask fills r, at its full width, with the mask of arith.abs for lanes
// of size bytes: all ones, shifted right by one in each lane.
func absMask(ctx *build.Context, isa ISA, r operand.Op, size int) {
	ctx.Comment("the sign-clearing mask of |x|")
	if isa.Masked {
		ctx.VPTERNLOGD(operand.U8(0xff), r, r, r)
	} else {
		ctx.VPCMPEQD(r, r, r)
	}
	if size == 8 {
		ctx.VPSRLQ(operand.U8(1), r, r)
	} else {
		ctx.VPSRLD(operand.U8(1), r, r)
	}
}

// packed returns the vector instructions for d on isa. AVX-512F has no
// VXORPS/VXORPD (that is DQ); the integer XOR is the same bitwise operation.
func packed(ctx *build.Context, isa ISA, d kernelgen.Elem) arith {
	if d.Size == 4 {
		a := arith{add: ctx.VADDPS, sub: ctx.VSUBPS, mul: ctx.VMULPS, div: ctx.VDIVPS, sqrt: ctx.VSQRTPS,
			max: ctx.VMAXPS, cmp: ctx.VCMPPS, xor: ctx.VXORPS, mov: ctx.VMOVUPS, blendv: ctx.VBLENDVPS,
			blendm: ctx.VBLENDMPS, loadz: ctx.VMOVUPS_Z, min: ctx.VMINPS, and: ctx.VANDPS}
		if isa.Masked {
			a.xor, a.and = ctx.VPXORD, ctx.VPANDD
		}
		return a
	}
	a := arith{add: ctx.VADDPD, sub: ctx.VSUBPD, mul: ctx.VMULPD, div: ctx.VDIVPD, sqrt: ctx.VSQRTPD,
		max: ctx.VMAXPD, cmp: ctx.VCMPPD, xor: ctx.VXORPD, mov: ctx.VMOVUPD, blendv: ctx.VBLENDVPD,
		blendm: ctx.VBLENDMPD, loadz: ctx.VMOVUPD_Z, min: ctx.VMINPD, and: ctx.VANDPD}
	if isa.Masked {
		a.xor, a.and = ctx.VPXORQ, ctx.VPANDQ
	}
	return a
}

// scalar returns the one-element instructions for d, VEX-encoded like the
// vector code so that no SSE/AVX transition occurs.
func scalar(ctx *build.Context, d kernelgen.Elem) arith {
	if d.Size == 4 {
		return arith{add: ctx.VADDSS, sub: ctx.VSUBSS, mul: ctx.VMULSS, div: ctx.VDIVSS, sqrt: ctx.VSQRTSS,
			max: ctx.VMAXSS, min: ctx.VMINSS, cmp: ctx.VCMPSS, xor: ctx.VXORPS, and: ctx.VANDPS, mov: ctx.VMOVSS,
			blendv: ctx.VBLENDVPS}
	}
	return arith{add: ctx.VADDSD, sub: ctx.VSUBSD, mul: ctx.VMULSD, div: ctx.VDIVSD, sqrt: ctx.VSQRTSD,
		max: ctx.VMAXSD, min: ctx.VMINSD, cmp: ctx.VCMPSD, xor: ctx.VXORPD, and: ctx.VANDPD, mov: ctx.VMOVSD,
		blendv: ctx.VBLENDVPD}
}

// broadcast returns the instruction that fills a vector with one element.
func broadcast(ctx *build.Context, d kernelgen.Elem) instrFn {
	if d.Size == 4 {
		return ctx.VBROADCASTSS
	}
	return ctx.VBROADCASTSD
}
