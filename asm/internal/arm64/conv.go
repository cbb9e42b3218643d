package arm64

import (
	"fmt"
	"strings"

	"github.com/simdoptim/optim/asm/internal/kernelgen"
	"github.com/simdoptim/optim/internal/ir"
)

// The conversion kernels (ir.ConvPrograms): OpNarrow and OpExpand in NEON.
//
//   - NaN lanes of a narrowing's input are replaced by the float32 quiet
//     NaN 0x7FC00000 first (FCMEQ x, x is false exactly on them; BIF
//     inserts the constant there), which both sequences below turn into
//     the canonical NaN (0x7FC0, 0x7E00) whatever FPCR.DN says; FCVTN
//     would otherwise keep a NaN's sign and payload.
//   - bfloat16 narrowing: the integer rounding of generic.BF16FromFloat32,
//     b + 0x7FFF + (b>>16 & 1), then SHRN/SHRN2 #16, which shift each
//     32-bit lane right by 16 and narrow it into a 16-bit lane. BFCVTN
//     (FEAT_BF16) is not used: a second form dispatched on it would need
//     arm64 feature detection of FEAT_BF16 (HWCAP2_BF16) for a gain in a
//     pass bound by memory, and the integer sequence is 5 instructions
//     per four elements.
//   - float16 narrowing: FCVTN/FCVTN2, which round by FPCR.RMode (to
//     nearest even, Go's setting, which the kernels assume and never
//     change) with subnormal results (FPCR.FZ16 clear).
//   - bfloat16 widening: SHLL/SHLL2 #16, the shift left long by the
//     element size: exact, NaN bits included.
//   - float16 widening: FCVTL/FCVTL2, exact; a signaling NaN is made
//     quiet with its sign and payload kept (FPCR.DN clear, Go's setting),
//     as generic.Float32FromF16 does.
//
// A kernel runs whole units of kernelgen.ConvUnit (16) elements, four
// vectors of float32, one unit per iteration: no byte beyond n elements of
// either slice is touched.

// Encodings of the NEON instructions the Go assembler lacks (Rd = Rn = 0),
// from llvm-mc -triple=aarch64 -show-encoding.
const (
	encSHRN4H   = 0x0f108400 // shrn vd.4h, vn.4s, #16
	encSHRN8H   = 0x4f108400 // shrn2 vd.8h, vn.4s, #16
	encFCVTN4H  = 0x0e216800 // fcvtn vd.4h, vn.4s
	encFCVTN8H  = 0x4e216800 // fcvtn2 vd.8h, vn.4s
	encSHLL4H   = 0x2e613800 // shll vd.4s, vn.4h, #16
	encSHLL8H   = 0x6e613800 // shll2 vd.4s, vn.8h, #16
	encFCVTL4S  = 0x0e217800 // fcvtl vd.4s, vn.4h
	encFCVTL24S = 0x4e217800 // fcvtl2 vd.4s, vn.8h
	encBIF      = 0x6ee01c00 // bif vd.16b, vn.16b, vm.16b
)

// convPair encodes one of the two-register instructions above with its
// GNU syntax: the narrowing ones (dst arrangement 4h or 8h, src 4s) and
// the widening ones (dst 4s, src 4h or 8h).
func convPair(base uint32, d, n int) string {
	w := base | uint32(n)<<5 | uint32(d)
	var gnu string
	switch base {
	case encSHRN4H:
		gnu = fmt.Sprintf("shrn v%d.4h, v%d.4s, #16", d, n)
	case encSHRN8H:
		gnu = fmt.Sprintf("shrn2 v%d.8h, v%d.4s, #16", d, n)
	case encFCVTN4H:
		gnu = fmt.Sprintf("fcvtn v%d.4h, v%d.4s", d, n)
	case encFCVTN8H:
		gnu = fmt.Sprintf("fcvtn2 v%d.8h, v%d.4s", d, n)
	case encSHLL4H:
		gnu = fmt.Sprintf("shll v%d.4s, v%d.4h, #16", d, n)
	case encSHLL8H:
		gnu = fmt.Sprintf("shll2 v%d.4s, v%d.8h, #16", d, n)
	case encFCVTL4S:
		gnu = fmt.Sprintf("fcvtl v%d.4s, v%d.4h", d, n)
	case encFCVTL24S:
		gnu = fmt.Sprintf("fcvtl2 v%d.4s, v%d.8h", d, n)
	default:
		panic(fmt.Sprintf("arm64: %#08x is not a conversion instruction", base))
	}
	return word(w, gnu)
}

// The NEON conversion form: every program with NEON's own instructions.
func (b *Backend) ConvForms() []kernelgen.ConvForm {
	return []kernelgen.ConvForm{{Set: neon,
		Kinds: []ir.ConvKind{ir.ConvNarrowBF16, ir.ConvWidenBF16, ir.ConvNarrowF16, ir.ConvWidenF16}}}
}

