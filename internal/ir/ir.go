// Package ir is the operation list in which every kernel's loop body is
// stated: a straight-line program over vector values, independent of vector
// width, element type and instruction set. The update rules' descriptions in
// package generic state their bodies with its Builder (Build returns them);
// the gradient kernels' descriptions are in this package (grad.go). The
// amd64 (avo) and arm64 generators in the nested asm module compile these
// programs, so AVX2, AVX-512 and NEON are instances of one logic, and
// ir_test.go interprets every program on scalars and checks it against its
// reference kernel in package generic, bit for bit.
//
// The package is internal: the operation list is how this module generates
// its kernels, not part of its API.
package ir

import "fmt"

// Op is one operation of a kernel body.
type Op int

const (
	// OpLoad loads element i of stream Stream into Dst.
	OpLoad Op = iota
	// OpStore stores A into element i of stream Stream.
	OpStore
	// OpCoeff broadcasts coefficient Coeff (an index into CoeffNames(), or
	// into GradArgNames in a gradient program) into Dst. It is
	// loop-invariant: generators hoist it out of the loop.
	OpCoeff
	// OpAdd, OpSub, OpMul and OpDiv are Dst = A op B, correctly rounded,
	// never fused with one another.
	OpAdd
	OpSub
	OpMul
	OpDiv
	// OpSqrt is Dst = sqrt(A), correctly rounded.
	OpSqrt
	// OpXor is the bitwise Dst = A ^ B; with B = Sign it negates when
	// maximizing.
	OpXor
	// OpMaxNaN is MaxNaN(A, B): NaN if either is NaN, else B if A < B, else
	// A (so equal operands, +0 and -0 included, give A).
	OpMaxNaN

	// The operations below serve the gradient kernels (grad.go).

	// OpWiden is Dst = float64(A): exact, float32 lanes become float64
	// lanes (a vector of float32 holds half as many elements as the
	// float64 result when widened). For float64 elements it is a copy.
	OpWiden
	// OpAbs is Dst = |A|: the sign bit cleared, NaN payloads kept.
	OpAbs
	// OpRaise is Dst = B if A < B, else A: a NaN A is kept, and an A equal
	// to B (zeros of either sign included) is kept.
	OpRaise
	// OpLower is Dst = B if A > B, else A, with the same NaN and equality
	// rules as OpRaise.
	OpLower
	// OpAccum adds A into the program's accumulator (GradProgram.Acc says
	// which): it is a store into a register-resident sink, with no result.
	OpAccum

	// The operations below serve the update rules beyond Adam's, which
	// also use OpAbs (Adamax's |g|) and OpRaise and OpLower (Rprop's clamp).

	// OpConst broadcasts the constant Imm into Dst. Like OpCoeff it is
	// loop-invariant, and generators hoist it out of the loop.
	OpConst
	// OpSelect is Dst = X if A < B, else Y: an ordered comparison, so a
	// NaN A or B selects Y, and so does -0 < +0 (they compare equal).
	OpSelect

	// The operations below convert between float32 and the 16-bit storage
	// formats (conv.go), exactly as package generic specifies
	// (generic/lowp.go); Instr.Format names the format.

	// OpNarrow is Dst = the bits of float32 A rounded to Format, to nearest
	// even, with overflow to an infinity and any NaN to the format's
	// canonical NaN (generic.BF16FromFloat32, generic.F16FromFloat32). Its
	// lanes are 16 bits wide: a vector of float32 narrows to half a vector.
	OpNarrow
	// OpExpand is Dst = the float32 value of the 16-bit Format bits A,
	// exactly (generic.Float32FromBF16, generic.Float32FromF16): half a
	// vector of 16-bit lanes expands to a whole vector of float32.
	OpExpand
)

var opNames = [...]string{"load", "store", "coeff", "add", "sub", "mul", "div", "sqrt", "xor", "maxnan",
	"widen", "abs", "raise", "lower", "accum", "const", "select", "narrow", "expand"}

func (o Op) String() string { return opNames[o] }

// Streams of a kernel, in the order of generic.Kernel's slice arguments.
const (
	StreamP  = iota // parameters (read and written)
	StreamG         // gradients (read only)
	StreamS0        // first state slice
	StreamS1        // second state slice
	StreamS2        // third state slice
	// StreamCopy is a master program's 16-bit copy of the parameters,
	// which it only writes (Master); no other program touches it, and the
	// kernels of the others have no such argument.
	StreamCopy
	NumStreams
)

// Value is an SSA value: the result of one instruction.
type Value int

// Instr is one instruction. Fields an op does not use are zero; a store's
// Dst is -1.
type Instr struct {
	Op     Op
	Dst    Value
	A, B   Value
	X, Y   Value // OpSelect's choices
	Stream int
	Coeff  int
	Imm    float64 // OpConst's value, exact in float32
	Format Format  // OpNarrow's and OpExpand's 16-bit format
}

