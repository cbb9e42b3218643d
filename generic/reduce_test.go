package generic

import (
	"math"
	"math/big"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/simdoptim/optim/internal/detmath"
)

// modelSum is the blocked order of reduce.go written out as plainly as
// possible, independently of SumTree: per-block lane sums by index, the
// fold of halves, and the recursive pairwise tree.
func modelSum[T Float](x []T, term func(T) float64) float64 {
	var partials []float64
	for start := 0; start < len(x); start += ReduceBlock {
		end := min(start+ReduceBlock, len(x))
		var acc [ReduceLanes]float64
		for j := start; j < end; j++ {
			acc[(j-start)%ReduceLanes] += term(x[j])
		}
		for w := ReduceLanes / 2; w >= 1; w /= 2 {
			for i := 0; i < w; i++ {
				acc[i] = acc[i] + acc[i+w]
			}
		}
		partials = append(partials, acc[0])
	}
	return modelTree(partials)
}

// modelTree is the recursive definition of the pairwise tree.
func modelTree(p []float64) float64 {
	switch len(p) {
	case 0:
		return 0
	case 1:
		return p[0]
	}
	h := 1 << (bits.Len(uint(len(p)-1)) - 1) // the largest power of two below len(p)
	return modelTree(p[:h]) + modelTree(p[h:])
}

func sq[T Float](x T) float64 { v := float64(x); return float64(v * v) }

func absTerm[T Float](x T) float64 { return math.Abs(float64(x)) }

// testLengths crosses block boundaries: every length below two lane widths,
// and lengths around 1..17 blocks.
func testLengths() []int {
	var out []int
	for n := range 2*ReduceLanes + 1 {
		out = append(out, n)
	}
	for _, b := range []int{1, 2, 3, 4, 5, 7, 8, 9, 16, 17} {
		for _, d := range []int{-33, -1, 0, 1, 31} {
			out = append(out, b*ReduceBlock+d)
		}
	}
	return out
}

func randomSlice[T Float](r *rand.Rand, n int) []T {
	x := make([]T, n)
	for i := range x {
		x[i] = T(math.Ldexp(r.Float64()-0.5, r.IntN(40)-20))
	}
	return x
}

func TestReductionsMatchModel(t *testing.T) {
	t.Run("float32", func(t *testing.T) { testReductionsMatchModel[float32](t) })
	t.Run("float64", func(t *testing.T) { testReductionsMatchModel[float64](t) })
}

func testReductionsMatchModel[T Float](t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range testLengths() {
		x := randomSlice[T](r, n)
		check := func(name string, got, want float64) {
			t.Helper()
			if math.Float64bits(got) != math.Float64bits(want) {
				t.Errorf("%s n=%d: got %v (%#x), model %v (%#x)", name, n, got, math.Float64bits(got), want, math.Float64bits(want))
			}
		}
		check("SumSquares", SumSquares(x), modelSum(x, sq[T]))
		check("SumAbs", SumAbs(x), modelSum(x, absTerm[T]))
		s := 0x1p-37
		check("SumSquaresScaled", SumSquaresScaled(x, s), modelSum(x, func(e T) float64 { y := float64(e) * s; return float64(y * y) }))
		if n <= 3*ReduceBlock+31 { // Pow is slow: two block boundaries suffice
			check("SumPow", SumPow(x, 3, 1.5), modelSum(x, func(e T) float64 { return detmath.Pow(math.Abs(float64(e))/1.5, 3) }))
		}
		m := 0.0
		for _, e := range x {
			m = math.Max(m, math.Abs(float64(e)))
		}
		check("MaxAbs", MaxAbs(x), m)
	}
}

// TestSumTreeSplits checks the property the parallel layer relies on:
// pushing aligned complete subtrees gives the bits of pushing every leaf.
func TestSumTreeSplits(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for m := 0; m <= 70; m++ {
		p := make([]float64, m)
		for i := range p {
			p[i] = math.Ldexp(r.Float64(), r.IntN(60)-30)
		}
		want := modelTree(p)
		var leaves SumTree
		for _, v := range p {
			leaves.Push(v)
		}
		if got := leaves.Sum(); math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("m=%d: leaf by leaf %v, recursive tree %v", m, got, want)
		}
		for k := uint(1); k <= 4; k++ {
			// Runs of 2^k leaves as single nodes, then the rest leaf by leaf.
			var nodes SumTree
			size := 1 << k
			i := 0
			for ; i+size <= m; i += size {
				nodes.PushNode(modelTree(p[i:i+size]), uint64(size))
			}
			for ; i < m; i++ {
				nodes.Push(p[i])
			}
			if got := nodes.Sum(); math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("m=%d, runs of %d: %v, want %v", m, size, got, want)
			}
		}
	}
}

