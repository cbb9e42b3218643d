// Package rules describes every update kernel once, as a straight-line
// program over vector values, independent of vector width, element type and
// instruction set. The amd64 (avo) and arm64 emitters compile the same
// descriptions, so AVX2, AVX-512 and NEON are instances of one logic.
//
// Each description transcribes the loop body of the matching reference in
// package generic, operation for operation and in the same order: that is
// what makes the SIMD kernels bit-identical to the reference. rules_test.go
// interprets every description on scalars and checks it against generic.
package rules

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/simdoptim/optim/generic"
)

// Op is one operation of a kernel body.
type Op int

const (
	// OpLoad loads element i of stream Stream into Dst.
	OpLoad Op = iota
	// OpStore stores A into element i of stream Stream.
	OpStore
	// OpCoeff broadcasts coefficient Coeff (an index into Coeffs) into Dst.
	// It is loop-invariant: emitters hoist it out of the loop.
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
	// OpMaxNaN is torch.maximum(A, B): NaN if either is NaN, else B if
	// A < B, else A (so equal operands, +0 and -0 included, give A).
	OpMaxNaN
)

var opNames = [...]string{"load", "store", "coeff", "add", "sub", "mul", "div", "sqrt", "xor", "maxnan"}

func (o Op) String() string { return opNames[o] }

// Streams of a kernel, in the order of the kernel's slice arguments.
const (
	StreamP  = iota // parameters (read and written)
	StreamG         // gradients (read only)
	StreamS0        // first state slice
	StreamS1        // second state slice
	StreamS2        // third state slice
	NumStreams
)

// StreamNames are the argument names of the streams.
var StreamNames = [NumStreams]string{"p", "g", "s0", "s1", "s2"}

// Value is an SSA value: the result of one instruction.
type Value int

// Instr is one instruction. Fields an op does not use are zero.
type Instr struct {
	Op     Op
	Dst    Value
	A, B   Value
	Stream int
	Coeff  int
}

// Operands returns the values the instruction reads, in operand order.
func (in Instr) Operands() []Value {
	switch in.Op {
	case OpLoad, OpCoeff:
		return nil
	case OpStore, OpSqrt:
		return []Value{in.A}
	}
	return []Value{in.A, in.B}
}

// Kernel is one compiled unit: a rule under one variant.
type Kernel struct {
	Rule    string          // "sgd", "adagrad", "rmsprop" or "adam"
	Variant generic.Variant // the operations it performs
	Body    []Instr         // in program order; loads before use
	Values  int             // number of SSA values
	// Streams reports which streams the body touches; unused state slices
	// may be nil and must not be dereferenced.
	Streams [NumStreams]bool
}

// Name is a stable identifier for the kernel, e.g. "adam_v41".
func (k Kernel) Name() string { return fmt.Sprintf("%s_v%02x", k.Rule, uint32(k.Variant)) }

// Coeff describes one field of generic.Coeffs.
type Coeff struct {
	Name  string
	Index int // field index; its byte offset is Index*sizeof(element)
}

// Coeffs lists generic.Coeffs's fields in layout order. Every field has the
// element type, so field k lies at byte offset k*size for both element types
// (checked in init).
var Coeffs = coeffFields()

func coeffFields() []Coeff {
	t32 := reflect.TypeOf(generic.Coeffs[float32]{})
	t64 := reflect.TypeOf(generic.Coeffs[float64]{})
	var out []Coeff
	for i := 0; i < t32.NumField(); i++ {
		f32, f64 := t32.Field(i), t64.Field(i)
		if f32.Offset != uintptr(i)*unsafe.Sizeof(float32(0)) || f64.Offset != uintptr(i)*unsafe.Sizeof(float64(0)) {
			panic("rules: generic.Coeffs is not a dense array of its element type")
		}
		out = append(out, Coeff{Name: f32.Name, Index: i})
	}
	return out
}

func coeffIndex(name string) int {
	for _, c := range Coeffs {
		if c.Name == name {
			return c.Index
		}
	}
	panic("rules: no coefficient " + name)
}

