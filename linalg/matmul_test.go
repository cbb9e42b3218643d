package linalg

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

// namedGemm is one kernel set's Gemm kernel for T.
type namedGemm[T float32 | float64] struct {
	name string
	set  *gemmSet[T]
}

// gemmSets returns the Gemm kernels of every set this CPU and build
// support, generic last.
func gemmSets[T float32 | float64]() []namedGemm[T] {
	var out []namedGemm[T]
	for _, k := range append(archKernels(), genericKernels) {
		var set any = &k.g64
		var z T
		if _, ok := any(z).(float32); ok {
			set = &k.g32
		}
		out = append(out, namedGemm[T]{k.name, set.(*gemmSet[T])})
	}
	return out
}

// sameBits reports whether x and y have the same bits, any two NaNs being
// the same (the hardware picks a NaN's payload and sign).
func sameBits[T float32 | float64](x, y T) bool {
	if x != x && y != y {
		return true
	}
	if _, ok := any(x).(float32); ok {
		return math.Float32bits(float32(x)) == math.Float32bits(float32(y))
	}
	return math.Float64bits(float64(x)) == math.Float64bits(float64(y))
}

// gemmCase is one product to run; the matrices are filled at random.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	padA, padB     int // extra stride beyond the row length
	padC           int
	alpha, beta    float64
	nanC           bool // C starts with NaN and Inf (beta = 0 must clear them)
	workers        int
}

func (g gemmCase) String() string {
	return fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d pads=%d,%d,%d alpha=%v beta=%v nanC=%v workers=%d",
		g.transA, g.transB, g.m, g.n, g.k, g.padA, g.padB, g.padC, g.alpha, g.beta, g.nanC, g.workers)
}

// guard is the value written around C and in the gaps between its rows.
const guard = -12345.678

// guarded holds C inside a larger buffer whose guard cells must survive.
type guarded[T float32 | float64] struct {
	buf  []T
	off  int
	c    []T // exactly the elements C's shape reaches, capacity included
	m, n int
	ldc  int
}

func newGuarded[T float32 | float64](rng *rand.Rand, m, n, ldc int, nan bool) guarded[T] {
	need := 0
	if m > 0 && n > 0 {
		need = (m-1)*ldc + n
	}
	const off = 17
	buf := make([]T, off+need+19)
	for i := range buf {
		buf[i] = guard
	}
	g := guarded[T]{buf: buf, off: off, c: buf[off : off+need : off+need], m: m, n: n, ldc: ldc}
	for i := range m {
		for j := range n {
			v := T(rng.NormFloat64())
			if nan {
				v = []T{T(math.NaN()), T(math.Inf(1)), T(math.Inf(-1)), v}[rng.IntN(4)]
			}
			g.c[i*ldc+j] = v
		}
	}
	return g
}

// checkGuards fails if a cell outside C's elements changed.
func (g guarded[T]) checkGuards(t *testing.T, what string) {
	t.Helper()
	for i, v := range g.buf {
		r := i - g.off
		inside := r >= 0 && r < len(g.c) && r%g.ldc < g.n
		if !inside && v != guard {
			t.Fatalf("%s: wrote %v at offset %d from C (m=%d n=%d ldc=%d)", what, v, r, g.m, g.n, g.ldc)
		}
	}
}

func randMatrix[T float32 | float64](rng *rand.Rand, rows, cols, ld int) []T {
	if rows == 0 || cols == 0 {
		return make([]T, rng.IntN(3))
	}
	x := make([]T, (rows-1)*ld+cols)
	for i := range x {
		x[i] = guard // the gaps between rows must not be read into C
	}
	for i := range rows {
		for j := range cols {
			x[i*ld+j] = T(rng.NormFloat64())
		}
	}
	return x
}

