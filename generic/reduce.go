package generic

import (
	"math"
	"unsafe"

	"github.com/simdoptim/optim/internal/detmath"
)

// This file specifies the gradient reductions (the norms of
// torch.nn.utils.clip_grad_norm_ and get_total_norm) and the elementwise
// passes over gradients (clipping, unscaling, the non-finite check). Their
// bits are defined here, and every kernel set reproduces them.
//
// # The blocked order of every sum
//
// A sum over a slice x adds one float64 term per element, in this order:
//
//  1. Blocks. x is cut into blocks of ReduceBlock (B = 4096) elements,
//     block b being x[b*B : min((b+1)*B, len(x))]; only the last may be
//     shorter.
//  2. Lanes. Inside a block, the term of element j (counted from the block's
//     start) is added to accumulator j mod ReduceLanes (K = 32), in
//     increasing j; every accumulator starts at +0.
//  3. Fold. At the end of the block the accumulators are folded in halves:
//     for w = 16, 8, 4, 2, 1 in turn, acc[i] = acc[i] + acc[i+w] for every
//     i < w. acc[0] is the block's partial.
//  4. Tree. The partials p[0..nb) of the nb blocks are added by a pairwise
//     tree that depends on nb only: tree(p[0..m)) is p[0] when m = 1 and
//     otherwise tree(p[0..h)) + tree(p[h..m)), with h the largest power of
//     two below m (SumTree computes it in one pass). An empty slice sums
//     to +0.
//
// K = 32 float64 accumulators are 4 AVX-512, 8 AVX2 or 16 NEON registers, so
// a kernel keeps them in registers and adds whole vectors lane by lane. The
// SIMD sets (generated from the descriptions in internal/ir/grad.go) run one block's whole groups of
// K elements per call and return the accumulators; the Go around them adds
// the last few elements, folds (FoldLanes) and pushes the block's partial,
// 31 additions per 4096 elements. B is a multiple of every vector width and
// of a cache line.
//
// Splitting the work (several goroutines) must not change the bits, and it
// does not as long as every worker takes whole runs of 2^k blocks starting
// at a multiple of 2^k blocks from the slice's start: such a run is a
// complete subtree of the tree above, so a worker's sum of its run, pushed
// into the tree as one node (SumTree.PushNode), gives the same bits as the
// single-threaded sum. Nothing here depends on a worker count.
//
// Maxima (MaxAbs) are exact and NaN-propagating, hence independent of
// order; kernels may compute them in any order and with any number of
// accumulators.
//
// No term feeds an add through a fusable product: every product is rounded
// by an explicit float64(...) conversion before it is added.
const (
	// ReduceLanes is K, the number of partial accumulators of a block.
	ReduceLanes = 32
	// ReduceBlock is B, the number of elements of a block.
	ReduceBlock = 4096
)

// SumTree adds partials in the fixed pairwise order of step 4 above, in one
// pass and without allocating: it keeps the complete subtrees seen so far
// (at most one per size, sizes strictly decreasing), as a binary counter
// does. The zero value is an empty tree.
type SumTree struct {
	n      int
	sums   [64]float64
	leaves [64]uint64 // leaves under sums[i], a power of two
}

// Push adds the next leaf (a block's partial, or a slice's sum).
func (t *SumTree) Push(v float64) { t.PushNode(v, 1) }

// PushNode adds a complete subtree of leaves leaves (a power of two) whose
// sum is v, for a worker that summed a run of blocks itself. The run must
// start at a multiple of leaves from the first leaf; otherwise the order
// differs from pushing the leaves one by one.
func (t *SumTree) PushNode(v float64, leaves uint64) {
	for t.n > 0 && t.leaves[t.n-1] == leaves {
		t.n--
		v = t.sums[t.n] + v
		leaves *= 2
	}
	t.sums[t.n], t.leaves[t.n] = v, leaves
	t.n++
}

// Sum returns the tree's total: the pending subtrees, largest first, are
// added from the right, (s0 + (s1 + (... + sk))), which is the tree whose
// left child is always the largest complete power of two.
func (t *SumTree) Sum() float64 {
	if t.n == 0 {
		return 0
	}
	v := t.sums[t.n-1]
	for i := t.n - 2; i >= 0; i-- {
		v = t.sums[i] + v
	}
	return v
}