func TestMaxAbsNaN(t *testing.T) {
	nan := math.NaN()
	for _, x := range [][]float64{{nan}, {1, nan}, {nan, math.Inf(1)}, {math.Inf(-1), nan, 3}} {
		if got := MaxAbs(x); got == got {
			t.Errorf("MaxAbs(%v) = %v, want NaN", x, got)
		}
	}
	if got := MaxAbs([]float32{-3, math.Float32frombits(0x8000_0000), 2}); got != 3 {
		t.Errorf("MaxAbs = %v, want 3", got)
	}
	if got := MaxAbs([]float64{math.Inf(-1), 3}); !math.IsInf(got, 1) {
		t.Errorf("MaxAbs = %v, want +Inf", got)
	}
}

// TestClampIsTorchClamp compares Clamp with torch's formula
// min(max(x, -c), c) (std::max(a, b) = a < b ? b : a, std::min(a, b) =
// b < a ? b : a) with NaN passed through, signed zeros included.
func TestClampIsTorchClamp(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	values := []float64{nan, -inf, -3, -0.5, math.Copysign(0, -1), 0, 0.5, 0.7, 3, inf, 5e-324}
	for _, c := range []float64{0, 0.5, 0.7, 3, inf} {
		x := append([]float64(nil), values...)
		Clamp(x, c)
		for i, v := range values {
			want := v
			if v == v {
				lo, hi := -c, c
				if v < lo {
					want = lo
				}
				if hi < want {
					want = hi
				}
			}
			if math.Float64bits(x[i]) != math.Float64bits(want) && !(x[i] != x[i] && want != want) {
				t.Errorf("clamp(%v, ±%v) = %v, want %v", v, c, x[i], want)
			}
		}
	}
}

func TestUnscaleCheck(t *testing.T) {
	x := []float32{1, -2, 3e38}
	if UnscaleCheck(x, 0.5) || x[0] != 0.5 || x[1] != -1 || x[2] != 1.5e38 {
		t.Errorf("finite unscale: %v", x)
	}
	// Inexact products: a fused multiply-subtract in the check would see
	// their rounding errors (this failed on arm64 before the T(...)).
	third := []float32{1, 2, 3, 5, 7, 11, 13}
	if UnscaleCheck(third, float32(1.0/3)) {
		t.Error("finite inexact products reported as non-finite")
	}
	if !UnscaleCheck([]float32{1, 3e38}, 2) {
		t.Error("an overflowing product was not reported")
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		x := []float64{1, bad, 2}
		if !UnscaleCheck(x, 0.25) || x[0] != 0.25 || x[2] != 0.5 {
			t.Errorf("input %v: not reported, or the rest not unscaled: %v", bad, x)
		}
		if !NonFinite([]float64{0, bad}) {
			t.Errorf("NonFinite missed %v", bad)
		}
	}
	if NonFinite([]float64{0, math.MaxFloat64, -5e-324}) || NonFinite([]float32{}) {
		t.Error("NonFinite reported finite values")
	}
}

func TestClipCoef(t *testing.T) {
	if c := ClipCoef(1, 0); c != 1 {
		t.Errorf("small norm: %v", c)
	}
	if c := ClipCoef(1, math.Inf(1)); c != 0 {
		t.Errorf("infinite norm: %v", c)
	}
	if c := ClipCoef(1, math.NaN()); c == c {
		t.Errorf("NaN norm: %v", c)
	}
	if c := ClipCoef(2, 4); c != 2/(4+1e-6) {
		t.Errorf("clipping: %v", c)
	}
}

