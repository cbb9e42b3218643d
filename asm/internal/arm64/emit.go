package arm64

import (
	"fmt"
	"math"
	"strings"

	"github.com/simdoptim/optim/asm/internal/kernelgen"
	"github.com/simdoptim/optim/internal/ir"
)

// General-purpose registers of every kernel. R0-R9 are free in Go assembly
// on arm64 (R18 is the platform register, R26-R30 are reserved).
const (
	regCoeffs = "R0" // *Coeffs
	regN      = "R1" // elements left
	regAddr   = "R9" // scratch address of a single lane
	regConst  = "R7" // a constant's bits on their way to a vector register, before the loop
)

// streamRegs hold the streams' addresses; the last, the master kernels'
// copy, is unused while the NEON set has none (kernelgen.Set.Master).
var streamRegs = [ir.NumStreams]string{"R2", "R3", "R4", "R5", "R6", "R8"}

// numVRegs is the number of vector registers, V0 to V31.
const numVRegs = 32

// unrollChoices are the numbers of vectors per stream that one iteration
// of the main loop may process, most preferred first; the first whose
// interleaved body fits in the vector registers is used.
var unrollChoices = []int{4, 3, 2}

// function returns the Go assembly of kernel k over elements e, with the
// Go declaration
//
//	func name(c *generic.Coeffs[T], n int, p, grad, s0, s1, s2 *T)
//
// It makes one pass over n elements: a loop over several vectors per
// stream, a loop over single vectors, then the last n mod Lanes elements
// loaded lane by lane into vectors, so no byte outside the n elements of
// each stream is read or written. Streams k does not use are never
// dereferenced.
func function(k ir.Program, e arrangement) (string, error) {
	regs, coeffLines := coefficients(k, e)
	var w strings.Builder
	line := func(format string, args ...any) { instr(&w, fmt.Sprintf(format, args...)) }
	label := func(name string) { fmt.Fprintf(&w, "%s:\n", name) }

	name := kernelgen.FuncName(k, neon.Name, e.Elem)
	fmt.Fprintf(&w, "// func %s%s\n", name, kernelgen.ProgramSignature(k, e.Elem))
	fmt.Fprintf(&w, "TEXT ·%s(SB), NOSPLIT, $0-56\n", name)
	line("MOVD c+0(FP), %s", regCoeffs)
	line("MOVD n+8(FP), %s", regN)
	for s, used := range k.Streams {
		if used {
			line("MOVD %s+%d(FP), %s", kernelgen.ParamNames[s], 16+8*s, streamRegs[s])
		}
	}
	for _, l := range coeffLines {
		line("%s", l)
	}

	unroll, body := 0, []kernelgen.Placed(nil)
	for _, u := range unrollChoices {
		if p, err := regs.Place(kernelgen.Interleave(k.Body, u, u)); err == nil {
			unroll, body = u, p
			break
		}
	}
	single, err := regs.Place(kernelgen.Interleave(k.Body, 1, 1))
	if err != nil {
		return "", err
	}
	tail, err := regs.Place(kernelgen.TailOrder(k.Body))
	if err != nil {
		return "", fmt.Errorf("tail: %v", err)
	}

	// loop emits a loop that runs while at least `vectors` full vectors
	// are left, entered at label entry (if not empty).
	loop := func(entry, name, next string, vectors int, code []kernelgen.Placed, comment string) {
		elems := vectors * e.Lanes
		fmt.Fprintf(&w, "\n\t// %s\n", comment)
		if entry != "" {
			label(entry)
		}
		line("CMP $%d, %s", elems, regN)
		line("BLT %s", next)
		label(name)
		for i := 0; i < len(code); i++ {
			if i+1 < len(code) && pairable(k, code[i], code[i+1]) {
				line("%s", pairLine(code[i], code[i+1]))
				i++
				continue
			}
			for _, l := range e.vectorLines(k, code[i]) {
				line("%s", l)
			}
		}
		for s, used := range k.Streams {
			if used {
				line("ADD $%d, %s", elems*streamSize(k, e, s), streamRegs[s])
			}
		}
		line("SUB $%d, %s", elems, regN)
		line("CMP $%d, %s", elems, regN)
		line("BGE %s", name)
	}
	if unroll > 0 {
		loop("", "unrolled", "vectors", unroll, body,
			fmt.Sprintf("%d elements per iteration: %d interleaved vectors per stream", unroll*e.Lanes, unroll))
	}
	loop("vectors", "vector", "tail", 1, single, fmt.Sprintf("%d elements per iteration: one vector per stream", e.Lanes))
	e.tailLines(&w, k, tail)
	label("done")
	line("RET")
	return w.String(), nil
}