// FoldLanes is step 3: the halves of the accumulators are added until one
// remains. The kernel sets keep the accumulators of a block and fold them
// with it.
func FoldLanes(acc *[ReduceLanes]float64) float64 {
	for w := ReduceLanes / 2; w >= 1; w /= 2 {
		for i := range w {
			acc[i] += acc[i+w]
		}
	}
	return acc[0]
}

// The Lanes functions below add the terms of b into the accumulators: the
// term of b[j] into acc[j mod ReduceLanes], in increasing j. Applied to a
// block, they are step 2; the SIMD sets apply them to the elements after
// their vector loop, which starts them at a multiple of ReduceLanes.

// SumSquares returns the blocked sum of float64(x[i])*float64(x[i]). For
// float32 every term is exact (a 24-bit square fits in 53 bits) and the sum
// can neither overflow nor underflow; for float64 it may do both, which Norm
// detects and repairs.
func SumSquares[T Float](x []T) float64 {
	var t SumTree
	for len(x) > 0 {
		n := min(len(x), ReduceBlock)
		var acc [ReduceLanes]float64
		SumSquaresLanes(&acc, x[:n])
		t.Push(FoldLanes(&acc))
		x = x[n:]
	}
	return t.Sum()
}

// SumSquaresLanes adds the terms of SumSquares.
func SumSquaresLanes[T Float](acc *[ReduceLanes]float64, b []T) {
	for len(b) >= ReduceLanes {
		c := b[:ReduceLanes]
		for k := range acc {
			v := float64(c[k])
			acc[k] += float64(v * v)
		}
		b = b[ReduceLanes:]
	}
	for k, e := range b {
		v := float64(e)
		acc[k] += float64(v * v)
	}
}

// SumSquaresScaled returns the blocked sum of y*y with y = float64(x[i])*s.
// s is a power of two, so y is exact unless it is subnormal.
func SumSquaresScaled[T Float](x []T, s float64) float64 {
	var t SumTree
	for len(x) > 0 {
		n := min(len(x), ReduceBlock)
		var acc [ReduceLanes]float64
		SumSquaresScaledLanes(&acc, x[:n], s)
		t.Push(FoldLanes(&acc))
		x = x[n:]
	}
	return t.Sum()
}

// SumSquaresScaledLanes adds the terms of SumSquaresScaled.
func SumSquaresScaledLanes[T Float](acc *[ReduceLanes]float64, b []T, s float64) {
	for j, e := range b {
		y := float64(e) * s
		acc[j%ReduceLanes] += float64(y * y)
	}
}

// SumAbs returns the blocked sum of |float64(x[i])|. Every term is exact.
func SumAbs[T Float](x []T) float64 {
	var t SumTree
	for len(x) > 0 {
		n := min(len(x), ReduceBlock)
		var acc [ReduceLanes]float64
		SumAbsLanes(&acc, x[:n])
		t.Push(FoldLanes(&acc))
		x = x[n:]
	}
	return t.Sum()
}

// SumAbsLanes adds the terms of SumAbs.
func SumAbsLanes[T Float](acc *[ReduceLanes]float64, b []T) {
	for j, e := range b {
		acc[j%ReduceLanes] += math.Abs(float64(e))
	}
}

// SumPow returns the blocked sum of detmath.Pow(|float64(x[i])|/m, p), for
// a general norm order p, with m the largest |x| (so every ratio is at most
// 1 and nothing overflows, whatever p).
func SumPow[T Float](x []T, p, m float64) float64 {
	var t SumTree
	for len(x) > 0 {
		n := min(len(x), ReduceBlock)
		var acc [ReduceLanes]float64
		for j, e := range x[:n] {
			acc[j%ReduceLanes] += detmath.Pow(math.Abs(float64(e))/m, p)
		}
		t.Push(FoldLanes(&acc))
		x = x[n:]
	}
	return t.Sum()
}

// MaxAbs returns the largest |x[i]| as a float64, NaN if any element is
// NaN, and +0 for an empty slice. It is exact, so the order is free.
func MaxAbs[T Float](x []T) float64 {
	var m T
	for _, e := range x {
		m = MaxNaN(m, T(math.Abs(float64(e))))
	}
	return float64(m)
}

// Scale multiplies every element by c, in T: torch's g.mul_(clip_coef).
func Scale[T Float](x []T, c T) {
	for i := range x {
		x[i] *= c
	}
}