// bigNormRelErr returns the relative error of got as the p-norm (integer p)
// of xs, computed with math/big at 512 bits: |got^p / S - 1| / p, which is
// the relative error of got to first order. Exact powers of float64 values
// need at most p*53 bits, so every term and the sum are exact to far below
// the bounds tested.
func bigNormRelErr[T Float](xs [][]T, p int, got float64) float64 {
	const prec = 512
	sum := new(big.Float).SetPrec(prec)
	for _, x := range xs {
		for _, e := range x {
			v := new(big.Float).SetPrec(prec).SetFloat64(math.Abs(float64(e)))
			term := new(big.Float).SetPrec(prec).SetFloat64(1)
			for range p {
				term.Mul(term, v)
			}
			sum.Add(sum, term)
		}
	}
	if sum.Sign() == 0 {
		if got == 0 {
			return 0
		}
		return math.Inf(1)
	}
	g := new(big.Float).SetPrec(prec).SetFloat64(got)
	gp := new(big.Float).SetPrec(prec).SetFloat64(1)
	for range p {
		gp.Mul(gp, g)
	}
	diff := new(big.Float).SetPrec(prec).Sub(gp, sum)
	rel, _ := diff.Quo(diff, sum).Float64()
	return math.Abs(rel) / float64(p)
}

// normBound is Norm's documented bound in units of u = 2^-53.
func normBound(p float64, n, ns int) float64 {
	nb := max(1, (n+ReduceBlock-1)/ReduceBlock)
	d := float64(ReduceBlock/ReduceLanes + 5 + bits.Len(uint(nb-1)) + bits.Len(uint(max(ns, 1)-1)))
	switch p {
	case 2:
		return d/2 + 2
	case 1:
		return d + 1
	}
	return (d+3+math.Log(float64(n)*float64(ns)))/p + 4
}

type adversarial struct {
	name string
	gen  func(r *rand.Rand, i int) float64
}

func adversarialInputs() []adversarial {
	mant := func(r *rand.Rand) float64 { return (r.Float64() + 0.5) * float64(1-2*r.IntN(2)) }
	return []adversarial{
		{"ordinary", func(r *rand.Rand, i int) float64 { return math.Ldexp(mant(r), r.IntN(20)-10) }},
		{"huge 1e300", func(r *rand.Rand, i int) float64 { return 1e300 * mant(r) }},
		{"tiny 1e-300", func(r *rand.Rand, i int) float64 { return 1e-300 * mant(r) }},
		{"subnormal", func(r *rand.Rand, i int) float64 { return math.Ldexp(mant(r), -1060+r.IntN(30)) }},
		{"mixed 1e-300..1e300", func(r *rand.Rand, i int) float64 { return math.Ldexp(mant(r), r.IntN(1990)-995) }},
		{"one huge among tiny", func(r *rand.Rand, i int) float64 {
			if i == 7 {
				return 1e200
			}
			return 1e-200 * mant(r)
		}},
		{"near overflow", func(r *rand.Rand, i int) float64 { return math.MaxFloat64 / 1024 * mant(r) }},
		{"decaying", func(r *rand.Rand, i int) float64 { return math.Ldexp(mant(r), -i%1000) }},
	}
}

// TestNormAccuracy checks Norm against math/big on adversarial float64
// inputs, split into several slices, for p = 1, 2, 3 and +Inf.
func TestNormAccuracy(t *testing.T) {
	k := GradReference[float64]()
	lengths := []int{1, 5, 100, 4096, 4097, 20000}
	for _, in := range adversarialInputs() {
		for _, n := range lengths {
			r := rand.New(rand.NewPCG(uint64(n), 9))
			var xs [][]float64
			for rest, piece := n, 0; rest > 0; piece++ {
				m := min(rest, 1+r.IntN(n))
				x := make([]float64, m)
				for i := range x {
					x[i] = in.gen(r, n-rest+i)
				}
				xs = append(xs, x)
				rest -= m
			}
			longest := 0
			for _, x := range xs {
				longest = max(longest, len(x))
			}
			for _, p := range []float64{1, 2, 3} {
				got := Norm(&k, p, xs)
				if math.IsInf(got, 0) || got != got {
					if in.name == "near overflow" && p != 2 {
						continue // the true 1- or 3-norm exceeds MaxFloat64
					}
					t.Errorf("%s n=%d p=%v: norm %v, want finite", in.name, n, p, got)
					continue
				}
				if got != 0 && got < 0x1p-1022 {
					continue // subnormal norm: the relative bound does not apply
				}
				rel := bigNormRelErr(xs, int(p), got) / 0x1p-53
				if bound := normBound(p, longest, len(xs)); rel > bound {
					t.Errorf("%s n=%d p=%v: relative error %.3g u, bound %.3g u", in.name, n, p, rel, bound)
				}
			}
			m := 0.0
			for _, x := range xs {
				for _, e := range x {
					m = math.Max(m, math.Abs(e))
				}
			}
			if got := Norm(&k, math.Inf(1), xs); got != m {
				t.Errorf("%s n=%d p=inf: %v, want %v", in.name, n, got, m)
			}
		}
	}
}