// coefficients assigns a register, counting down from V31, to every
// coefficient and constant k reads, and returns the instructions that
// broadcast them.
func coefficients(k ir.Program, e arrangement) (kernelgen.Regs, []string) {
	coeffReg, hoisted := kernelgen.HoistedRegs(k.Body, func(n int) int { return numVRegs - 1 - n })
	var lines []string
	for n, in := range hoisted {
		r := numVRegs - 1 - n
		if in.Op == ir.OpConst {
			bits := math.Float64bits(in.Imm)
			if e.Size == 4 {
				bits = uint64(math.Float32bits(float32(in.Imm)))
			}
			lines = append(lines,
				fmt.Sprintf("MOVD $0x%x, %s // the constant %v", bits, regConst, in.Imm),
				fmt.Sprintf("VDUP %s, V%d.%s", regConst, r, e.goArr))
			continue
		}
		lines = append(lines,
			fmt.Sprintf("%s %d(%s), F%d // %s", e.fmov, in.Coeff*e.Size, regCoeffs, r, ir.CoeffNames()[in.Coeff]),
			fmt.Sprintf("VDUP V%d.%s[0], V%d.%s", r, e.goLane, r, e.goArr))
	}
	regs := kernelgen.Regs{N: numVRegs, Coeff: coeffReg, MaxNaNScratch: true}
	if k.Lowp() {
		for i, c := range lowpConsts {
			r := numVRegs - 1 - len(hoisted) - i
			regs.Reserve(r)
			lines = append(lines,
				fmt.Sprintf("MOVW $0x%08x, %s // OpNarrow's constant", c, regConst),
				fmt.Sprintf("VDUP %s, V%d.S4", regConst, r))
		}
	}
	return regs, lines
}

// lowpConsts are OpNarrow's constants in a low-precision kernel, in the
// registers below the hoisted ones: the float32 quiet NaN that every NaN
// lane becomes, and bfloat16's rounding constants (as in the conversion
// kernels, conv.go).
var lowpConsts = []uint32{0x7FC00000, 1, 0x7FFF}

// lowpReg is the register of lowpConsts[i] in kernel k.
func lowpReg(k ir.Program, i int) int {
	_, hoisted := kernelgen.HoistedRegs(k.Body, func(n int) int { return n })
	return numVRegs - 1 - len(hoisted) - i
}

// streamSize is the bytes of one element of stream s in kernel k: 2 for a
// 16-bit stream of a low-precision kernel, else the element's.
func streamSize(k ir.Program, e arrangement, s int) int {
	if k.Half[s] {
		return 2
	}
	return e.Size
}

// lowpLines renders OpNarrow and OpExpand (a low-precision kernel's
// conversions) as the conversion kernels do (conv.go), on the lower four
// lanes: OpExpand widens the 4H in A to the 4S of D (SHLL #16 or FCVTL);
// OpNarrow replaces A's NaN lanes by the quiet NaN in D (FCMEQ into the
// scratch T, then BIF), rounds bfloat16 with the integer sequence, and
// narrows D's 4S into its 4H (SHRN #16 or FCVTN). D aliases no operand of
// OpNarrow (kernelgen's mustNotAlias).
func lowpLines(k ir.Program, p kernelgen.Placed) []string {
	if p.In.Op == ir.OpExpand {
		if p.In.Format == ir.BF16 {
			return []string{convPair(encSHLL4H, p.D, p.A)}
		}
		return []string{convPair(encFCVTL4S, p.D, p.A)}
	}
	qnan, one, bias := lowpReg(k, 0), lowpReg(k, 1), lowpReg(k, 2)
	out := []string{fp3("fcmeq", encFCMEQ, arr4S, p.T, p.A, p.A)}
	if p.In.Format == ir.F16 {
		return append(out,
			fmt.Sprintf("VMOV V%d.B16, V%d.B16", p.A, p.D),
			logic3("bif", encBIF, p.D, qnan, p.T),
			convPair(encFCVTN4H, p.D, p.D))
	}
	return append(out,
		fmt.Sprintf("VUSHR $16, V%d.S4, V%d.S4", p.A, p.D),
		fmt.Sprintf("VAND V%d.B16, V%d.B16, V%d.B16", one, p.D, p.D),
		fmt.Sprintf("VADD V%d.S4, V%d.S4, V%d.S4", bias, p.D, p.D),
		fmt.Sprintf("VADD V%d.S4, V%d.S4, V%d.S4", p.A, p.D, p.D),
		logic3("bif", encBIF, p.D, qnan, p.T),
		convPair(encSHRN4H, p.D, p.D))
}