// runCase runs g with every set against gemmReference, bit for bit, with
// guards around C.
func runCase[T float32 | float64](t *testing.T, rng *rand.Rand, g gemmCase, sets []namedGemm[T]) {
	t.Helper()
	ar, ac := g.m, g.k
	if g.transA {
		ar, ac = g.k, g.m
	}
	br, bc := g.k, g.n
	if g.transB {
		br, bc = g.n, g.k
	}
	lda, ldb, ldc := max(1, ac)+g.padA, max(1, bc)+g.padB, max(1, g.n)+g.padC
	a := randMatrix[T](rng, ar, ac, lda)
	b := randMatrix[T](rng, br, bc, ldb)
	c0 := newGuarded[T](rng, g.m, g.n, ldc, g.nanC)
	want := append([]T(nil), c0.c...)
	alpha, beta := T(g.alpha), T(g.beta)
	gemmReference(g.transA, g.transB, g.m, g.n, g.k, alpha, a, lda, b, ldb, beta, want, ldc)
	for _, s := range sets {
		c := newGuarded[T](rng, g.m, g.n, ldc, false)
		copy(c.c, c0.c)
		w := GemmWorkspace[T]{Workers: g.workers}
		if err := w.gemm(s.set, g.transA, g.transB, g.m, g.n, g.k, alpha, a, lda, b, ldb, beta, c.c, ldc); err != nil {
			t.Fatalf("%s %v: %v", s.name, g, err)
		}
		c.checkGuards(t, fmt.Sprintf("%s %v", s.name, g))
		for i := range g.m {
			for j := range g.n {
				if got, w := c.c[i*ldc+j], want[i*ldc+j]; !sameBits(got, w) {
					t.Fatalf("%s %T %v: C[%d][%d] = %v, reference %v", s.name, got, g, i, j, got, w)
				}
			}
		}
	}
}

// gemmCases returns the sweep: random shapes around the tile sizes and
// GemmKC, every transpose, odd strides, special alpha and beta, and a few
// shapes that cross the blocks of rows and columns.
func gemmCases(short bool) []gemmCase {
	rng := rand.New(rand.NewPCG(23, 1))
	dims := []int{0, 1, 2, 3, 5, 7, 8, 11, 12, 13, 16, 17, 25, 31, 33, 47}
	ks := []int{0, 1, 2, 3, 9, 64, GemmKC - 1, GemmKC, GemmKC + 1, 2*GemmKC + 3}
	alphas := []float64{1, -1, 0.5, 0, 3.25, math.Copysign(0, -1)}
	betas := []float64{0, 1, -1, 0.25, 2}
	count := 120
	if short {
		count = 40
	}
	var out []gemmCase
	for i := range count {
		g := gemmCase{
			transA: i&1 != 0, transB: i&2 != 0,
			m: dims[rng.IntN(len(dims))], n: dims[rng.IntN(len(dims))], k: ks[rng.IntN(len(ks))],
			padA: rng.IntN(3), padB: rng.IntN(3), padC: rng.IntN(4),
			alpha: alphas[rng.IntN(len(alphas))], beta: betas[rng.IntN(len(betas))],
			workers: 1 + rng.IntN(3),
		}
		if g.k > 64 && g.m*g.n > 200 {
			g.k = 64 + g.k%7 // keep the reference cheap; the deep k come with small tiles
		}
		g.nanC = g.beta == 0 && rng.IntN(2) == 0
		out = append(out, g)
	}
	// Crossing mc and nc, and worker splits of rows and of columns.
	out = append(out,
		gemmCase{m: 250, n: 3, k: 5, padC: 1, alpha: 1, beta: 1, workers: 1},
		gemmCase{transA: true, m: 3, n: 3200, k: 3, padB: 1, alpha: -2, beta: 0.5, workers: 1},
		gemmCase{transB: true, m: 70, n: 90, k: 20, padA: 1, alpha: 1.5, beta: 0, nanC: true, workers: 4},
		gemmCase{m: 150, n: 40, k: 300, alpha: 1, beta: -1, workers: 3},
		// beta = 0 over several k blocks: only the first overwrites C;
		// rows crossing mc, both storage orders of A.
		gemmCase{m: 29, n: 45, k: 2*GemmKC + 3, padC: 2, alpha: -1, beta: 0, nanC: true, workers: 2},
		gemmCase{transA: true, m: 200, n: 33, k: 300, padA: 1, alpha: 0.5, beta: 0, nanC: true, workers: 1},
		gemmCase{m: 200, n: 33, k: 300, padA: 3, alpha: 2, beta: 0, workers: 1},
	)
	return out
}

// TestGemmKernelSets: every kernel set this machine runs gives the bits of
// gemmReference, in float32 and float64, over the sweep; C's surroundings
// are never written.
func TestGemmKernelSets(t *testing.T) {
	cases := gemmCases(testing.Short())
	rng := rand.New(rand.NewPCG(23, 2))
	sets32, sets64 := gemmSets[float32](), gemmSets[float64]()
	for _, g := range cases {
		runCase(t, rng, g, sets32)
		runCase(t, rng, g, sets64)
	}
	var names []string
	for _, s := range sets64 {
		names = append(names, s.name)
	}
	t.Logf("%d cases, sets %s", len(cases), strings.Join(names, ", "))
}

