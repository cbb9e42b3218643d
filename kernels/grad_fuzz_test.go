package kernels

import (
	"math"
	"testing"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/testvals"
)

// The gradient kernels' fuzz targets: raw bytes become the elements of a few
// gradients (every NaN, infinity and subnormal can appear), at a fuzzed
// alignment offset and lengths up to three blocks; every supported set must
// give generic's bits: the norm (generic.Norm over the set's kernels), the
// clipped, unscaled, accumulated and averaged gradients and every flag. The
// root package's targets of the same names check the public API against a
// model.
//
//	go test -fuzz=FuzzGradNorm -fuzztime=10s ./kernels

// fuzzGrads is the fuzzer's input as gradients: n%(3*ReduceBlock+97)
// elements at offset off%16 of buf, cut into three slices of fuzzed
// proportions. It is filled once; runs work on copies (at the same offset).
type fuzzGrads[T Float] struct {
	buf          []T
	off, a, b, n int
}

func newFuzzGrads[T Float](n, off, split int, data []byte) *fuzzGrads[T] {
	abs := func(v int) int { // -MinInt is MinInt: its remainder is negated
		if v < 0 {
			return -v
		}
		return v
	}
	n, off = abs(n%(3*generic.ReduceBlock+97)), abs(off%16)
	f := &fuzzGrads[T]{buf: make([]T, off+n), off: off, n: n}
	in := &testvals.FuzzInput[T]{Data: data}
	in.Fill(f.buf[off:])
	f.a = abs(split % (n + 1))
	f.b = f.a + abs((split/7)%(n-f.a+1))
	return f
}

// slices copies the input into dst (len(f.buf) elements) and returns the
// three gradients in it.
func (f *fuzzGrads[T]) slices(dst []T) [][]T {
	copy(dst, f.buf)
	return f.cut(dst)
}

// reversed copies the input into dst with its elements in reverse order
// and returns the three slices in it: as many elements as the gradients,
// with other values, as the second operand of the two-slice passes.
func (f *fuzzGrads[T]) reversed(dst []T) [][]T {
	copy(dst, f.buf[:f.off])
	x := f.buf[f.off:]
	for i, v := range x {
		dst[len(dst)-1-i] = v
	}
	return f.cut(dst)
}

// cut returns the three gradients in dst, a copy of the input.
func (f *fuzzGrads[T]) cut(dst []T) [][]T {
	x := dst[f.off:]
	return [][]T{x[:f.a:f.a], x[f.a:f.b:f.b], x[f.b:]}
}

func FuzzGradNorm(f *testing.F) {
	seed := testvals.FuzzSeed()
	for _, p := range []float64{1, 2, 3, math.Inf(1), 1.5} {
		f.Add(300, 3, 1000, p, seed)
		f.Add(2*generic.ReduceBlock+45, 1, 9000, p, seed)
	}
	f.Fuzz(func(t *testing.T, n, off, split int, p float64, data []byte) {
		if !(p >= 1) {
			p = 2 // the callers validate it
		}
		fuzzGradNormT[float32](t, n, off, split, p, data)
		fuzzGradNormT[float64](t, n, off, split, p, data)
	})
}

func fuzzGradNormT[T Float](t *testing.T, n, off, split int, p float64, data []byte) {
	f := newFuzzGrads[T](n, off, split, data)
	grads := f.slices(f.buf)
	ref := generic.GradReference[T]()
	want := generic.Norm(&ref, p, grads)
	for _, s := range testedSets(t) {
		if got := generic.Norm(Grad[T](s), p, grads); canonical(got) != canonical(want) {
			t.Fatalf("%s %s p=%v: norm %v, generic %v", s.name, dtypeName[T](), p, got, want)
		}
		// The scaled sums of the float64 two-level scheme, which the norm
		// reaches only for huge or tiny inputs.
		for _, sc := range []float64{generic.ScaleDown, generic.ScaleUp} {
			for _, g := range grads {
				if got, w := Grad[T](s).SumSquaresScaled(g, sc), ref.SumSquaresScaled(g, sc); canonical(got) != canonical(w) {
					t.Fatalf("%s %s SumSquaresScaled(%g): %v, generic %v", s.name, dtypeName[T](), sc, got, w)
				}
			}
		}
	}
}

