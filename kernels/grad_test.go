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

// harnessReduce checks a reduction: f must leave its input and the guards
// alone and return want's bits (NaNs canonical).
func harnessReduce[T Float](t *testing.T, name string, f, want func([]T) float64) {
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
			w := want(slices.Clone(in[:n]))
			if canonical(got) != canonical(w) {
				t.Fatalf("%s %s n=%d off=%d: got %v (%#x), want %v (%#x)", name, dtypeName[T](), n, off, got, canonical(got), w, canonical(w))
			}
			if i := firstDiff(x, in[:n]); i >= 0 {
				t.Fatalf("%s %s n=%d off=%d: input element %d changed", name, dtypeName[T](), n, off, i)
			}
			if err := buf.check(off, n); err != nil {
				t.Fatalf("%s %s: %v", name, dtypeName[T](), err)
			}
		}
	}
}

// harnessUpdate checks an elementwise pass that writes its slice and
// returns a flag: the written bits and the flag must equal want's on a
// plain copy, and the guards must be intact.
func harnessUpdate[T Float](t *testing.T, name string, f, want func([]T) bool) {
	t.Helper()
	r := rand.New(rand.NewPCG(12, uint64(len(name))))
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
			wantFlag := want(w)
			if got != wantFlag {
				t.Fatalf("%s %s n=%d off=%d: flag %v, want %v", name, dtypeName[T](), n, off, got, wantFlag)
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

// harnessAll runs every gradient kernel of k through the harness against
// ref.
func harnessAll[T Float](t *testing.T, k, ref *generic.GradKernels[T]) {
	harnessReduce(t, "SumSquares", k.SumSquares, ref.SumSquares)
	harnessReduce(t, "SumAbs", k.SumAbs, ref.SumAbs)
	harnessReduce(t, "MaxAbs", k.MaxAbs, ref.MaxAbs)
	for _, s := range []float64{generic.ScaleDown, generic.ScaleUp, 0x1p-5} {
		harnessReduce(t, fmt.Sprintf("SumSquaresScaled(%g)", s),
			func(x []T) float64 { return k.SumSquaresScaled(x, s) }, func(x []T) float64 { return ref.SumSquaresScaled(x, s) })
	}
	for _, p := range []float64{1.5, 3} {
		harnessReduce(t, fmt.Sprintf("SumPow(%g)", p),
			func(x []T) float64 { return k.SumPow(x, p, 3.5) }, func(x []T) float64 { return ref.SumPow(x, p, 3.5) })
	}
	for _, c := range []T{0, 1, 0.7, T(math.Inf(1)), 0x1p-30} {
		harnessUpdate(t, fmt.Sprintf("Scale(%v)", c),
			func(x []T) bool { k.Scale(x, c); return false }, func(x []T) bool { ref.Scale(x, c); return false })
		harnessUpdate(t, fmt.Sprintf("Clamp(%v)", c),
			func(x []T) bool { k.Clamp(x, c); return false }, func(x []T) bool { ref.Clamp(x, c); return false })
	}
	for _, inv := range []T{1, 0x1p-16, 0.3, 0x1p20} {
		harnessUpdate(t, fmt.Sprintf("UnscaleCheck(%v)", inv),
			func(x []T) bool { return k.UnscaleCheck(x, inv) }, func(x []T) bool { return ref.UnscaleCheck(x, inv) })
	}
	harnessUpdate(t, "NonFinite", k.NonFinite, ref.NonFinite)
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