// TestGemmPublic: the function and the workspace method run the chosen set
// and agree with the reference.
func TestGemmPublic(t *testing.T) {
	const m, n, k = 7, 9, 300
	rng := rand.New(rand.NewPCG(1, 2))
	a := randMatrix[float32](rng, m, k, k)
	b := randMatrix[float32](rng, k, n, n)
	c := randMatrix[float32](rng, m, n, n)
	want := append([]float32(nil), c...)
	gemmReference(false, false, m, n, k, 0.5, a, k, b, n, 2, want, n)
	if err := Gemm(false, false, m, n, k, 0.5, a, k, b, n, 2, c, n); err != nil {
		t.Fatal(err)
	}
	for i := range c {
		if !sameBits(c[i], want[i]) {
			t.Fatalf("Gemm: c[%d] = %v, reference %v", i, c[i], want[i])
		}
	}
}

// TestGemmAccuracy compares with a float64 product of the same inputs:
// |C − exact| ≤ (k+2)·u·(|alpha|·|A|·|B| + |beta·C|) elementwise, u the
// unit roundoff of T.
func TestGemmAccuracy(t *testing.T) {
	testAccuracy[float32](t, 0x1p-24)
	testAccuracy[float64](t, 0x1p-53)
}

func testAccuracy[T float32 | float64](t *testing.T, u float64) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, sh := range [][3]int{{1, 1, 1}, {20, 30, 40}, {33, 17, 600}} {
		m, n, k := sh[0], sh[1], sh[2]
		a := randMatrix[T](rng, k, m, m) // transA
		b := randMatrix[T](rng, k, n, n)
		c := randMatrix[T](rng, m, n, n)
		alpha, beta := T(-1.5), T(0.75)
		c0 := append([]T(nil), c...)
		if err := Gemm(true, false, m, n, k, alpha, a, m, b, n, beta, c, n); err != nil {
			t.Fatal(err)
		}
		for i := range m {
			for j := range n {
				var s, sa float64
				for p := range k {
					x := float64(a[p*m+i]) * float64(b[p*n+j])
					s += x
					sa += math.Abs(x)
				}
				exact := float64(alpha)*s + float64(beta)*float64(c0[i*n+j])
				bound := float64(k+2) * u * (math.Abs(float64(alpha))*sa + math.Abs(float64(beta)*float64(c0[i*n+j])))
				if e := math.Abs(float64(c[i*n+j]) - exact); e > bound {
					t.Fatalf("%T m=%d n=%d k=%d: C[%d][%d] off by %g > %g", c[0], m, n, k, i, j, e, bound)
				}
			}
		}
	}
}

