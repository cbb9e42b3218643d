package generic

import (
	"fmt"
	"reflect"
	"unsafe"
)

// This file is the operation list (IR) in which every rule's description
// states its loop body: a straight-line program over vector values,
// independent of vector width, element type and instruction set. The amd64
// (avo) and arm64 generators in the nested asm module compile these
// programs, so AVX2, AVX-512 and NEON are instances of one logic; ir_test.go
// interprets every program on scalars and checks it against the reference
// kernel bit for bit.

// Op is one operation of a kernel body.
type Op int

const (
	// OpLoad loads element i of stream Stream into Dst.
	OpLoad Op = iota
	// OpStore stores A into element i of stream Stream.
	OpStore
	// OpCoeff broadcasts coefficient Coeff (an index into CoeffNames) into
	// Dst. It is loop-invariant: generators hoist it out of the loop.
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

	// The operations below serve the gradient kernels (reduce_desc.go).

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
)

var opNames = [...]string{"load", "store", "coeff", "add", "sub", "mul", "div", "sqrt", "xor", "maxnan",
	"widen", "abs", "raise", "lower", "accum", "const", "select"}

func (o Op) String() string { return opNames[o] }

// Streams of a kernel, in the order of Kernel's slice arguments.
const (
	StreamP  = iota // parameters (read and written)
	StreamG         // gradients (read only)
	StreamS0        // first state slice
	StreamS1        // second state slice
	StreamS2        // third state slice
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
}

// Operands returns the values the instruction reads, in operand order.
func (in Instr) Operands() []Value {
	switch in.Op {
	case OpLoad, OpCoeff, OpConst:
		return nil
	case OpStore, OpSqrt, OpWiden, OpAbs, OpAccum:
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
	Kind    Kind
	Variant Variant
	Body    []Instr // in program order; loads before use
	Values  int     // number of SSA values
	// Streams reports which streams the body touches; unused state slices
	// may be nil and must not be dereferenced.
	Streams [NumStreams]bool
}

// Name is a stable identifier for the program, e.g. "adam_v41".
func (p Program) Name() string {
	return fmt.Sprintf("%s_v%02x", Rules()[p.Kind].Name, uint32(p.Variant))
}

// CoeffNames lists the fields of Coeffs in layout order. Every field has the
// element type, so field k lies at byte offset k*sizeof(T) for both element
// types (checked when the package initializes): that is what lets assembly
// read coefficient k at a fixed offset.
var CoeffNames = coeffNames()

func coeffNames() []string {
	t32 := reflect.TypeOf(Coeffs[float32]{})
	t64 := reflect.TypeOf(Coeffs[float64]{})
	var out []string
	for i := 0; i < t32.NumField(); i++ {
		f32, f64 := t32.Field(i), t64.Field(i)
		if f32.Offset != uintptr(i)*unsafe.Sizeof(float32(0)) || f64.Offset != uintptr(i)*unsafe.Sizeof(float64(0)) {
			panic("generic: Coeffs is not a dense array of its element type")
		}
		out = append(out, f32.Name)
	}
	return out
}

func coeffIndex(name string) int {
	for i, n := range CoeffNames {
		if n == name {
			return i
		}
	}
	panic("generic: no coefficient " + name)
}

// Builder records a Program. A rule's description calls its methods in the
// order of its reference kernel's operations.
type Builder struct{ p Program }

// Build returns rule kind's program for variant v.
func Build(kind Kind, v Variant) Program {
	b := &Builder{p: Program{Kind: kind, Variant: v}}
	Rules()[kind].Program(b, v)
	return b.p
}

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

// Coeff reads the field of Coeffs with the given name.
func (b *Builder) Coeff(name string) Value {
	return b.emit(Instr{Op: OpCoeff, Coeff: coeffIndex(name)})
}

func (b *Builder) op(op Op, x, y Value) Value { return b.emit(Instr{Op: op, A: x, B: y}) }

// Add, Sub, Mul and Div are one correctly rounded operation each.
func (b *Builder) Add(x, y Value) Value { return b.op(OpAdd, x, y) }
func (b *Builder) Sub(x, y Value) Value { return b.op(OpSub, x, y) }
func (b *Builder) Mul(x, y Value) Value { return b.op(OpMul, x, y) }
func (b *Builder) Div(x, y Value) Value { return b.op(OpDiv, x, y) }

// Sqrt is the correctly rounded square root.
func (b *Builder) Sqrt(x Value) Value { return b.emit(Instr{Op: OpSqrt, A: x}) }

// MaxNaN is MaxNaN(x, y).
func (b *Builder) MaxNaN(x, y Value) Value { return b.op(OpMaxNaN, x, y) }

// Const is the constant v, which float32 must hold exactly so that both
// element types see the same value.
func (b *Builder) Const(v float64) Value {
	if float64(float32(v)) != v {
		panic(fmt.Sprintf("generic: constant %v is not exact in float32", v))
	}
	return b.emit(Instr{Op: OpConst, Imm: v})
}

// IfLess is x if a < b, else y (see OpSelect).
func (b *Builder) IfLess(a, c, x, y Value) Value {
	return b.emit(Instr{Op: OpSelect, A: a, B: c, X: x, Y: y})
}

// Sign is Sign(x): 1 or -1 by the sign of a nonzero x, and x itself when
// it is a zero (of either sign) or NaN.
func (b *Builder) Sign(x Value) Value {
	zero := b.Const(0)
	return b.IfLess(zero, x, b.Const(1), b.IfLess(x, zero, b.Const(-1), x))
}

// Gradient loads g and negates it when maximizing (XOR with Sign), as every
// reference kernel starts.
func (b *Builder) Gradient() Value { return b.op(OpXor, b.Load(StreamG), b.Coeff("Sign")) }

// Lerp is torch's lerp(start, end, w), as the reference's lerp: the high
// form with LerpComp, else the low form with Lerp.
func (b *Builder) Lerp(start, end Value, high bool) Value {
	d := b.Sub(end, start)
	if high {
		return b.Sub(end, b.Mul(d, b.Coeff("LerpComp")))
	}
	return b.Add(start, b.Mul(b.Coeff("Lerp"), d))
}