// Operands returns the values the instruction reads, in operand order.
func (in Instr) Operands() []Value {
	switch in.Op {
	case OpLoad, OpCoeff, OpConst:
		return nil
	case OpStore, OpSqrt, OpWiden, OpAbs, OpAccum, OpNarrow, OpExpand:
		return []Value{in.A}
	case OpSelect:
		return []Value{in.A, in.B, in.X, in.Y}
	}
	return []Value{in.A, in.B}
}

// Hoisted reports whether the instruction is loop-invariant: a coefficient
// or a constant, which generators place in a register before the loop.
func (in Instr) Hoisted() bool { return in.Op == OpCoeff || in.Op == OpConst }

// Program is one rule's loop body under one variant: what one generated
// assembly function computes for each element.
type Program struct {
	// Kind is the rule (a generic.Kind) and Variant the variant (a
	// generic.Variant); this package knows neither type, since package
	// generic imports it.
	Kind    int
	Variant uint32
	Body    []Instr // in program order; loads before use
	Values  int     // number of SSA values
	// Streams reports which streams the body touches; unused state slices
	// may be nil and must not be dereferenced.
	Streams [NumStreams]bool
	// Half reports the streams whose elements are 16 bits of format
	// Format (Lowp): a load of one gives half a vector of 16-bit lanes,
	// which OpExpand widens, and a store takes OpNarrow's result. Other
	// streams hold the element type.
	Half [NumStreams]bool
	// Format is the 16-bit format of the Half streams.
	Format Format
	// State32 marks a program of LowpState32: parameters and gradients
	// 16-bit, state float32. It names the program apart from Lowp's when
	// the variant has no state and the two bodies are the same.
	State32 bool
}

// Name is a stable identifier for the program, e.g. "adam_v41": the rule's
// symbol name and the variant's bits in hexadecimal.
func (p Program) Name() string {
	name := fmt.Sprintf("%s_v%02x", registered().rules[p.Kind].Name, p.Variant)
	switch {
	case p.Master():
		name += "_" + p.Format.String() + "copy"
	case p.State32:
		name += "_" + p.Format.String() + "s32"
	case p.Lowp():
		name += "_" + p.Format.String()
	}
	return name
}

// Lowp reports whether any stream of the program is 16-bit (Half).
func (p Program) Lowp() bool { return p.Half != [NumStreams]bool{} }

// Master reports whether the program writes a 16-bit copy of the
// parameters (Master): its other streams are float32.
func (p Program) Master() bool { return p.Streams[StreamCopy] }

// Lowp returns float32 program p with every stream it touches stored in
// format f: each load is followed by OpExpand, each store preceded by
// OpNarrow, and the arithmetic between is p's, on float32. This is
// generic.StepLowp with state in the parameters' format, as one loop body.
func Lowp(p Program, f Format) Program {
	return lowp(p, f, p.Streams)
}

// LowpState32 returns float32 program p with its parameters and gradients
// stored in format f and its state in float32: Lowp's widening and
// rounding on StreamP and StreamG only. This is generic.StepLowp with
// float32 state, as one loop body.
func LowpState32(p Program, f Format) Program {
	q := lowp(p, f, [NumStreams]bool{StreamP: true, StreamG: p.Streams[StreamG]})
	q.State32 = true
	return q
}

// lowp is Lowp with the streams half stored in format f.
func lowp(p Program, f Format, half [NumStreams]bool) Program {
	b := NewBuilder(registered().coeffs)
	b.p.Kind, b.p.Variant, b.p.Format = p.Kind, p.Variant, f
	b.p.Half = half
	val := make([]Value, p.Values)
	for _, in := range p.Body {
		switch {
		case in.Op == OpLoad && half[in.Stream]:
			val[in.Dst] = b.Expand(b.Load(in.Stream), f)
		case in.Op == OpStore && half[in.Stream]:
			b.Store(in.Stream, b.Narrow(val[in.A], f))
		case in.Op == OpLoad:
			val[in.Dst] = b.Load(in.Stream)
		case in.Op == OpStore:
			b.Store(in.Stream, val[in.A])
		default:
			out := in
			out.A, out.B, out.X, out.Y = val[in.A], val[in.B], val[in.X], val[in.Y]
			val[in.Dst] = b.emit(out)
		}
	}
	return b.p
}

// Master returns float32 program p that also writes the parameters it
// stores, rounded to format f, into StreamCopy: p's store of StreamP is
// followed by OpNarrow of the same value and its store to StreamCopy, and
// every other stream stays float32. This is generic.StepMaster with
// float32 gradients as one loop body: the float32 step's bits, and a copy
// equal to the narrowing of the new parameters.
func Master(p Program, f Format) Program {
	b := NewBuilder(registered().coeffs)
	b.p.Kind, b.p.Variant, b.p.Format = p.Kind, p.Variant, f
	val := make([]Value, p.Values)
	stored := false
	for _, in := range p.Body {
		switch in.Op {
		case OpLoad:
			val[in.Dst] = b.Load(in.Stream)
		case OpStore:
			b.Store(in.Stream, val[in.A])
			if in.Stream == StreamP {
				b.Store(StreamCopy, b.Narrow(val[in.A], f))
				stored = true
			}
		default:
			out := in
			out.A, out.B, out.X, out.Y = val[in.A], val[in.B], val[in.X], val[in.Y]
			val[in.Dst] = b.emit(out)
		}
	}
	if !stored || p.Lowp() {
		panic(fmt.Sprintf("ir: %s is not a float32 program that stores the parameters", p.Name()))
	}
	b.p.Half[StreamCopy] = true
	return b.p
}