// TestGemmErrors: every bad argument gives a *GemmError naming it, and C
// is left as it was.
func TestGemmErrors(t *testing.T) {
	a := make([]float64, 12)
	b := make([]float64, 12)
	c := make([]float64, 12)
	for i := range c {
		c[i] = float64(i)
	}
	type args struct {
		tA, tB        bool
		m, n, k       int
		a             []float64
		lda           int
		b             []float64
		ldb           int
		c             []float64
		ldc, workers  int
		arg, inReason string
	}
	for _, tc := range []args{
		{m: -1, n: 2, k: 2, a: a, lda: 2, b: b, ldb: 2, c: c, ldc: 2, arg: "m", inReason: "negative"},
		{m: 2, n: -3, k: 2, a: a, lda: 2, b: b, ldb: 2, c: c, ldc: 2, arg: "n", inReason: "negative"},
		{m: 2, n: 2, k: -1, a: a, lda: 2, b: b, ldb: 2, c: c, ldc: 2, arg: "k", inReason: "negative"},
		{m: 2, n: 2, k: 3, a: a, lda: 2, b: b, ldb: 2, c: c, ldc: 2, arg: "lda", inReason: "row length of A (m×k = 2×3)"},
		{tA: true, m: 3, n: 2, k: 2, a: a, lda: 2, b: b, ldb: 2, c: c, ldc: 2, arg: "lda", inReason: "A (k×m, transA = 2×3)"},
		{m: 2, n: 3, k: 2, a: a, lda: 2, b: b, ldb: 2, c: c, ldc: 3, arg: "ldb", inReason: "row length of B"},
		{tB: true, m: 2, n: 2, k: 3, a: a, lda: 3, b: b, ldb: 2, c: c, ldc: 2, arg: "ldb", inReason: "transB"},
		{m: 2, n: 3, k: 2, a: a, lda: 2, b: b, ldb: 3, c: c, ldc: 2, arg: "ldc", inReason: "C (m×n = 2×3)"},
		{m: 0, n: 0, k: 0, a: nil, lda: 0, b: nil, ldb: 1, c: nil, ldc: 1, arg: "lda", inReason: "max(1, 0)"},
		{m: 5, n: 2, k: 3, a: a, lda: 3, b: b, ldb: 2, c: c, ldc: 2, arg: "a", inReason: "needs 15 elements"},
		{m: 2, n: 2, k: 7, a: a, lda: 7, b: b, ldb: 2, c: c, ldc: 2, arg: "a", inReason: "needs 14"},
		{m: 2, n: 2, k: 2, a: a, lda: 2, b: b[:3], ldb: 2, c: c, ldc: 2, arg: "b", inReason: "needs 4"},
		{m: 4, n: 3, k: 2, a: a, lda: 2, b: b, ldb: 3, c: c, ldc: 4, arg: "c", inReason: "needs 15"},
		{m: 3, n: 2, k: 2, a: a, lda: math.MaxInt / 2, b: b, ldb: 2, c: c, ldc: 2, arg: "a", inReason: "overflows"},
		{m: 2, n: 2, k: 2, a: c[2:], lda: 2, b: b, ldb: 2, c: c, ldc: 2, arg: "c", inReason: "shares memory with a"},
		{m: 2, n: 2, k: 2, a: a, lda: 2, b: c[3:], ldb: 2, c: c, ldc: 2, arg: "c", inReason: "shares memory with b"},
		{m: 2, n: 2, k: 2, a: a, lda: 2, b: b, ldb: 2, c: c, ldc: 2, workers: -1, arg: "Workers", inReason: "negative"},
	} {
		before := append([]float64(nil), c...)
		w := GemmWorkspace[float64]{Workers: tc.workers}
		err := w.Gemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, 1, tc.a, tc.lda, tc.b, tc.ldb, 0, tc.c, tc.ldc)
		var ge *GemmError
		if !errors.As(err, &ge) || ge.Arg != tc.arg || !strings.Contains(err.Error(), tc.inReason) {
			t.Errorf("%+v: got %v, want a *GemmError for %s mentioning %q", tc, err, tc.arg, tc.inReason)
			continue
		}
		for i := range c {
			if c[i] != before[i] {
				t.Fatalf("%+v: C changed before the error", tc)
			}
		}
	}
	// Empty products and alpha = 0 accept short or absent operands where
	// nothing of them is read, and C's gaps are not required.
	if err := Gemm[float64](false, false, 0, 5, 3, 1, nil, 3, make([]float64, 15), 5, 0, nil, 5); err != nil {
		t.Errorf("m = 0: %v", err)
	}
	if err := Gemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 2, c[:4], 2); err != nil || c[3] != 6 {
		t.Errorf("k = 0: %v, c[3] = %v (want 6)", err, c[3])
	}
}

// TestGemmBetaZeroClearsNaN: with beta = 0, NaN and Inf in C are
// overwritten (BLAS's rule), and with alpha = 0 NaN in A and B is not read.
func TestGemmBetaZeroClearsNaN(t *testing.T) {
	nan := math.NaN()
	a := []float64{1, 2, 3, 4}
	b := []float64{1, 0, 0, 1}
	c := []float64{nan, math.Inf(1), nan, nan}
	if err := Gemm(false, false, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2); err != nil {
		t.Fatal(err)
	}
	if c[0] != 1 || c[1] != 2 || c[2] != 3 || c[3] != 4 {
		t.Errorf("beta = 0: C = %v, want [1 2 3 4]", c)
	}
	a[0] = nan
	if err := Gemm(false, false, 2, 2, 2, 0, a, 2, b, 2, 2, c, 2); err != nil {
		t.Fatal(err)
	}
	if c[0] != 2 || c[3] != 8 {
		t.Errorf("alpha = 0: C = %v, want [2 4 6 8]", c)
	}
}