// builder records a kernel body.
type builder struct{ k Kernel }

func (b *builder) emit(in Instr) Value {
	in.Dst = Value(b.k.Values)
	b.k.Values++
	b.k.Body = append(b.k.Body, in)
	return in.Dst
}

func (b *builder) load(stream int) Value {
	b.k.Streams[stream] = true
	return b.emit(Instr{Op: OpLoad, Stream: stream})
}

func (b *builder) store(stream int, a Value) {
	b.k.Streams[stream] = true
	b.k.Body = append(b.k.Body, Instr{Op: OpStore, Stream: stream, A: a, Dst: -1})
}

func (b *builder) coeff(name string) Value {
	return b.emit(Instr{Op: OpCoeff, Coeff: coeffIndex(name)})
}

func (b *builder) op(op Op, a, c Value) Value { return b.emit(Instr{Op: op, A: a, B: c}) }
func (b *builder) add(a, c Value) Value       { return b.op(OpAdd, a, c) }
func (b *builder) sub(a, c Value) Value       { return b.op(OpSub, a, c) }
func (b *builder) mul(a, c Value) Value       { return b.op(OpMul, a, c) }
func (b *builder) div(a, c Value) Value       { return b.op(OpDiv, a, c) }
func (b *builder) sqrt(a Value) Value         { return b.emit(Instr{Op: OpSqrt, A: a}) }

// gradient loads g and negates it when maximizing (XOR with Sign).
func (b *builder) gradient() Value { return b.op(OpXor, b.load(StreamG), b.coeff("Sign")) }

// lerp is torch's lerp(start, end, w), as generic.lerp.
func (b *builder) lerp(start, end Value, high bool) Value {
	d := b.sub(end, start)
	if high {
		return b.sub(end, b.mul(d, b.coeff("LerpComp")))
	}
	return b.add(start, b.mul(b.coeff("Lerp"), d))
}

// SGD transcribes generic.SGD.
func SGD(v generic.Variant) Kernel {
	b := &builder{k: Kernel{Rule: "sgd", Variant: v}}
	p := b.load(StreamP)
	g := b.gradient()
	if v&generic.VarWeightDecay != 0 {
		g = b.add(g, b.mul(b.coeff("WeightDecay"), p))
	}
	if v&generic.VarMomentum != 0 {
		buf := g
		if v&generic.VarFirst == 0 {
			buf = b.add(b.mul(b.load(StreamS0), b.coeff("Momentum")), b.mul(b.coeff("Dampening"), g))
		}
		b.store(StreamS0, buf)
		if v&generic.VarNesterov != 0 {
			g = b.add(g, b.mul(b.coeff("Momentum"), buf))
		} else {
			g = buf
		}
	}
	b.store(StreamP, b.add(p, b.mul(b.coeff("NegLR"), g)))
	return b.k
}

// Adagrad transcribes generic.Adagrad.
func Adagrad(v generic.Variant) Kernel {
	b := &builder{k: Kernel{Rule: "adagrad", Variant: v}}
	p := b.load(StreamP)
	g := b.gradient()
	if v&generic.VarWeightDecay != 0 {
		g = b.add(g, b.mul(b.coeff("WeightDecay"), p))
	}
	s := b.add(b.load(StreamS0), b.mul(g, g))
	b.store(StreamS0, s)
	std := b.add(b.sqrt(s), b.coeff("Eps"))
	b.store(StreamP, b.add(p, b.div(b.mul(b.coeff("NegLR"), g), std)))
	return b.k
}