// TestNormFloat32Huge: float32 gradients around 1e19 overflow torch's
// float32 norm; accumulated in float64 the norm is finite and accurate.
func TestNormFloat32Huge(t *testing.T) {
	k := GradReference[float32]()
	r := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, 5000)
	for i := range x {
		x[i] = float32(1e19 * (r.Float64() + 0.5))
	}
	x[3] = math.MaxFloat32
	got := Norm(&k, 2, [][]float32{x})
	if rel := bigNormRelErr([][]float32{x}, 2, got) / 0x1p-53; math.IsInf(got, 0) || rel > normBound(2, len(x), 1) {
		t.Errorf("norm %v, relative error %.3g u", got, rel)
	}
}

// TestNormTenMillion is the 10^7-element accuracy test.
func TestNormTenMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("10^7 elements against math/big: skipped with -short")
	}
	k := GradReference[float64]()
	r := rand.New(rand.NewPCG(7, 8))
	const n = 10_000_000
	x := make([]float64, n)
	for i := range x {
		x[i] = math.Ldexp(r.Float64()+0.5, r.IntN(60)-30)
	}
	for _, p := range []float64{1, 2} {
		got := Norm(&k, p, [][]float64{x})
		rel := bigNormRelErr([][]float64{x}, int(p), got) / 0x1p-53
		bound := normBound(p, n, 1)
		t.Logf("p=%v: relative error %.3g u (bound %.3g u)", p, rel, bound)
		if rel > bound {
			t.Errorf("p=%v: relative error %.3g u exceeds the bound %.3g u", p, rel, bound)
		}
	}
	// Huge elements: the first pass overflows, the scaled pass recovers.
	for i := range x {
		x[i] *= 0x1p960
	}
	got := Norm(&k, 2, [][]float64{x})
	rel := bigNormRelErr([][]float64{x}, 2, got) / 0x1p-53
	t.Logf("huge: norm %v, relative error %.3g u", got, rel)
	if math.IsInf(got, 0) || rel > normBound(2, n, 1) {
		t.Errorf("huge: norm %v, relative error %.3g u", got, rel)
	}
}

func TestNormSpecial(t *testing.T) {
	k := GradReference[float64]()
	nan, inf := math.NaN(), math.Inf(1)
	for _, p := range []float64{1, 2, 3, inf} {
		if got := Norm(&k, p, nil); got != 0 {
			t.Errorf("p=%v, no grads: %v", p, got)
		}
		if got := Norm(&k, p, [][]float64{{0, 0}, {}}); got != 0 {
			t.Errorf("p=%v, zeros: %v", p, got)
		}
		if got := Norm(&k, p, [][]float64{{1, inf}, {nan}}); got == got {
			t.Errorf("p=%v, NaN and Inf: %v, want NaN", p, got)
		}
		if got := Norm(&k, p, [][]float64{{1e300, -inf}, {2}}); !math.IsInf(got, 1) {
			t.Errorf("p=%v, Inf: %v, want +Inf", p, got)
		}
		if got := Norm(&k, p, [][]float64{{5e-324}}); got != 5e-324 {
			t.Errorf("p=%v, smallest subnormal: %v", p, got)
		}
	}
}

// BenchmarkGradReference times each reference pass on 65536 float32
// values (bytes: the slice read once; the writing passes also write it).
func BenchmarkGradReference(b *testing.B) {
	x := make([]float32, 1<<16)
	for i := range x {
		x[i] = float32(i%1000) * 0x1p-10
	}
	k := GradReference[float32]()
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"SumSquares", func() { k.SumSquares(x) }},
		{"SumAbs", func() { k.SumAbs(x) }},
		{"MaxAbs", func() { k.MaxAbs(x) }},
		{"SumPow3", func() { k.SumPow(x, 3, 1000) }},
		{"Scale", func() { k.Scale(x, 1) }},
		{"Clamp", func() { k.Clamp(x, 1e9) }},
		{"UnscaleCheck", func() { k.UnscaleCheck(x, 1) }},
		{"NonFinite", func() { k.NonFinite(x) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				c.f()
			}
		})
	}
}