// Builder records a Program. A rule's description calls its methods in the
// order of its reference kernel's operations.
type Builder struct {
	coeffs []string // the names OpCoeff's Coeff indexes
	p      Program
}

// NewBuilder returns a Builder whose Coeff resolves names in coeffs: field
// k of the coefficients is named coeffs[k].
func NewBuilder(coeffs []string) *Builder { return &Builder{coeffs: coeffs} }

// Program returns the program recorded so far.
func (b *Builder) Program() Program { return b.p }

func (b *Builder) emit(in Instr) Value {
	in.Dst = Value(b.p.Values)
	b.p.Values++
	b.p.Body = append(b.p.Body, in)
	return in.Dst
}

// Load reads element i of stream s.
func (b *Builder) Load(s int) Value {
	b.p.Streams[s] = true
	return b.emit(Instr{Op: OpLoad, Stream: s})
}

// Store writes a to element i of stream s.
func (b *Builder) Store(s int, a Value) {
	b.p.Streams[s] = true
	b.p.Body = append(b.p.Body, Instr{Op: OpStore, Stream: s, A: a, Dst: -1})
}

// Coeff reads the coefficient with the given name (a field of
// generic.Coeffs, in an update rule's program).
func (b *Builder) Coeff(name string) Value {
	for i, n := range b.coeffs {
		if n == name {
			return b.Arg(i)
		}
	}
	panic("ir: no coefficient " + name)
}

// Arg reads coefficient i by its index, as OpCoeff: a gradient program's
// scalar argument GradArgS, GradArgA or GradArgB.
func (b *Builder) Arg(i int) Value { return b.emit(Instr{Op: OpCoeff, Coeff: i}) }

func (b *Builder) op(op Op, x, y Value) Value { return b.emit(Instr{Op: op, A: x, B: y}) }

// Add, Sub, Mul and Div are one correctly rounded operation each.
func (b *Builder) Add(x, y Value) Value { return b.op(OpAdd, x, y) }
func (b *Builder) Sub(x, y Value) Value { return b.op(OpSub, x, y) }
func (b *Builder) Mul(x, y Value) Value { return b.op(OpMul, x, y) }
func (b *Builder) Div(x, y Value) Value { return b.op(OpDiv, x, y) }

// Sqrt is the correctly rounded square root.
func (b *Builder) Sqrt(x Value) Value { return b.emit(Instr{Op: OpSqrt, A: x}) }

// Xor is the bitwise x ^ y.
func (b *Builder) Xor(x, y Value) Value { return b.op(OpXor, x, y) }

// MaxNaN is MaxNaN(x, y).
func (b *Builder) MaxNaN(x, y Value) Value { return b.op(OpMaxNaN, x, y) }

// Const is the constant v, which float32 must hold exactly so that both
// element types see the same value.
func (b *Builder) Const(v float64) Value {
	if float64(float32(v)) != v {
		panic(fmt.Sprintf("ir: constant %v is not exact in float32", v))
	}
	return b.emit(Instr{Op: OpConst, Imm: v})
}

// IfLess is x if a < b, else y (see OpSelect).
func (b *Builder) IfLess(a, c, x, y Value) Value {
	return b.emit(Instr{Op: OpSelect, A: a, B: c, X: x, Y: y})
}

// Sign is generic.Sign(x): 1 or -1 by the sign of a nonzero x, and x
// itself when it is a zero (of either sign) or NaN.
func (b *Builder) Sign(x Value) Value {
	zero := b.Const(0)
	return b.IfLess(zero, x, b.Const(1), b.IfLess(x, zero, b.Const(-1), x))
}

// Widen is float64(x).
func (b *Builder) Widen(x Value) Value { return b.emit(Instr{Op: OpWiden, A: x}) }

// Abs is |x|.
func (b *Builder) Abs(x Value) Value { return b.emit(Instr{Op: OpAbs, A: x}) }

// Raise is lo if x < lo, else x.
func (b *Builder) Raise(x, lo Value) Value { return b.op(OpRaise, x, lo) }

// Lower is hi if x > hi, else x.
func (b *Builder) Lower(x, hi Value) Value { return b.op(OpLower, x, hi) }

// Accum adds x into the program's accumulator.
func (b *Builder) Accum(x Value) {
	b.p.Body = append(b.p.Body, Instr{Op: OpAccum, A: x, Dst: -1})
}