// Clamp limits every element to [-c, c] (c >= 0): torch's
// clamp_(-c, c), that is min(max(x, -c), c), with a NaN element left as it
// is. (For zeros of either sign this is the same as below: an element equal
// to a bound is kept.)
func Clamp[T Float](x []T, c T) {
	lo, hi := -c, c
	for i, e := range x {
		if e < lo {
			x[i] = lo
		} else if e > hi {
			x[i] = hi
		}
	}
}

// UnscaleCheck multiplies every element by inv, in T, and reports whether
// any product is infinite or NaN (its exponent all ones), in one read of x:
// torch's _amp_foreach_non_finite_check_and_unscale_. Torch tests the
// inputs; testing the products reports the same for every inv that is
// positive and finite (a non-finite input gives a non-finite product) and
// also catches a finite input whose product overflows, which torch would
// pass on to the optimizer. (Torch skips the multiplication when inv is 1;
// x*1 is x, NaN payloads aside.)
//
// The result is a flag, so the order of the test is free; this loop adds
// y - y (+0 for finite y, NaN otherwise) into four sums, which is branch
// free and keeps four additions in flight.
func UnscaleCheck[T Float](x []T, inv T) (nonFinite bool) {
	var z0, z1, z2, z3 T
	i := 0
	for ; i+4 <= len(x); i += 4 {
		c := x[i : i+4 : i+4]
		// T(...) rounds each product before y - y: fused, c*inv - y
		// would be the product's rounding error, not 0 (arm64 fuses it).
		y0, y1, y2, y3 := T(c[0]*inv), T(c[1]*inv), T(c[2]*inv), T(c[3]*inv)
		c[0], c[1], c[2], c[3] = y0, y1, y2, y3
		z0 += y0 - y0
		z1 += y1 - y1
		z2 += y2 - y2
		z3 += y3 - y3
	}
	for ; i < len(x); i++ {
		y := T(x[i] * inv)
		x[i] = y
		z0 += y - y
	}
	return !(z0+z1+z2+z3 == 0)
}

// NonFinite reports whether any element is infinite or NaN, by the sums of
// UnscaleCheck, block by block so that it stops early.
func NonFinite[T Float](x []T) bool {
	for len(x) > 0 {
		n := min(len(x), ReduceBlock)
		b := x[:n]
		var z0, z1, z2, z3 T
		i := 0
		for ; i+4 <= n; i += 4 {
			c := b[i : i+4 : i+4]
			z0 += c[0] - c[0]
			z1 += c[1] - c[1]
			z2 += c[2] - c[2]
			z3 += c[3] - c[3]
		}
		for ; i < n; i++ {
			z0 += b[i] - b[i]
		}
		if !(z0+z1+z2+z3 == 0) {
			return true
		}
		x = x[n:]
	}
	return false
}

// Accumulate adds s·g into acc, element by element, in T: acc[i] +
// T(s*g[i]), the product rounded before the sum, as Python's acc += s * g
// computes it (two tensor operations). It is how micro-batch gradients
// are accumulated; s = 1 adds g exactly as acc += g. The caller checks
// that the lengths match (only len(acc) elements are read from g).
func Accumulate[T Float](acc, g []T, s T) {
	g = g[:len(acc)]
	for i := range acc {
		acc[i] += T(s * g[i]) // T(...) rounds the product: never fused
	}
}

// Lerp moves dst towards x by the weight w, element by element, in T, with
// torch's lerp (ATen's Lerp.h): dst + w·(x − dst) when |w| < 0.5, and
// x − (x − dst)·(1 − w) otherwise, each operation rounded. The second form
// is exact at w = 1, where the first would not be. It is the update of
// torch.optim.swa_utils' averages (torch._foreach_lerp_ with weight
// 1 − decay for an EMA, 1/(n+1) for SWA). w is one value for the whole
// call, so the choice of form is made once, not per element.
func Lerp[T Float](dst, x []T, w T) {
	x = x[:len(dst)]
	if !LerpHigh(w) {
		for i := range dst {
			dst[i] += T(w * (x[i] - dst[i]))
		}
		return
	}
	c := 1 - w
	for i := range dst {
		dst[i] = x[i] - T((x[i]-dst[i])*c)
	}
}

// LerpHigh reports whether Lerp by the weight w takes its second form,
// x − (x − dst)·(1 − w): when |w| is not below 0.5, a NaN w included. The
// kernel sets choose their loop by it, once per call.
func LerpHigh[T Float](w T) bool { return !(math.Abs(float64(w)) < 0.5) }