// vectorLines renders a placed step of a full-vector loop: loads and stores
// move 16 bytes at offset 16*copy from the stream's pointer, or 8 bytes at
// 8*copy for a 16-bit stream.
func (e arrangement) vectorLines(k ir.Program, p kernelgen.Placed) []string {
	switch {
	case (p.In.Op == ir.OpLoad || p.In.Op == ir.OpStore) && k.Half[p.In.Stream]:
		if p.In.Op == ir.OpLoad {
			return []string{fmt.Sprintf("FMOVD %s, F%d", mem(8*p.Copy, streamRegs[p.In.Stream]), p.D)}
		}
		return []string{fmt.Sprintf("FMOVD F%d, %s", p.A, mem(8*p.Copy, streamRegs[p.In.Stream]))}
	case p.In.Op == ir.OpNarrow || p.In.Op == ir.OpExpand:
		return lowpLines(k, p)
	}
	switch p.In.Op {
	case ir.OpLoad:
		return []string{fmt.Sprintf("FMOVQ %s, F%d", mem(16*p.Copy, streamRegs[p.In.Stream]), p.D)}
	case ir.OpStore:
		return []string{fmt.Sprintf("FMOVQ F%d, %s", p.A, mem(16*p.Copy, streamRegs[p.In.Stream]))}
	}
	return e.arith(p)
}

// pairable reports whether two steps are the loads (or the stores) of one
// stream by consecutive copies, so one load (store) pair instruction moves
// both vectors. A load pair into one register is unpredictable, so it
// needs two distinct destinations.
func pairable(k ir.Program, x, y kernelgen.Placed) bool {
	if x.In != y.In || y.Copy != x.Copy+1 || (x.In.Op == ir.OpLoad || x.In.Op == ir.OpStore) && k.Half[x.In.Stream] {
		return false
	}
	return x.In.Op == ir.OpStore || x.In.Op == ir.OpLoad && x.D != y.D
}

// pairLine renders two pairable steps as LDP or STP of two q-registers.
func pairLine(x, y kernelgen.Placed) string {
	addr := mem(16*x.Copy, streamRegs[x.In.Stream])
	if x.In.Op == ir.OpLoad {
		return fmt.Sprintf("FLDPQ %s, (F%d, F%d)", addr, x.D, y.D)
	}
	return fmt.Sprintf("FSTPQ (F%d, F%d), %s", x.A, y.A, addr)
}

// arith renders an arithmetic step. Each IR operation is one correctly
// rounded instruction; nothing is fused.
func (e arrangement) arith(p kernelgen.Placed) []string {
	switch p.In.Op {
	case ir.OpAdd:
		return []string{fp3("fadd", encFADD, e, p.D, p.A, p.B)}
	case ir.OpSub:
		return []string{fp3("fsub", encFSUB, e, p.D, p.A, p.B)}
	case ir.OpMul:
		return []string{fp3("fmul", encFMUL, e, p.D, p.A, p.B)}
	case ir.OpDiv:
		return []string{fp3("fdiv", encFDIV, e, p.D, p.A, p.B)}
	case ir.OpSqrt:
		return []string{fp2("fsqrt", encFSQRT, e, p.D, p.A)}
	case ir.OpXor:
		return []string{fmt.Sprintf("VEOR V%d.B16, V%d.B16, V%d.B16", p.B, p.A, p.D)}
	case ir.OpMaxNaN:
		// torch.maximum(A, B) selects B where A < B or B is NaN, else A
		// (a NaN A is kept, and equal operands such as -0 and +0 give A).
		// FMAX would give +0 for (-0, +0), so build a mask and select.
		return []string{
			fp3("fcmgt", encFCMGT, e, p.D, p.B, p.A), // d = B > A
			fp3("fcmeq", encFCMEQ, e, p.T, p.B, p.B), // t = B == B (B not NaN)
			logic3("orn", encORN, p.D, p.D, p.T),     // d = (B > A) | B is NaN
			logic3("bsl", encBSL, p.D, p.B, p.A),     // d = d ? B : A
		}
	case ir.OpAbs:
		return []string{fp2("fabs", encFABS, e, p.D, p.A)}
	case ir.OpRaise:
		// d = B > A; d = d ? B : A. D aliases neither operand.
		return []string{fp3("fcmgt", encFCMGT, e, p.D, p.B, p.A), logic3("bsl", encBSL, p.D, p.B, p.A)}
	case ir.OpLower:
		// d = A > B; d = d ? B : A.
		return []string{fp3("fcmgt", encFCMGT, e, p.D, p.A, p.B), logic3("bsl", encBSL, p.D, p.B, p.A)}
	case ir.OpSelect:
		// d = B > A, false if either is NaN; d = d ? X : Y. D aliases none
		// of the four operands.
		return []string{fp3("fcmgt", encFCMGT, e, p.D, p.B, p.A), logic3("bsl", encBSL, p.D, p.X, p.Y)}
	}
	panic(fmt.Sprintf("arm64: unexpected op %v", p.In.Op))
}