// Conv adds the kernel of conversion program p in form f.
func (b *Backend) Conv(f kernelgen.ConvForm, p ir.ConvProgram) error {
	if f.Set.Name != neon.Name || f.Ext != "" {
		return fmt.Errorf("arm64: %s%s is not the NEON set", f.Set.Name, f.Ext)
	}
	s, err := convFunction(f, p)
	if err != nil {
		return err
	}
	b.body.WriteString("\n")
	b.body.WriteString(s)
	return nil
}

// Registers of the conversion kernels: dst, src, the constants, and the
// scratch registers. V0-V3 hold the unit's four float32 vectors, V4-V7
// scratch; the 16-bit elements of a unit are two vectors, in V0 and V1 of
// a narrowing's result and V4 and V5 of a widening's input.
const (
	convDst, convSrc  = "R2", "R3"
	vQNaN, vOne, vBia = 16, 17, 18
)

// convFunction returns the Go assembly of conversion program p.
func convFunction(f kernelgen.ConvForm, p ir.ConvProgram) (string, error) {
	var w strings.Builder
	line := func(format string, args ...any) { instr(&w, fmt.Sprintf(format, args...)) }
	name := kernelgen.ConvFuncName(p, f)
	fmt.Fprintf(&w, "// func %s%s\n", name, kernelgen.ConvSignature(p))
	fmt.Fprintf(&w, "TEXT ·%s(SB), NOSPLIT, $0-24\n", name)
	line("MOVD n+0(FP), %s", regN)
	line("MOVD dst+8(FP), %s", convDst)
	line("MOVD src+16(FP), %s", convSrc)
	var consts [][2]uint32
	for _, in := range p.Body {
		if in.Op == ir.OpNarrow {
			consts = append(consts, [2]uint32{vQNaN, 0x7FC00000})
			if in.Format == ir.BF16 {
				consts = append(consts, [2]uint32{vOne, 1}, [2]uint32{vBia, 0x7FFF})
			}
		}
	}
	for _, c := range consts {
		line("MOVW $0x%08x, %s", c[1], regConst)
		line("VDUP %s, V%d.S4", regConst, c[0])
	}
	line("CMP $%d, %s", kernelgen.ConvUnit, regN)
	line("BLT done")
	fmt.Fprintf(&w, "unit:\n")
	for _, in := range p.Body {
		switch in.Op {
		case ir.OpLoad:
			if p.Narrow {
				line("VLD1.P 64(%s), [V0.S4, V1.S4, V2.S4, V3.S4]", convSrc)
			} else {
				line("VLD1.P 32(%s), [V4.H8, V5.H8]", convSrc)
			}
		case ir.OpNarrow:
			for v := 0; v < 4; v++ {
				t := 4 + v
				line("%s", fp3("fcmeq", encFCMEQ, arr4S, t, v, v))
				line("%s", logic3("bif", encBIF, v, vQNaN, t))
			}
			lo, hi := uint32(encFCVTN4H), uint32(encFCVTN8H)
			if in.Format == ir.BF16 {
				for v := 0; v < 4; v++ {
					t := 4 + v
					line("VUSHR $16, V%d.S4, V%d.S4", v, t)
					line("VAND V%d.B16, V%d.B16, V%d.B16", vOne, t, t)
					line("VADD V%d.S4, V%d.S4, V%d.S4", vBia, v, v)
					line("VADD V%d.S4, V%d.S4, V%d.S4", t, v, v)
				}
				lo, hi = encSHRN4H, encSHRN8H
			}
			// V0 = narrow(V0, V1), then V1 = narrow(V2, V3).
			line("%s", convPair(lo, 0, 0))
			line("%s", convPair(hi, 0, 1))
			line("%s", convPair(lo, 1, 2))
			line("%s", convPair(hi, 1, 3))
		case ir.OpExpand:
			lo, hi := uint32(encFCVTL4S), uint32(encFCVTL24S)
			if in.Format == ir.BF16 {
				lo, hi = encSHLL4H, encSHLL8H
			}
			line("%s", convPair(lo, 0, 4))
			line("%s", convPair(hi, 1, 4))
			line("%s", convPair(lo, 2, 5))
			line("%s", convPair(hi, 3, 5))
		case ir.OpStore:
			if p.Narrow {
				line("VST1.P [V0.H8, V1.H8], 32(%s)", convDst)
			} else {
				line("VST1.P [V0.S4, V1.S4, V2.S4, V3.S4], 64(%s)", convDst)
			}
		default:
			return "", fmt.Errorf("unexpected op in a conversion program: %v", in.Op)
		}
	}
	line("SUB $%d, %s", kernelgen.ConvUnit, regN)
	line("CMP $%d, %s", kernelgen.ConvUnit, regN)
	line("BGE unit")
	fmt.Fprintf(&w, "done:\n")
	line("RET")
	return w.String(), nil
}