// GradKernels is one implementation of the gradient reductions and passes:
// the reference (GradReference) or a SIMD kernel set. Norm combines its
// per-slice results in the order that defines the bits.
type GradKernels[T Float] struct {
	SumSquares       func(x []T) float64
	SumSquaresScaled func(x []T, s float64) float64
	SumAbs           func(x []T) float64
	SumPow           func(x []T, p, m float64) float64
	MaxAbs           func(x []T) float64
	Scale            func(x []T, c T)
	Clamp            func(x []T, c T)
	UnscaleCheck     func(x []T, inv T) bool
	NonFinite        func(x []T) bool
	Accumulate       func(acc, g []T, s T)
	Lerp             func(dst, x []T, w T)
}

// GradReference returns the reference implementations of this file.
func GradReference[T Float]() GradKernels[T] {
	return GradKernels[T]{
		SumSquares: SumSquares[T], SumSquaresScaled: SumSquaresScaled[T], SumAbs: SumAbs[T],
		SumPow: SumPow[T], MaxAbs: MaxAbs[T], Scale: Scale[T], Clamp: Clamp[T],
		UnscaleCheck: UnscaleCheck[T], NonFinite: NonFinite[T],
		Accumulate: Accumulate[T], Lerp: Lerp[T],
	}
}

// The two-level scheme of the float64 2-norm: a sum of squares that
// overflowed is redone with every element scaled by ScaleDown, and one that
// may have lost accuracy to underflow (below UnderflowRisk) with every
// element scaled by ScaleUp. Both are powers of two, so the scaling is exact
// wherever it matters:
//   - After an overflow, |x| < 2^1024 gives |x|*2^-600 < 2^424, squares
//     below 2^848 and no overflow for any length below 2^63. Only elements
//     below 2^-422 lose bits (their scaled squares underflow), and they
//     weigh less than n*2^-1868 of a sum that exceeded 2^1024.
//   - Below UnderflowRisk every |x| is below 2^-449, so |x|*2^600 < 2^151
//     cannot overflow, and every nonzero |x| >= 2^-1074 becomes at least
//     2^-474, whose square is normal: nothing underflows at all.
//   - At or above UnderflowRisk the squares that underflowed (each off by at
//     most 2^-1075) weigh at most n*2^-175 of the sum.
//
// No maximum is needed to choose the scale, so the common case is one pass
// of a plain sum of squares.
const (
	ScaleDown     = 0x1p-600
	ScaleUp       = 0x1p600
	UnderflowRisk = 0x1p-900
)

// Norm returns the p-norm of all of grads taken as one vector: the
// specification of GradNorm. p is >= 1 or +Inf (the caller validates it).
// Each slice is reduced on its own by the blocked order above; the slices'
// sums are added by a SumTree over the slices, in order (so the way the
// gradients are split into slices may change the last bits, and nothing
// else may); one final root is taken.
//
//   - p = +Inf: the largest |x|, NaN if any element is NaN. Exact.
//   - p = 2, float32: sqrt(S), S the sum of squares. The terms are exact, and
//     S can neither overflow nor underflow in float64, so a finite input
//     always gives a finite, accurate norm (torch overflows from about 1e19).
//   - p = 2, float64: S as above; if S is +Inf, the sum is redone with the
//     elements scaled by ScaleDown and the norm is sqrt(S')*2^600; if
//     S < UnderflowRisk, by ScaleUp and sqrt(S')*2^-600. A NaN S is returned
//     as is (an infinite element makes S' infinite too, so the norm is +Inf).
//   - p = 1: S, the sum of |x| (exact terms; it overflows only when the norm
//     itself is within the error bound of overflowing or beyond).
//   - other p: M = the largest |x|; if M is 0, +Inf or NaN, that is the norm.
//     Otherwise S' = the sum of Pow(|x|/M, p) and the norm is
//     M * Pow(S', 1/p). Every ratio is at most 1 and the largest is 1, so
//     no term overflows and S' is in [1, n], for every p. Rounding a ratio
//     perturbs its term by p times as much, and the root divides that by p
//     again, so the division costs one rounding of the result.
//
// Error bound. With u = 2^-53, n the length of the longest slice,
// nb = ceil(n/B) its blocks and ns the number of slices, every term passes
// through at most D = B/K + log2(K) + ceil(log2 nb) + ceil(log2 ns) =
// 133 + ceil(log2 nb) + ceil(log2 ns) roundings (the square, at most
// B/K - 1 = 127 additions in its lane, 5 in the fold, then the block and
// slice trees), all on non-negative values, so the computed sum is within a
// factor 1 ± D*u/(1-D*u) of the exact one. Hence the relative error of the
// result is at most
//
//	p = 2:     (D/2 + 2) * u          (10^7 elements in one slice: D = 145, 74.5u = 8.3e-15)
//	p = 1:     (D + 1) * u
//	p = +Inf:  0
//	other p:   ((D + 3 + ln N)/p + 4) * u, N the number of elements
//
// whenever the true norm is a normal float64 (a subnormal result is further
// rounded to the subnormal grid, an absolute 2^-1075). For float32 inputs D
// is one less (the squares are exact). In practice the error is far below
// the bound: rounding errors of the tree and lanes largely cancel.
func Norm[T Float](k *GradKernels[T], p float64, grads [][]T) float64 {
	r := Reducer[T]{k.SumSquares, k.SumSquaresScaled, k.SumAbs, k.SumPow, k.MaxAbs, isSingle[T]()}
	return NormOf(&r, p, grads)
}

