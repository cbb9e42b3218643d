package ir

import "strings"

// This file describes the gradient kernels of generic/reduce.go as
// operation lists, once, for the generators: the amd64 and arm64 compilers
// turn each description into the SIMD kernels of package kernels, and
// ir_test.go proves every description equal to its reference bit for bit.
//
// A gradient program is the loop body for element i of the slice it passes
// over, x (StreamP), which it reads and may write; a pass that combines two
// slices (Accumulate, Lerp) also reads element i of a second one, y
// (StreamG), which it never writes. Its scalar arguments are OpCoeff values
// whose index names GradArgNames; what happens to the value it accumulates
// (OpAccum) is the program's Acc. A reference that chooses between two
// loops once per call by a scalar (Lerp, by its weight) has a program per
// loop, told apart by GradProgram.Form; the caller runs the one the
// reference would. SumPow has no description: it calls detmath.Pow per
// element, a long scalar routine with branches, which no vector instruction
// computes, so every set runs the reference.
//
// A new gradient kernel touches: its reference and its GradKernels field in
// generic/reduce.go; its GradKind constant and gradTable entry here (new
// operations, if any, in ir.go, with the generators' rendering of them in
// asm/internal/x86/grad.go and asm/internal/arm64/grad.go); its case in
// ir_test.go's checkGrad; its wrapper in kernels/grad.go and its cases in
// the kernels' gradient tests; then `go generate ./...`.

// GradKind names a gradient kernel that has a description.
type GradKind int

// The described gradient kernels, in the order of GradPrograms().
const (
	GradSumSquares GradKind = iota
	GradSumSquaresScaled
	GradSumAbs
	GradMaxAbs
	GradScale
	GradClamp
	GradUnscaleCheck
	GradNonFinite
	GradAccumulate
	GradLerp
	GradLerpHigh
	GradKindCount // the number of described gradient kernels
)

// Acc is what a gradient program does with the values it accumulates.
type Acc int

const (
	// AccNone: no OpAccum; the program only stores.
	AccNone Acc = iota
	// AccLanes: the blocked float64 sum of generic/reduce.go. The term of
	// element j of a block (counted from the block's start) is added to
	// accumulator j mod generic.ReduceLanes; the accumulators start at +0
	// and are folded by generic.FoldLanes at the block's end, the blocks'
	// partials added by a generic.SumTree. The term is float64 (the
	// program widens).
	AccLanes
	// AccMax: the NaN-propagating maximum (generic.MaxNaN) of the terms,
	// in T, starting from +0. The terms are |x| (never -0), so it is exact
	// and the order is free.
	AccMax
	// AccFlag: the terms, in T, are +0 or NaN (y - y); the result reports
	// whether any is NaN, so the order is free.
	AccFlag
)

// The scalar arguments of gradient programs: OpCoeff's Coeff indexes these.
const (
	GradArgS = iota // float64: SumSquaresScaled's scale
	GradArgA        // T: Scale's, UnscaleCheck's and Accumulate's factor, Clamp's lower bound, Lerp's weight w
	GradArgB        // T: Clamp's upper bound, Lerp's 1 - w (computed in T by the caller, as the reference does)
)

// GradArgNames names the scalar arguments, indexed by GradArgS...
var GradArgNames = []string{"s", "a", "b"}

// GradProgram is one gradient kernel's description.
type GradProgram struct {
	Kind GradKind
	// GoName is the kernel's field in generic.GradKernels: "SumSquares".
	GoName string
	// Form tells apart the programs of one kernel whose reference chooses
	// between two loops once per call, by a scalar argument: "High" for
	// Lerp's second form (generic.LerpHigh), "" for the first and for every
	// other kernel. The GradKind constant is named "Grad" + GoName + Form.
	Form string
	// Name is the lower-case symbol name of generated code: "sumsquares",
	// "lerphigh" (GoName + Form in lower case).
	Name string
	Acc  Acc
	// Body is the loop body for one element, in the reference's order of
	// operations: x[i] is loaded from StreamP (and stored back there), y[i]
	// from StreamG.
	Body   []Instr
	Values int
	// Streams reports which of StreamP and StreamG the body touches; a
	// kernel never dereferences the pointer of a stream it does not touch.
	Streams [NumStreams]bool
}