// FuzzClip also runs the two-slice passes: Accumulate by the factor inv
// and Lerp by the weight maxNorm, each slice with the input reversed as its
// second operand. The seeds' maxNorm take both of Lerp's forms.
func FuzzClip(f *testing.F) {
	seed := testvals.FuzzSeed()
	f.Add(300, 3, 1000, 1.0, 2.0, 0.5, 0x1p-16, seed)
	f.Add(2*generic.ReduceBlock+45, 1, 9000, 0.0, math.Inf(1), 0.0, 3.0, seed)
	f.Add(77, 5, 40, 1e30, 1.0, math.Inf(1), 0x1p20, seed)
	f.Add(1000, 7, 333, 0.25, 2.0, 1.0, -0.5, seed)
	f.Add(129, 2, 64, -0.75, 1.0, 2.0, 1.0, seed)
	f.Add(4096+17, 0, 4000, 0.5, 2.0, 1.0, math.NaN(), seed)
	f.Fuzz(func(t *testing.T, n, off, split int, maxNorm, p, clip, inv float64, data []byte) {
		if !(p >= 1) {
			p = 2
		}
		clip = math.Abs(clip) // the callers validate it: >= 0, not NaN
		if clip != clip {
			clip = 1
		}
		fuzzClipT[float32](t, n, off, split, maxNorm, p, clip, inv, data)
		fuzzClipT[float64](t, n, off, split, maxNorm, p, clip, inv, data)
	})
}

// fuzzClipT runs clip_grad_norm_ (the norm, then Scale by the coefficient),
// clip_grad_value_ (Clamp), the unscale-and-check, the non-finite check,
// and the two-slice passes Accumulate and Lerp, with every set and with
// generic, on copies of the same gradients.
func fuzzClipT[T Float](t *testing.T, n, off, split int, maxNorm, p, clip, inv float64, data []byte) {
	ref := generic.GradReference[T]()
	f := newFuzzGrads[T](n, off, split, data)
	gotBuf, wantBuf := make([]T, len(f.buf)), make([]T, len(f.buf))
	others := f.reversed(make([]T, len(f.buf))) // only read
	for _, s := range testedSets(t) {
		k := Grad[T](s)
		for _, op := range []struct {
			name string
			run  func(k *generic.GradKernels[T], grads [][]T) uint64
		}{
			{"ClipGradNorm", func(k *generic.GradKernels[T], grads [][]T) uint64 {
				total := generic.Norm(k, p, grads)
				c := T(generic.ClipCoef(maxNorm, total))
				for _, g := range grads {
					k.Scale(g, c)
				}
				return canonical(total)
			}},
			{"ClipGradValue", func(k *generic.GradKernels[T], grads [][]T) uint64 {
				for _, g := range grads {
					k.Clamp(g, T(clip))
				}
				return 0
			}},
			{"UnscaleCheck", func(k *generic.GradKernels[T], grads [][]T) uint64 {
				var flags uint64
				for i, g := range grads {
					if k.UnscaleCheck(g, T(inv)) {
						flags |= 1 << i
					}
					if k.NonFinite(g) {
						flags |= 16 << i
					}
				}
				return flags
			}},
			{"Accumulate", func(k *generic.GradKernels[T], grads [][]T) uint64 {
				for i, g := range grads {
					k.Accumulate(g, others[i], T(inv))
				}
				return 0
			}},
			{"Lerp", func(k *generic.GradKernels[T], grads [][]T) uint64 {
				for i, g := range grads {
					k.Lerp(g, others[i], T(maxNorm))
				}
				return 0
			}},
		} {
			got, want := f.slices(gotBuf), f.slices(wantBuf)
			if g, w := op.run(k, got), op.run(&ref, want); g != w {
				t.Fatalf("%s %s %s: result %#x, generic %#x", s.name, op.name, dtypeName[T](), g, w)
			}
			for i := range got {
				if j := firstDiff(got[i], want[i]); j >= 0 {
					t.Fatalf("%s %s %s: grad %d element %d = %#x, generic %#x",
						s.name, op.name, dtypeName[T](), i, j, rawBits(got[i][j]), rawBits(want[i][j]))
				}
			}
		}
	}
}