// Reducer is what Norm combines: the blocked reductions of one slice, for
// slices of E. A storage whose values are not Float (the bits of bfloat16
// and float16) reduces its values widened to float32, block by block, and
// its norms are then those of the widened values, bit for bit.
type Reducer[E any] struct {
	SumSquares       func(x []E) float64
	SumSquaresScaled func(x []E, s float64) float64
	SumAbs           func(x []E) float64
	SumPow           func(x []E, p, m float64) float64
	MaxAbs           func(x []E) float64
	// Single reports that every element is a float32 value, so that the
	// squares are exact and their sum cannot overflow or underflow in
	// float64 (see Norm).
	Single bool
}

// NormOf is Norm with the reductions of r.
func NormOf[E any](k *Reducer[E], p float64, grads [][]E) float64 {
	switch {
	case math.IsInf(p, 1):
		m := 0.0
		for _, g := range grads {
			m = MaxNaN(m, k.MaxAbs(g))
		}
		return m
	case p == 2:
		s := sumSlices(grads, k.SumSquares)
		// For float32 the second pass would give the same bits (S is +Inf
		// only from an infinite element, and below UnderflowRisk only when
		// every element is 0), so it is skipped.
		if k.Single || !(s == math.Inf(1) || s < UnderflowRisk) {
			return math.Sqrt(s) // also NaN, and +Inf from an infinite element
		}
		scale, unscale := ScaleDown, ScaleUp
		if s < UnderflowRisk {
			scale, unscale = ScaleUp, ScaleDown
		}
		var t SumTree
		for _, g := range grads {
			t.Push(k.SumSquaresScaled(g, scale))
		}
		return math.Sqrt(t.Sum()) * unscale
	case p == 1:
		return sumSlices(grads, k.SumAbs)
	}
	m := 0.0
	for _, g := range grads {
		m = MaxNaN(m, k.MaxAbs(g))
	}
	if m == 0 || math.IsInf(m, 1) || m != m {
		return m
	}
	var t SumTree
	for _, g := range grads {
		t.Push(k.SumPow(g, p, m))
	}
	return m * detmath.Pow(t.Sum(), 1/p)
}

// isSingle reports whether T is a 32-bit float.
func isSingle[T Float]() bool { var zero T; return unsafe.Sizeof(zero) == 4 }

// sumSlices adds sum(g) over the slices by a SumTree.
func sumSlices[E any](grads [][]E, sum func([]E) float64) float64 {
	var t SumTree
	for _, g := range grads {
		t.Push(sum(g))
	}
	return t.Sum()
}

// ClipCoef is clip_grad_norm_'s coefficient, computed in float64:
// maxNorm/(total + 1e-6), clamped to at most 1 as torch.clamp(max=1.0)
// does, so a NaN total gives NaN and an infinite one gives 0. Callers round
// it once to the element type; torch computes it in the gradients' dtype,
// which for float32 can differ from this in the last bit.
func ClipCoef(maxNorm, total float64) float64 {
	c := maxNorm / (total + 1e-6)
	if c > 1 {
		return 1
	}
	return c
}