// Wide reports whether the program's accumulated terms are float64 whatever
// T is (AccLanes): its loads then fill half a vector of float32, widened to
// a whole vector of float64.
func (p *GradProgram) Wide() bool { return p.Acc == AccLanes }

// GradPrograms returns every gradient kernel's description, indexed by
// GradKind.
func GradPrograms() []GradProgram {
	out := make([]GradProgram, GradKindCount)
	for k, d := range gradTable {
		b := NewBuilder(GradArgNames)
		x := b.Load(StreamP)
		d.body(b, x)
		out[k] = GradProgram{Kind: GradKind(k), GoName: d.goName, Form: d.form,
			Name: strings.ToLower(d.goName + d.form), Acc: d.acc,
			Body: b.p.Body, Values: b.p.Values, Streams: b.p.Streams}
	}
	return out
}

// gradTable describes each gradient kernel: its generic.GradKernels field,
// its form (see GradProgram.Form), its accumulation, and its loop body,
// which receives x[i] and loads y[i] itself if it reads it.
var gradTable = [GradKindCount]struct {
	goName, form string
	acc          Acc
	body         func(b *Builder, x Value)
}{
	// acc[j%K] += float64(v*v), v = float64(x)
	GradSumSquares: {"SumSquares", "", AccLanes, func(b *Builder, x Value) {
		v := b.Widen(x)
		b.Accum(b.Mul(v, v))
	}},
	// y = float64(x)*s; acc[j%K] += float64(y*y)
	GradSumSquaresScaled: {"SumSquaresScaled", "", AccLanes, func(b *Builder, x Value) {
		y := b.Mul(b.Widen(x), b.Arg(GradArgS))
		b.Accum(b.Mul(y, y))
	}},
	// acc[j%K] += |float64(x)|
	GradSumAbs: {"SumAbs", "", AccLanes, func(b *Builder, x Value) {
		b.Accum(b.Abs(b.Widen(x)))
	}},
	// m = MaxNaN(m, |x|)
	GradMaxAbs: {"MaxAbs", "", AccMax, func(b *Builder, x Value) {
		b.Accum(b.Abs(x))
	}},
	// x = x*c
	GradScale: {"Scale", "", AccNone, func(b *Builder, x Value) {
		b.Store(StreamP, b.Mul(x, b.Arg(GradArgA)))
	}},
	// x = lo if x < lo; x = hi if x > hi (lo = -c, hi = c)
	GradClamp: {"Clamp", "", AccNone, func(b *Builder, x Value) {
		b.Store(StreamP, b.Lower(b.Raise(x, b.Arg(GradArgA)), b.Arg(GradArgB)))
	}},
	// y = x*inv; x = y; z += y - y
	GradUnscaleCheck: {"UnscaleCheck", "", AccFlag, func(b *Builder, x Value) {
		y := b.Mul(x, b.Arg(GradArgA))
		b.Store(StreamP, y)
		b.Accum(b.Sub(y, y))
	}},
	// z += x - x
	GradNonFinite: {"NonFinite", "", AccFlag, func(b *Builder, x Value) {
		b.Accum(b.Sub(x, x))
	}},
	// x = x + s*y (acc += s*g)
	GradAccumulate: {"Accumulate", "", AccNone, func(b *Builder, x Value) {
		y := b.Load(StreamG)
		b.Store(StreamP, b.Add(x, b.Mul(b.Arg(GradArgA), y)))
	}},
	// x = x + w*(y - x) (dst moves towards y by w: |w| < 0.5)
	GradLerp: {"Lerp", "", AccNone, func(b *Builder, x Value) {
		y := b.Load(StreamG)
		b.Store(StreamP, b.Add(x, b.Mul(b.Arg(GradArgA), b.Sub(y, x))))
	}},
	// x = y - (y - x)*c, c = 1 - w (|w| >= 0.5 or NaN)
	GradLerpHigh: {"Lerp", "High", AccNone, func(b *Builder, x Value) {
		y := b.Load(StreamG)
		b.Store(StreamP, b.Sub(y, b.Mul(b.Sub(y, x), b.Arg(GradArgB))))
	}},
}
