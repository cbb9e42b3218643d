package kernels

import (
	"unsafe"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/ir"
)

// The gradient kernels of a set: the reductions and passes of
// generic/reduce.go (generic.GradKernels), each generated from its
// description (ir.GradPrograms). The assembly runs the vector loops;
// the Go here cuts a sum into blocks, runs the few elements a vector loop
// leaves over with the reference's own code, folds each block's
// accumulators and adds the blocks' partials by a SumTree, so the bits are
// the reference's by construction. One call per block of 4096
// elements costs a few nanoseconds against the microsecond it takes to read
// the block. SumPow is the reference in every set (detmath.Pow per element
// has no vector form).

// gradFunc is the signature of every assembly gradient kernel: it runs its
// program on x[0:n] (n a multiple of gradUnit, or of ReduceLanes for a sum),
// and on y[0:n] for a pass that combines two slices (y is not touched, and
// may be nil, otherwise), with the arguments s, a, b and returns its
// accumulators, which start at +0: 32 float64 lanes of a sum, or up to four
// vector registers of T.
type gradFunc[T Float] func(n int, x, y *T, s float64, a, b T) (acc accBuf)

// gradAsm holds one set's assembly gradient kernels, indexed by GradKind.
type gradAsm[T Float] [ir.GradKindCount]gradFunc[T]

// gradUnit is a multiple of the lanes of every vector register of every
// set (16 float32 in AVX-512): the non-summing kernels are called on a
// multiple of it, so that they run whole vectors only.
const gradUnit = 16

// accBuf holds a kernel's accumulators.
type accBuf = [generic.ReduceLanes]float64

// asT views the buffer as elements of T.
func asT[T Float](b *accBuf) []T {
	var zero T
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), unsafe.Sizeof(*b)/unsafe.Sizeof(zero))
}

// Grad returns the gradient kernels of set s for element type T: the set's
// own where it has them, the references otherwise. It does no validation:
// the caller guarantees that s is Supported, as for Kernel.
func Grad[T Float](s *Set) *generic.GradKernels[T] {
	var k any
	switch {
	case unsafe.Sizeof(T(0)) == 4 && s.gf32 != nil:
		k = s.gf32
	case unsafe.Sizeof(T(0)) == 4:
		k = &gradRef32
	case s.gf64 != nil:
		k = s.gf64
	default:
		k = &gradRef64
	}
	return k.(*generic.GradKernels[T]) // T is exactly float32 or float64
}

var (
	gradRef32 = generic.GradReference[float32]()
	gradRef64 = generic.GradReference[float64]()
)

// gradKernels wraps a set's assembly kernels as generic.GradKernels.
func gradKernels[T Float](a *gradAsm[T]) *generic.GradKernels[T] {
	k := generic.GradReference[T]()
	k.SumSquares = func(x []T) float64 { return sumLanes(a, ir.GradSumSquares, x, 0) }
	k.SumSquaresScaled = func(x []T, s float64) float64 { return sumLanes(a, ir.GradSumSquaresScaled, x, s) }
	k.SumAbs = func(x []T) float64 { return sumLanes(a, ir.GradSumAbs, x, 0) }
	k.MaxAbs = func(x []T) float64 {
		m := whole(x)
		acc := run(a, ir.GradMaxAbs, x[:m], nil, 0, 0)
		r := T(generic.MaxAbs(x[m:])) // exact, so any order of the maxima
		for _, v := range asT[T](&acc) {
			r = generic.MaxNaN(r, v)
		}
		return float64(r)
	}
	k.Scale = func(x []T, c T) {
		m := whole(x)
		run(a, ir.GradScale, x[:m], nil, c, 0)
		generic.Scale(x[m:], c)
	}
	k.Clamp = func(x []T, c T) {
		m := whole(x)
		run(a, ir.GradClamp, x[:m], nil, -c, c)
		generic.Clamp(x[m:], c)
	}
	k.UnscaleCheck = func(x []T, inv T) bool {
		m := whole(x)
		acc := run(a, ir.GradUnscaleCheck, x[:m], nil, inv, 0)
		return generic.UnscaleCheck(x[m:], inv) || flagged[T](&acc)
	}
	k.NonFinite = func(x []T) bool {
		m := whole(x)
		acc := run(a, ir.GradNonFinite, x[:m], nil, 0, 0)
		return flagged[T](&acc) || generic.NonFinite(x[m:])
	}
	// The two-slice passes read len(acc) (len(dst)) elements of the second
	// slice, which the caller checks it has, and reslice it to that length
	// as the references do: the assembly gets the same bounds check.
	k.Accumulate = func(acc, g []T, s T) {
		g = g[:len(acc)]
		m := whole(acc)
		run(a, ir.GradAccumulate, acc[:m], g[:m], s, 0)
		generic.Accumulate(acc[m:], g[m:], s)
	}
	k.Lerp = func(dst, x []T, w T) {
		x = x[:len(dst)]
		m := whole(dst)
		kind := ir.GradLerp
		if generic.LerpHigh(w) {
			kind = ir.GradLerpHigh
		}
		run(a, kind, dst[:m], x[:m], w, 1-w) // 1-w in T, as the reference computes it
		generic.Lerp(dst[m:], x[m:], w)
	}
	return &k
}

