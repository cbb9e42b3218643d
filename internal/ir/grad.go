package ir

// This file describes the gradient kernels of generic/reduce.go as
// operation lists, once, for the generators: the amd64 and arm64 compilers
// turn each description into the SIMD kernels of package kernels, and
// ir_test.go proves every description equal to its reference bit for bit.
//
// A gradient program is the loop body for one element x = x[i] of one
// stream (StreamP). Its scalar arguments are OpCoeff values whose index
// names GradArgNames; what happens to the value it accumulates (OpAccum) is
// the program's Acc. SumPow has no description: it calls detmath.Pow per
// element, a long scalar routine with branches, which no vector instruction
// computes, so every set runs the reference.
//
// A new gradient kernel touches: its reference and its GradKernels field in
// generic/reduce.go; its GradKind constant and gradTable entry here (new
// operations, if any, in ir.go, with the generators' rendering of them in
// asm/internal/x86/grad.go and asm/internal/arm64/grad.go); its case in
// ir_test.go's checkGrad; its wrapper in kernels/grad.go; then
// `go generate ./...`.

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
	GradArgA        // T: Scale's and UnscaleCheck's factor, Clamp's lower bound
	GradArgB        // T: Clamp's upper bound
)

// GradArgNames names the scalar arguments, indexed by GradArgS...
var GradArgNames = []string{"s", "a", "b"}

// GradProgram is one gradient kernel's description.
type GradProgram struct {
	Kind GradKind
	// GoName is the kernel's field in generic.GradKernels: "SumSquares".
	GoName string
	// Name is the lower-case symbol name of generated code: "sumsquares".
	Name string
	Acc  Acc
	// Body is the loop body for one element, in the reference's order of
	// operations; x is loaded from StreamP (and stored back there).
	Body   []Instr
	Values int
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
		out[k] = GradProgram{Kind: GradKind(k), GoName: d.goName, Name: d.name, Acc: d.acc,
			Body: b.p.Body, Values: b.p.Values}
	}
	return out
}

var gradTable = [GradKindCount]struct {
	goName, name string
	acc          Acc
	body         func(b *Builder, x Value)
}{
	// acc[j%K] += float64(v*v), v = float64(x)
	GradSumSquares: {"SumSquares", "sumsquares", AccLanes, func(b *Builder, x Value) {
		v := b.Widen(x)
		b.Accum(b.Mul(v, v))
	}},
	// y = float64(x)*s; acc[j%K] += float64(y*y)
	GradSumSquaresScaled: {"SumSquaresScaled", "sumsquaresscaled", AccLanes, func(b *Builder, x Value) {
		y := b.Mul(b.Widen(x), b.Arg(GradArgS))
		b.Accum(b.Mul(y, y))
	}},
	// acc[j%K] += |float64(x)|
	GradSumAbs: {"SumAbs", "sumabs", AccLanes, func(b *Builder, x Value) {
		b.Accum(b.Abs(b.Widen(x)))
	}},
	// m = MaxNaN(m, |x|)
	GradMaxAbs: {"MaxAbs", "maxabs", AccMax, func(b *Builder, x Value) {
		b.Accum(b.Abs(x))
	}},
	// x = x*c
	GradScale: {"Scale", "scale", AccNone, func(b *Builder, x Value) {
		b.Store(StreamP, b.Mul(x, b.Arg(GradArgA)))
	}},
	// x = lo if x < lo; x = hi if x > hi (lo = -c, hi = c)
	GradClamp: {"Clamp", "clamp", AccNone, func(b *Builder, x Value) {
		b.Store(StreamP, b.Lower(b.Raise(x, b.Arg(GradArgA)), b.Arg(GradArgB)))
	}},
	// y = x*inv; x = y; z += y - y
	GradUnscaleCheck: {"UnscaleCheck", "unscalecheck", AccFlag, func(b *Builder, x Value) {
		y := b.Mul(x, b.Arg(GradArgA))
		b.Store(StreamP, y)
		b.Accum(b.Sub(y, y))
	}},
	// z += x - x
	GradNonFinite: {"NonFinite", "nonfinite", AccFlag, func(b *Builder, x Value) {
		b.Accum(b.Sub(x, x))
	}},
}
