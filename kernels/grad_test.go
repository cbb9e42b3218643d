package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/simdoptim/optim/generic"
)

// canonical is x's bits with every NaN the same.
func canonical(x float64) uint64 {
	if x != x {
		return 0x7ff8_0000_0000_0001
	}
	return math.Float64bits(x)
}

// ---- The harness every gradient kernel runs through: every length 0..300
// at every offset 0..15 from a 64-byte boundary, guard values around the
// slice, inputs mixing ordinary and special values. It takes the function
// under test and the reference to compare with bit for bit.

const harnessMaxLen = 300

// harness checks a gradient kernel f against want, the reference, on a
// plain copy of the same input: the result words (a reduction's bits with
// NaNs canonical, or a flag) and every element afterwards must be equal
// (a reduction must leave its input alone, a pass must write want's bits),
// and the guards must be intact.
func harness[T Float](t *testing.T, name string, f, want func([]T) uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(11, uint64(len(name))))
	pool := newValuePool[T](r)
	buf := newGuardedBuf[T](0, harnessMaxLen)
	in := make([]T, harnessMaxLen)
	for n := 0; n <= harnessMaxLen; n++ {
		for off := range 16 {
			pool.fill(r, in[:n], false)
			x := buf.place(off, n)
			copy(x, in[:n])
			got := f(x)
			w := slices.Clone(in[:n])
			wantWord := want(w)
			if got != wantWord {
				t.Fatalf("%s %s n=%d off=%d: got %#x, want %#x", name, dtypeName[T](), n, off, got, wantWord)
			}
			if i := firstDiff(x, w); i >= 0 {
				t.Fatalf("%s %s n=%d off=%d: element %d = %#x, want %#x", name, dtypeName[T](), n, off, i, rawBits(x[i]), rawBits(w[i]))
			}
			if err := buf.check(off, n); err != nil {
				t.Fatalf("%s %s: %v", name, dtypeName[T](), err)
			}
		}
	}
}

// sum and flag turn a reduction's and a check's result into harness words.
func sum[T Float](f func([]T) float64) func([]T) uint64 {
	return func(x []T) uint64 { return canonical(f(x)) }
}

func flag[T Float](f func([]T) bool) func([]T) uint64 {
	return func(x []T) uint64 {
		if f(x) {
			return 1
		}
		return 0
	}
}

// harnessAll runs every gradient kernel of k through the harness against
// ref.
func harnessAll[T Float](t *testing.T, k, ref *generic.GradKernels[T]) {
	harness(t, "SumSquares", sum(k.SumSquares), sum(ref.SumSquares))
	harness(t, "SumAbs", sum(k.SumAbs), sum(ref.SumAbs))
	harness(t, "MaxAbs", sum(k.MaxAbs), sum(ref.MaxAbs))
	for _, s := range []float64{generic.ScaleDown, generic.ScaleUp, 0x1p-5} {
		harness(t, fmt.Sprintf("SumSquaresScaled(%g)", s),
			sum(func(x []T) float64 { return k.SumSquaresScaled(x, s) }), sum(func(x []T) float64 { return ref.SumSquaresScaled(x, s) }))
	}
	for _, p := range []float64{1.5, 3} {
		harness(t, fmt.Sprintf("SumPow(%g)", p),
			sum(func(x []T) float64 { return k.SumPow(x, p, 3.5) }), sum(func(x []T) float64 { return ref.SumPow(x, p, 3.5) }))
	}
	for _, c := range []T{0, 1, 0.7, T(math.Inf(1)), 0x1p-30} {
		harness(t, fmt.Sprintf("Scale(%v)", c),
			flag(func(x []T) bool { k.Scale(x, c); return false }), flag(func(x []T) bool { ref.Scale(x, c); return false }))
		harness(t, fmt.Sprintf("Clamp(%v)", c),
			flag(func(x []T) bool { k.Clamp(x, c); return false }), flag(func(x []T) bool { ref.Clamp(x, c); return false }))
	}
	for _, inv := range []T{1, 0x1p-16, 0.3, 0x1p20} {
		harness(t, fmt.Sprintf("UnscaleCheck(%v)", inv),
			flag(func(x []T) bool { return k.UnscaleCheck(x, inv) }), flag(func(x []T) bool { return ref.UnscaleCheck(x, inv) }))
	}
	harness(t, "NonFinite", flag(k.NonFinite), flag(ref.NonFinite))
}

// TestGradKernelsHarness runs every gradient kernel of every supported
// assembly set through the harness against the reference, bit for bit.
func TestGradKernelsHarness(t *testing.T) {
	forEachSet(t, func(t *testing.T, s *Set) {
		t.Run("float32", func(t *testing.T) {
			ref := generic.GradReference[float32]()
			harnessAll(t, Grad[float32](s), &ref)
		})
		t.Run("float64", func(t *testing.T) {
			ref := generic.GradReference[float64]()
			harnessAll(t, Grad[float64](s), &ref)
		})
	})
}

// TestGradGenericIsReference checks that the generic set's gradient kernels
// are the references.
func TestGradGenericIsReference(t *testing.T) {
	if Grad[float32](Generic()).SumSquares == nil || Grad[float64](Generic()).Scale == nil {
		t.Fatal("the generic set has no gradient kernels")
	}
}