// sumLanes is the blocked sum of generic/reduce.go: in each block, the
// assembly adds the whole groups of ReduceLanes elements into the
// accumulators and the reference's Lanes function the rest (the group
// boundaries keep element j in accumulator j mod ReduceLanes); the block
// is folded and pushed as the reference does. The Lanes functions are
// called directly: through a func value, acc would escape to the heap.
func sumLanes[T Float](a *gradAsm[T], kind ir.GradKind, x []T, s float64) float64 {
	var t generic.SumTree
	for len(x) > 0 {
		n := min(len(x), generic.ReduceBlock)
		var acc accBuf
		m := n &^ (generic.ReduceLanes - 1)
		if m > 0 {
			raceGrad(x[:m], false)
			acc = a[kind](m, unsafe.SliceData(x), nil, s, 0, 0)
		}
		switch tail := x[m:n]; kind {
		case ir.GradSumSquares:
			generic.SumSquaresLanes(&acc, tail)
		case ir.GradSumSquaresScaled:
			generic.SumSquaresScaledLanes(&acc, tail, s)
		default:
			generic.SumAbsLanes(&acc, tail)
		}
		t.Push(generic.FoldLanes(&acc))
		x = x[n:]
	}
	return t.Sum()
}

// whole is the part of x that the vector loops run: a multiple of gradUnit
// elements. The reference runs the rest (at most gradUnit-1 elements),
// which is exact for the elementwise passes and the maximum, and for the
// flags, whose order is free.
func whole[T Float](x []T) int { return len(x) &^ (gradUnit - 1) }

// run calls an elementwise kernel on x (a multiple of gradUnit elements),
// and on y, of x's length, for a kernel that reads a second slice (nil
// otherwise), with arguments a0 and a1 and returns its accumulators (+0 for
// none).
func run[T Float](a *gradAsm[T], kind ir.GradKind, x, y []T, a0, a1 T) accBuf {
	if len(x) == 0 {
		return accBuf{}
	}
	raceGrad(x, gradWrites[kind])
	raceGrad(y, false)
	return a[kind](len(x), unsafe.SliceData(x), unsafe.SliceData(y), 0, a0, a1)
}

// gradWrites reports which gradient kernels store into x.
var gradWrites = func() (w [ir.GradKindCount]bool) {
	for _, p := range ir.GradPrograms() {
		for _, in := range p.Body {
			w[p.Kind] = w[p.Kind] || in.Op == ir.OpStore
		}
	}
	return w
}()

// flagged reports whether the flag sums in acc hold a NaN (some term was
// not +0).
func flagged[T Float](acc *accBuf) bool {
	var z T
	for _, v := range asT[T](acc) {
		z += v
	}
	return !(z == 0)
}