// tailLines renders the last 1 to Lanes-1 elements. Lane 0 of each input
// is loaded with a scalar load (which clears the other lanes), further
// lanes only while elements remain; the vector code then runs once and
// only the valid lanes are stored. The unused lanes compute on zeros,
// harmlessly: floating-point exceptions do not trap.
func (e arrangement) tailLines(w *strings.Builder, k ir.Program, code []kernelgen.Placed) {
	line := func(format string, args ...any) { instr(w, fmt.Sprintf(format, args...)) }
	fmt.Fprintf(w, "\n\t// the last n mod %d elements, lane by lane\ntail:\n", e.Lanes)
	line("CBZ %s, done", regN)
	var loads, stores []kernelgen.Placed
	lanes := func(ps []kernelgen.Placed, after string, render func(p kernelgen.Placed, lane int) string) {
		for lane := 1; lane < e.Lanes-1; lane++ {
			line("CMP $%d, %s", lane, regN)
			line("BLE %s", after)
			for _, p := range ps {
				line("ADD $%d, %s, %s", lane*streamSize(k, e, p.In.Stream), streamRegs[p.In.Stream], regAddr)
				line("%s", render(p, lane))
			}
		}
	}
	flushed := false
	flushLoads := func() {
		if flushed {
			return
		}
		flushed = true
		lanes(loads, "compute", func(p kernelgen.Placed, lane int) string {
			return fmt.Sprintf("VLD1 (%s), V%d.%s[%d]", regAddr, p.D, laneOf(k, e, p.In.Stream), lane)
		})
		if e.Lanes > 2 {
			fmt.Fprintf(w, "compute:\n")
		}
	}
	for _, p := range code {
		switch op, half := p.In.Op, k.Half[p.In.Stream] && (p.In.Op == ir.OpLoad || p.In.Op == ir.OpStore); {
		case op == ir.OpLoad && half:
			// Lane 0 alone; the other lanes keep what they held, which
			// the unused lanes compute on, harmlessly.
			loads = append(loads, p)
			line("VLD1 (%s), V%d.H[0]", streamRegs[p.In.Stream], p.D)
		case op == ir.OpStore && half:
			flushLoads()
			stores = append(stores, p)
			line("VST1 V%d.H[0], (%s)", p.A, streamRegs[p.In.Stream])
		case op == ir.OpLoad:
			loads = append(loads, p)
			line("%s (%s), F%d", e.fmov, streamRegs[p.In.Stream], p.D)
		case op == ir.OpStore:
			flushLoads()
			stores = append(stores, p)
			line("%s F%d, (%s)", e.fmov, p.A, streamRegs[p.In.Stream])
		case op == ir.OpNarrow || op == ir.OpExpand:
			flushLoads()
			for _, l := range lowpLines(k, p) {
				line("%s", l)
			}
		default:
			flushLoads()
			for _, l := range e.arith(p) {
				line("%s", l)
			}
		}
	}
	// No instruction after the first store allocates a register, so every
	// stored value is still in its register here.
	lanes(stores, "done", func(p kernelgen.Placed, lane int) string {
		return fmt.Sprintf("VST1 V%d.%s[%d], (%s)", p.A, laneOf(k, e, p.In.Stream), lane, regAddr)
	})
}

// laneOf is the Go assembler lane letter of stream s's elements in kernel
// k: "H" for a 16-bit stream, else the element's.
func laneOf(k ir.Program, e arrangement, s int) string {
	if k.Half[s] {
		return "H"
	}
	return e.goLane
}

// instr writes one instruction line, its mnemonic separated by a tab.
func instr(w *strings.Builder, s string) {
	w.WriteString("\t" + strings.Replace(s, " ", "\t", 1) + "\n")
}

func mem(off int, reg string) string {
	if off == 0 {
		return "(" + reg + ")"
	}
	return fmt.Sprintf("%d(%s)", off, reg)
}