// RMSProp transcribes generic.RMSProp.
func RMSProp(v generic.Variant) Kernel {
	b := &builder{k: Kernel{Rule: "rmsprop", Variant: v}}
	p := b.load(StreamP)
	g := b.gradient()
	if v&generic.VarWeightDecay != 0 {
		g = b.add(g, b.mul(b.coeff("WeightDecay"), p))
	}
	s := b.add(b.mul(b.load(StreamS0), b.coeff("Beta2")), b.mul(b.mul(b.coeff("OneMinusBeta2"), g), g))
	b.store(StreamS0, s)
	var avg Value
	if v&generic.VarCentered != 0 {
		a := b.lerp(b.load(StreamS1), g, v&generic.VarLerpHigh != 0)
		b.store(StreamS1, a)
		avg = b.sqrt(b.sub(s, b.mul(a, a)))
	} else {
		avg = b.sqrt(s)
	}
	avg = b.add(avg, b.coeff("Eps"))
	if v&generic.VarMomentum != 0 {
		buf := b.add(b.mul(b.load(StreamS2), b.coeff("Momentum")), b.div(g, avg))
		b.store(StreamS2, buf)
		b.store(StreamP, b.add(p, b.mul(b.coeff("NegLR"), buf)))
	} else {
		b.store(StreamP, b.add(p, b.div(b.mul(b.coeff("NegLR"), g), avg)))
	}
	return b.k
}

// Adam transcribes generic.Adam.
func Adam(v generic.Variant) Kernel {
	b := &builder{k: Kernel{Rule: "adam", Variant: v}}
	p := b.load(StreamP)
	g := b.gradient()
	if v&generic.VarDecoupled != 0 {
		p = b.mul(p, b.coeff("Decay"))
	}
	if v&generic.VarWeightDecay != 0 {
		g = b.add(g, b.mul(b.coeff("WeightDecay"), p))
	}
	m := b.lerp(b.load(StreamS0), g, v&generic.VarLerpHigh != 0)
	b.store(StreamS0, m)
	sq := b.add(b.mul(b.load(StreamS1), b.coeff("Beta2")), b.mul(b.mul(b.coeff("OneMinusBeta2"), g), g))
	b.store(StreamS1, sq)
	if v&generic.VarAMSGrad != 0 {
		sq = b.op(OpMaxNaN, b.load(StreamS2), sq)
		b.store(StreamS2, sq)
	}
	denom := b.add(b.div(b.sqrt(sq), b.coeff("BC2Sqrt")), b.coeff("Eps"))
	b.store(StreamP, b.add(p, b.div(b.mul(b.coeff("NegLR"), m), denom)))
	return b.k
}

// Rule is one update rule: its name and its kernel for each valid variant.
type Rule struct {
	Name     string
	Kind     int // the kernels.Kind value: the index into a set's table
	Build    func(generic.Variant) Kernel
	Variants []generic.Variant
}

// Rules lists every rule with every variant its coefficients functions in
// package generic can produce.
var Rules = []Rule{
	{"sgd", 0, SGD, combine(
		[]generic.Variant{0, generic.VarWeightDecay},
		[]generic.Variant{0, generic.VarMomentum, generic.VarMomentum | generic.VarFirst,
			generic.VarMomentum | generic.VarNesterov, generic.VarMomentum | generic.VarNesterov | generic.VarFirst})},
	{"adagrad", 1, Adagrad, []generic.Variant{0, generic.VarWeightDecay}},
	{"rmsprop", 2, RMSProp, combine(
		[]generic.Variant{0, generic.VarWeightDecay},
		[]generic.Variant{0, generic.VarCentered, generic.VarCentered | generic.VarLerpHigh},
		[]generic.Variant{0, generic.VarMomentum})},
	{"adam", 3, Adam, combine(
		[]generic.Variant{0, generic.VarWeightDecay, generic.VarDecoupled},
		[]generic.Variant{0, generic.VarAMSGrad},
		[]generic.Variant{0, generic.VarLerpHigh})},
}

// combine returns every OR of one choice from each list.
func combine(lists ...[]generic.Variant) []generic.Variant {
	out := []generic.Variant{0}
	for _, l := range lists {
		var next []generic.Variant
		for _, a := range out {
			for _, b := range l {
				next = append(next, a|b)
			}
		}
		out = next
	}
	return out
}

// All returns every kernel of every rule.
func All() []Kernel {
	var out []Kernel
	for _, r := range Rules {
		for _, v := range r.Variants {
			out = append(out, r.Build(v))
		}
	}
	return out
}
