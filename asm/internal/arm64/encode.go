// Package arm64 compiles the operation lists of package internal/ir into Go
// arm64 assembly using 128-bit Advanced SIMD (NEON) registers: the
// kernelgen.Backend of the NEON kernel set (Backend).
//
// The Go assembler has no mnemonics for most vector floating-point and
// bitwise-select instructions, so those are emitted as WORD directives whose
// encodings are computed here from the field layouts of the Arm Architecture
// Reference Manual. Each WORD carries the instruction in GNU syntax, exactly
// as golang.org/x/arch/arm64/arm64asm.GNUSyntax prints it, so that a test can
// decode every WORD and compare it with its comment.
package arm64

import (
	"fmt"

	"github.com/simdoptim/optim/asm/internal/kernelgen"
)

// arrangement is how a 128-bit register holds an element type: its lanes
// and the spellings and encoding bits of its instructions.
type arrangement struct {
	kernelgen.Elem
	Lanes  int    // elements per 128-bit register
	arr    string // GNU arrangement: "4s" or "2d"
	goArr  string // Go assembler arrangement: "S4" or "D2"
	goLane string // Go assembler lane letter: "S" or "D"
	fmov   string // Go scalar load/store of one element: "FMOVS" or "FMOVD"
	sz     uint32 // the sz bit of the floating-point vector encodings
}

// The arrangements of the element types: four float32 lanes (4S) or two
// float64 lanes (2D).
var (
	arr4S = arrangement{Elem: kernelgen.F32, Lanes: 4, arr: "4s", goArr: "S4", goLane: "S", fmov: "FMOVS", sz: 0}
	arr2D = arrangement{Elem: kernelgen.F64, Lanes: 2, arr: "2d", goArr: "D2", goLane: "D", fmov: "FMOVD", sz: 1}
)

// arrangementOf returns the arrangement of element type e.
func arrangementOf(e kernelgen.Elem) (arrangement, error) {
	for _, a := range []arrangement{arr4S, arr2D} {
		if a.Elem == e {
			return a, nil
		}
	}
	return arrangement{}, fmt.Errorf("arm64: no arrangement of %s", e.Go)
}

// Base encodings (Q=1, all register fields zero) of the Advanced SIMD
// instructions the Go assembler lacks. The floating-point ones take the sz
// bit (bit 22) from the element type; the bitwise ones work on 16 bytes.
const (
	encFADD  = 0x4e20d400 // three same: U=0 size=0x opcode=11010
	encFSUB  = 0x4ea0d400 // three same: U=0 size=1x opcode=11010
	encFMUL  = 0x6e20dc00 // three same: U=1 size=0x opcode=11011
	encFDIV  = 0x6e20fc00 // three same: U=1 size=0x opcode=11111
	encFCMEQ = 0x4e20e400 // three same: U=0 size=0x opcode=11100
	encFCMGT = 0x6ea0e400 // three same: U=1 size=1x opcode=11100
	encFSQRT = 0x6ea1f800 // two-register misc: U=1 size=1x opcode=11111
	encORN   = 0x4ee01c00 // three same logical: U=0 size=11
	encBSL   = 0x6e601c00 // three same logical: U=1 size=01
	encBIT   = 0x6ea01c00 // three same logical: U=1 size=10
	encFABS  = 0x4ea0f800 // two-register misc: U=0 size=1x opcode=01111
	encFCVTL = 0x0e617800 // two-register misc: Q=0 U=0 sz=1 opcode=10111, 2S to 2D
)

// fp3 encodes a three-register floating-point vector instruction
// Vd = Vn op Vm and returns the WORD line.
func fp3(name string, base uint32, e arrangement, d, n, m int) string {
	w := base | e.sz<<22 | uint32(m)<<16 | uint32(n)<<5 | uint32(d)
	return word(w, fmt.Sprintf("%s v%d.%s, v%d.%s, v%d.%s", name, d, e.arr, n, e.arr, m, e.arr))
}

// fp2 encodes a two-register floating-point vector instruction Vd = op Vn.
func fp2(name string, base uint32, e arrangement, d, n int) string {
	w := base | e.sz<<22 | uint32(n)<<5 | uint32(d)
	return word(w, fmt.Sprintf("%s v%d.%s, v%d.%s", name, d, e.arr, n, e.arr))
}

// logic3 encodes a three-register bitwise vector instruction on 16 bytes.
func logic3(name string, base uint32, d, n, m int) string {
	w := base | uint32(m)<<16 | uint32(n)<<5 | uint32(d)
	return word(w, fmt.Sprintf("%s v%d.16b, v%d.16b, v%d.16b", name, d, n, m))
}

func word(w uint32, gnu string) string { return fmt.Sprintf("WORD $0x%08x // %s", w, gnu) }
