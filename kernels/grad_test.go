package kernels

import (
	"bytes"
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

// ---- The harness every gradient kernel runs through: every length and
// every offset from a 64-byte boundary of sweep (0..300 at 0..15 on amd64),
// guard values around the slice, inputs mixing ordinary and special values.
// It takes the function under test and the reference to compare with bit
// for bit.

// harnessMaxLen is the longest slice any sweep places in the harness's
// buffers.
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
	maxLen, maxOff := sweep()
	buf := newGuardedBuf[T](0, harnessMaxLen)
	in := make([]T, harnessMaxLen)
	for n := 0; n <= maxLen; n++ {
		for off := 0; off <= maxOff; off++ {
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
			for _, c := range pairCases(Grad[float32](s), &ref) {
				harnessPair(t, c)
			}
		})
		t.Run("float64", func(t *testing.T) {
			ref := generic.GradReference[float64]()
			harnessAll(t, Grad[float64](s), &ref)
			for _, c := range pairCases(Grad[float64](s), &ref) {
				harnessPair(t, c)
			}
		})
	})
}

// ---- The passes over two slices, Accumulate(acc, g, s) and
// Lerp(dst, x, w), have a harness of their own: x is the slice the pass
// writes (acc, dst) and y the one it only reads (g, Lerp's x), each at its
// own offset from a 64-byte boundary with its own guard values.

// pairCase is a two-slice pass with its scalar, and the reference.
type pairCase[T Float] struct {
	name      string
	got, want func(x, y []T)
}

// pairCases are Accumulate with factors of every kind and Lerp with
// weights that take each of its forms (|w| < 0.5 and not), at and near
// their boundary, beyond [0, 1] and not finite.
func pairCases[T Float](k, ref *generic.GradKernels[T]) []pairCase[T] {
	inf, nan := T(math.Inf(1)), T(math.NaN())
	var cases []pairCase[T]
	for _, s := range []T{1, 0.7, -3, 0, T(math.Copysign(0, -1)), 0x1p-30, 0x1p100, inf, nan} {
		cases = append(cases, pairCase[T]{fmt.Sprintf("Accumulate(%v)", s),
			func(x, y []T) { k.Accumulate(x, y, s) }, func(x, y []T) { ref.Accumulate(x, y, s) }})
	}
	below := T(math.Nextafter(0.5, 0))
	if sizeOf[T]() == 4 {
		below = T(math.Nextafter32(0.5, 0))
	}
	for _, w := range []T{0, T(math.Copysign(0, -1)), 0x1p-30, 0.25, below, 0.5, 0.75, 1, -0.3, -0.5, -0.75, 2, inf, -inf, nan} {
		cases = append(cases, pairCase[T]{fmt.Sprintf("Lerp(%v)", w),
			func(x, y []T) { k.Lerp(x, y, w) }, func(x, y []T) { ref.Lerp(x, y, w) }})
	}
	return cases
}

// run copies inX and inY into x and y, runs the pass on them and the
// reference on copies, and reports the first element of x whose bits
// differ from the reference's (any NaN for a NaN), or of y that changed
// at all.
func (c pairCase[T]) run(x, y, inX, inY []T) error {
	copy(x, inX)
	copy(y, inY)
	c.got(x, y)
	want := slices.Clone(inX)
	c.want(want, slices.Clone(inY))
	if i := firstDiff(x, want); i >= 0 {
		return fmt.Errorf("x[%d] = %#x, reference %#x", i, rawBits(x[i]), rawBits(want[i]))
	}
	if !bytes.Equal(asBytes(y), asBytes(inY)) {
		return fmt.Errorf("y, which is only read, changed")
	}
	return nil
}

// pairLengths are the lengths the two-slice passes run on: every length
// up to harnessMaxLen (whole vectors and every tail), then some over a
// reduction block.
func pairLengths() []int {
	var out []int
	maxLen, _ := sweep() // shorter with -short or -race, as the other sweeps
	for n := 0; n <= min(harnessMaxLen, maxLen); n++ {
		out = append(out, n)
	}
	return append(out, generic.ReduceBlock+13, 3*generic.ReduceBlock+77)
}

// pairOffsets are the offsets of x and y from a 64-byte boundary that a
// length runs at: every pair up to pairAllOffsets elements (every vector
// loop and tail under every misalignment of each slice), beyond that each
// offset of x once, with an offset of y that varies with n.
func pairOffsets(n int) [][2]int {
	var out [][2]int
	_, maxOff := sweep()
	for offX := range maxOff + 1 {
		if n > pairAllOffsets {
			out = append(out, [2]int{offX, (offX*7 + n) % 16})
			continue
		}
		for offY := range maxOff + 1 {
			out = append(out, [2]int{offX, offY})
		}
	}
	return out
}

// pairAllOffsets: the lengths with no whole vector (all tail), and one
// whole gradUnit (an AVX-512 vector of float32) with or without a tail.
const pairAllOffsets = gradUnit + 1

// harnessPair checks a two-slice pass against the reference on plain copies
// of the same inputs (values of every kind, NaNs with payloads among them):
// x must end with the reference's bits (any NaN for a NaN), y must keep
// every bit, and the guards around both must be intact.
func harnessPair[T Float](t *testing.T, c pairCase[T]) {
	t.Helper()
	lengths := pairLengths()
	maxLen := slices.Max(lengths)
	r := rand.New(rand.NewPCG(13, uint64(len(c.name))))
	pool := newValuePool[T](r)
	bufX, bufY := newGuardedBuf[T](0, maxLen), newGuardedBuf[T](1, maxLen)
	inX, inY := make([]T, maxLen), make([]T, maxLen)
	for _, n := range lengths {
		for _, off := range pairOffsets(n) {
			fill(r, pool, inX[:n])
			fill(r, pool, inY[:n])
			x, y := bufX.place(off[0], n), bufY.place(off[1], n)
			for _, err := range []error{c.run(x, y, inX[:n], inY[:n]), bufX.check(off[0], n), bufY.check(off[1], n)} {
				if err != nil {
					t.Fatalf("%s %s n=%d offsets %v: %v", c.name, dtypeName[T](), n, off, err)
				}
			}
		}
	}
}

// fill fills dst from the pool, in windows of the pool's length for a
// longer dst.
func fill[T Float](r *rand.Rand, pool *valuePool[T], dst []T) {
	for len(dst) > 0 {
		n := min(len(dst), len(pool.signed))
		pool.fill(r, dst[:n], false)
		dst = dst[n:]
	}
}

// TestGradGenericIsReference checks that the generic set's gradient kernels
// are the references.
func TestGradGenericIsReference(t *testing.T) {
	if Grad[float32](Generic()).SumSquares == nil || Grad[float64](Generic()).Scale == nil {
		t.Fatal("the generic set has no gradient kernels")
	}
}
