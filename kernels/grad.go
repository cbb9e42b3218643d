package kernels

import (
	"unsafe"

	"github.com/simdoptim/optim/generic"
)

// The gradient kernels of a set: the reductions and passes of
// generic/reduce.go (generic.GradKernels), each generated from its
// description (generic.GradPrograms). The assembly runs the vector loops;
// the Go here cuts a sum into blocks, runs the few elements a vector loop
// leaves over through the description itself (generic.GradElem), folds each
// block's accumulators and adds the blocks' partials by a SumTree, so the
// bits are the reference's by construction. One call per block of 4096
// elements costs a few nanoseconds against the microsecond it takes to read
// the block. SumPow is the reference in every set (detmath.Pow per element
// has no vector form).

// gradFunc is the signature of every assembly gradient kernel: it runs its
// program on x[0:n] (n a multiple of gradUnit, or of ReduceLanes for a sum)
// with the arguments s, a, b and returns its accumulators, which start at
// +0: 32 float64 lanes of a sum, or up to four vector registers of T.
type gradFunc[T Float] func(n int, x *T, s float64, a, b T) (acc accBuf)

// gradAsm holds one set's assembly gradient kernels, indexed by GradKind.
type gradAsm[T Float] [generic.GradKindCount]gradFunc[T]

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

var gradProgs = generic.GradPrograms()

// Grad returns the gradient kernels of set s for element type T: the set's
// own where it has them, the references otherwise (and for a named float
// type, which the sets are not instantiated for). It does no validation:
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
	if g, ok := k.(*generic.GradKernels[T]); ok {
		return g
	}
	ref := generic.GradReference[T]()
	return &ref
}

var (
	gradRef32 = generic.GradReference[float32]()
	gradRef64 = generic.GradReference[float64]()
)

// gradKernels wraps a set's assembly kernels as generic.GradKernels.
func gradKernels[T Float](a *gradAsm[T]) *generic.GradKernels[T] {
	k := generic.GradReference[T]()
	k.SumSquares = func(x []T) float64 { return sumLanes(a, generic.GradSumSquares, x, 0) }
	k.SumSquaresScaled = func(x []T, s float64) float64 { return sumLanes(a, generic.GradSumSquaresScaled, x, s) }
	k.SumAbs = func(x []T) float64 { return sumLanes(a, generic.GradSumAbs, x, 0) }
	k.MaxAbs = func(x []T) float64 {
		var acc accBuf
		m := maxAbsTail(a, x, &acc)
		for _, v := range asT[T](&acc) {
			m = generic.MaxNaN(m, v)
		}
		return float64(m)
	}
	k.Scale = func(x []T, c T) { pass(a, generic.GradScale, x, nil, c, 0) }
	k.Clamp = func(x []T, c T) { pass(a, generic.GradClamp, x, nil, -c, c) }
	k.UnscaleCheck = func(x []T, inv T) bool {
		var acc accBuf
		return flagged(pass(a, generic.GradUnscaleCheck, x, &acc, inv, 0), &acc)
	}
	k.NonFinite = func(x []T) bool {
		var acc accBuf
		return flagged(pass(a, generic.GradNonFinite, x, &acc, 0, 0), &acc)
	}
	return &k
}

// sumLanes is the blocked sum of reduce.go with the vector loop of kind
// over whole groups of ReduceLanes elements of each block.
func sumLanes[T Float](a *gradAsm[T], kind generic.GradKind, x []T, s float64) float64 {
	p := &gradProgs[kind]
	var t generic.SumTree
	for len(x) > 0 {
		n := min(len(x), generic.ReduceBlock)
		var acc accBuf
		m := n &^ (generic.ReduceLanes - 1)
		if m > 0 {
			acc = a[kind](m, unsafe.SliceData(x), s, 0, 0)
		}
		for j := m; j < n; j++ {
			_, _, w := generic.GradElem(p, x[j], s, 0, 0)
			acc[j%generic.ReduceLanes] += w
		}
		t.Push(generic.FoldLanes(&acc))
		x = x[n:]
	}
	return t.Sum()
}

// maxAbsTail runs MaxAbs's vector loop into acc and returns the maximum of
// the elements it left over.
func maxAbsTail[T Float](a *gradAsm[T], x []T, acc *accBuf) T {
	p := &gradProgs[generic.GradMaxAbs]
	m := len(x) &^ (gradUnit - 1)
	if m > 0 {
		*acc = a[generic.GradMaxAbs](m, unsafe.SliceData(x), 0, 0, 0)
	}
	var out T
	for _, e := range x[m:] {
		_, v, _ := generic.GradElem(p, e, 0, 0, 0)
		out = generic.MaxNaN(out, v)
	}
	return out
}

// pass runs an elementwise kernel over x with arguments a0 and a1, and
// returns the sum of the terms of the elements its vector loop left over
// (AccFlag); acc receives the vector loop's accumulators.
func pass[T Float](a *gradAsm[T], kind generic.GradKind, x []T, acc *accBuf, a0, a1 T) T {
	p := &gradProgs[kind]
	m := len(x) &^ (gradUnit - 1)
	if m > 0 {
		r := a[kind](m, unsafe.SliceData(x), 0, a0, a1)
		if acc != nil {
			*acc = r
		}
	}
	var z T
	for j := m; j < len(x); j++ {
		st, v, _ := generic.GradElem(p, x[j], 0, a0, a1)
		x[j] = st
		z += v
	}
	return z
}

// flagged reports whether the flag sums z and acc hold a NaN (a term was
// not +0).
func flagged[T Float](z T, acc *accBuf) bool {
	for _, v := range asT[T](acc) {
		z += v
	}
	return !(z == 0)
}