// TestGemmNoAllocs: once warm, Gemm and a one-worker GemmWorkspace do not
// allocate.
func TestGemmNoAllocs(t *testing.T) {
	const n = 40
	a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	var w GemmWorkspace[float32]
	if allocs := testing.AllocsPerRun(10, func() {
		if err := w.Gemm(false, true, n, n, n, 1, a, n, b, n, 0, c, n); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("GemmWorkspace.Gemm allocates %v times per call", allocs)
	}
	if raceEnabled {
		return // the race detector empties sync.Pool at random
	}
	if allocs := testing.AllocsPerRun(10, func() {
		if err := Gemm(false, true, n, n, n, 1, a, n, b, n, 0, c, n); err != nil {
			t.Fatal(err)
		}
	}); allocs > 0.5 { // the pool may be emptied by a garbage collection
		t.Errorf("Gemm allocates %v times per call", allocs)
	}
}

// TestFMA32: fma32 rounds once, also where float64 arithmetic would round
// twice, and agrees with an exact computation.
func TestFMA32(t *testing.T) {
	// x·y = 1 + 4688·2⁻⁴⁶; with z = 2²⁴ the exact sum lies just above the
	// tie 2²⁴ + 1 between two float32s, but rounding it to float64 first
	// lands on the tie, which then goes to even, below.
	x := float32(1 + 2896*0x1p-23)
	y := float32(1 - 2895*0x1p-23)
	z := float32(0x1p24)
	for _, sign := range []float32{1, -1} {
		got, want := fma32(sign*x, y, sign*z), sign*float32(0x1p24+2)
		if double := float32(float64(sign*x)*float64(y) + float64(sign*z)); got != want || double == want {
			t.Errorf("fma32 = %v, want %v (double rounding gives %v)", got, want, double)
		}
	}
	rng := rand.New(rand.NewPCG(3, 3))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for i := range n {
		x := math.Float32frombits(rng.Uint32())
		y := math.Float32frombits(rng.Uint32())
		z := math.Float32frombits(rng.Uint32())
		if i%2 == 0 { // comparable magnitudes, where the sum is not one term
			x = float32(1 + rng.Float64())
			y = float32(rng.Float64() - 0.5)
			z = float32(rng.NormFloat64())
		}
		got := fma32(x, y, z)
		if math.IsNaN(float64(x)) || math.IsNaN(float64(y)) || math.IsNaN(float64(z)) ||
			math.IsInf(float64(x), 0) || math.IsInf(float64(y), 0) || math.IsInf(float64(z), 0) {
			continue
		}
		exact := new(big.Float).SetPrec(2000).SetFloat64(float64(x))
		exact.Mul(exact, new(big.Float).SetFloat64(float64(y)))
		exact.Add(exact, new(big.Float).SetFloat64(float64(z)))
		want, _ := exact.Float32()
		if exact.Sign() == 0 { // the sign of an exact zero follows IEEE's sum rule
			want = float32(float64(x)*float64(y) + float64(z))
		}
		if !sameBits(got, want) {
			t.Fatalf("fma32(%v, %v, %v) = %v, want %v", x, y, z, got, want)
		}
	}
}

// TestGemmWorkersSplit: the sweep's parallel cases do use several
// goroutines (each keeps its own buffers).
func TestGemmWorkersSplit(t *testing.T) {
	for _, sh := range [][3]int{{70, 90, 20}, {150, 40, 300}} {
		m, n, k := sh[0], sh[1], sh[2]
		w := GemmWorkspace[float64]{Workers: 3}
		a, b, c := make([]float64, m*k), make([]float64, k*n), make([]float64, m*n)
		if err := w.Gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n); err != nil {
			t.Fatal(err)
		}
		if len(w.bufs) != 3 {
			t.Errorf("m=%d n=%d k=%d: %d workers ran, want 3", m, n, k, len(w.bufs))
		}
	}
}

// TestGemmPackRows: a set's own packing of A gives packRows's panels, for
// partial panels, widths of k around its 16-column blocks and odd strides.
func TestGemmPackRows(t *testing.T) {
	testGemmPackRows[float32](t)
	testGemmPackRows[float64](t)
}

func testGemmPackRows[T float32 | float64](t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, s := range gemmSets[T]() {
		if s.set.packRows == nil {
			continue
		}
		w := s.set.mr
		for _, rows := range []int{1, w - 1, w, w + 1, 3*w + 5} {
			for _, k := range []int{1, 15, 16, 17, 48, 255, GemmKC} {
				ld := k + rng.IntN(9)
				src := make([]T, (rows-1)*ld+k)
				for i := range src {
					src[i] = T(rng.NormFloat64())
				}
				want := make([]T, roundUp(rows, w)*k)
				got := make([]T, len(want))
				for i := range got {
					got[i] = T(math.NaN()) // every element must be written
				}
				packRows(want, src, ld, rows, k, w)
				s.set.packRows(got, src, ld, rows, k, w)
				for i := range want {
					if !sameBits(got[i], want[i]) {
						t.Fatalf("%s: rows=%d k=%d ld=%d: element %d = %v, want %v", s.name, rows, k, ld, i, got[i], want[i])
					}
				}
			}
		}
	}
}
