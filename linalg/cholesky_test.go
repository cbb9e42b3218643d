package linalg

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

const eps = 0x1p-52

// TestMicroKernels runs every assembly micro-kernel this CPU supports
// against the portable one on random packed panels: the bits must agree.
func TestMicroKernels(t *testing.T) {
	ks := archKernels()
	if len(ks) == 0 {
		t.Skip("no assembly micro-kernel on this CPU/build")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, k := range ks {
		for _, depth := range []int{1, 2, 3, 7, 8, 31, 64, 255, 256} {
			for _, ldc := range []int{nr, nr + 1, 37} {
				a := make([]float64, depth*mr)
				b := make([]float64, depth*nr)
				for i := range a {
					a[i] = rng.NormFloat64()
				}
				for i := range b {
					b[i] = rng.NormFloat64() * math.Ldexp(1, rng.IntN(20)-10)
				}
				c := make([]float64, (mr-1)*ldc+nr)
				for i := range c {
					c[i] = rng.NormFloat64()
				}
				want := append([]float64(nil), c...)
				got := append([]float64(nil), c...)
				kernelGeneric(depth, a, b, want, ldc)
				k.fn(depth, a, b, got, ldc)
				for i := range got {
					if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
						t.Fatalf("%s k=%d ldc=%d: c[%d] = %v, generic %v", k.name, depth, ldc, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestDoubleKernels runs every double-width micro-kernel against two calls
// of the portable one: the bits must agree.
func TestDoubleKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	tested := 0
	for _, k := range archKernels() {
		if k.fn2 == nil {
			continue
		}
		tested++
		for _, depth := range []int{1, 2, 5, 64, 256} {
			for _, ldc := range []int{2 * nr, 2*nr + 3} {
				a := make([]float64, depth*mr)
				b0 := make([]float64, depth*nr)
				b1 := make([]float64, depth*nr)
				for _, s := range [][]float64{a, b0, b1} {
					for i := range s {
						s[i] = rng.NormFloat64()
					}
				}
				c := make([]float64, (mr-1)*ldc+2*nr)
				for i := range c {
					c[i] = rng.NormFloat64()
				}
				want := append([]float64(nil), c...)
				got := append([]float64(nil), c...)
				kernelGeneric(depth, a, b0, want, ldc)
				kernelGeneric(depth, a, b1, want[nr:], ldc)
				k.fn2(depth, a, b0, b1, got, ldc)
				for i := range got {
					if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
						t.Fatalf("%s k=%d ldc=%d: c[%d] = %v, generic %v", k.name, depth, ldc, i, got[i], want[i])
					}
				}
			}
		}
	}
	if tested == 0 {
		t.Skip("no double-width kernel on this CPU/build")
	}
}

// TestLeafKernels runs every assembly triangular-solve leaf against the
// portable one: the bits must agree.
func TestLeafKernels(t *testing.T) {
	ks := archKernels()
	if len(ks) == 0 {
		t.Skip("no assembly kernel on this CPU/build")
	}
	rng := rand.New(rand.NewPCG(21, 22))
	for _, k := range ks {
		for _, n := range []int{1, 2, 3, 8, 17, 31, 32} {
			for _, ldl := range []int{n, n + 3} {
				l := make([]float64, (n-1)*ldl+n)
				inv := make([]float64, n)
				for j := range n {
					for i := range j {
						l[j*ldl+i] = rng.NormFloat64()
					}
					l[j*ldl+j] = 0.5 + rng.Float64()
					inv[j] = 1 / l[j*ldl+j]
				}
				x := make([]float64, n*lanes)
				for i := range x {
					x[i] = rng.NormFloat64()
				}
				want := append([]float64(nil), x...)
				trsmGeneric(n, l, ldl, inv, want)
				k.leaf(n, l, ldl, inv, x)
				for i := range x {
					if math.Float64bits(x[i]) != math.Float64bits(want[i]) {
						t.Fatalf("%s n=%d ldl=%d: x[%d] = %v, generic %v", k.name, n, ldl, i, x[i], want[i])
					}
				}
			}
		}
	}
}

// TestPanelKernels runs every assembly panel factorization against the
// portable one, on positive definite and failing matrices: same bits in
// the lower triangle, same failing index.
func TestPanelKernels(t *testing.T) {
	ks := archKernels()
	if len(ks) == 0 {
		t.Skip("no assembly kernel on this CPU/build")
	}
	rng := rand.New(rand.NewPCG(23, 24))
	for _, k := range ks {
		for _, n := range []int{1, 2, 3, 4, 5, 16, 31, 32, 33, 70, 128} {
			for _, bad := range []float64{1, -1, math.NaN()} {
				a := randomSPD(rng, n, 1e4)
				if bad != 1 {
					a[(n-1)*n+n-1] = bad
				}
				for _, ld := range []int{roundUp(n, 8), roundUp(n, 8) + 8} {
					x := make([]float64, n*ld)
					for i := range n {
						for j := 0; j <= i; j++ {
							x[j*ld+i] = a[i*n+j]
						}
					}
					want := append([]float64(nil), x...)
					wantFail := potrfGeneric(n, want, ld)
					if gotFail := k.base(n, x, ld); gotFail != wantFail {
						t.Fatalf("%s n=%d: fails at %d, generic at %d", k.name, n, gotFail, wantFail)
					}
					for j := range n {
						for i := j; i < n; i++ {
							g, w := x[j*ld+i], want[j*ld+i]
							if math.Float64bits(g) != math.Float64bits(w) && !(math.IsNaN(g) && math.IsNaN(w)) {
								t.Fatalf("%s n=%d ld=%d: L[%d][%d] = %v, generic %v", k.name, n, ld, i, j, g, w)
							}
						}
					}
				}
			}
		}
	}
}

func testSizes() []int {
	var ns []int
	for n := 1; n <= 300; n++ {
		if n <= 80 || n%7 == 0 || n%64 <= 1 {
			ns = append(ns, n)
		}
	}
	return ns
}

// TestCholeskyAgainstNaive factors random SPD matrices of condition numbers
// up to 1e12 and compares with a naive factorization (bench/gonum compares
// with gonum's Potrf, outside this module).
func TestCholeskyAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	conds := []float64{1, 1e3, 1e8, 1e12}
	for _, n := range testSizes() {
		cond := conds[n%len(conds)]
		a := randomSPD(rng, n, cond)
		got := append([]float64(nil), a...)
		// Poison the strict upper triangle: it must be neither read nor written.
		for i := range n {
			for j := i + 1; j < n; j++ {
				got[i*n+j] = math.NaN()
			}
		}
		if err := Cholesky(got, n); err != nil {
			t.Fatalf("n=%d cond=%g: %v", n, cond, err)
		}
		for i := range n {
			for j := i + 1; j < n; j++ {
				if !math.IsNaN(got[i*n+j]) {
					t.Fatalf("n=%d: upper element (%d,%d) written", n, i, j)
				}
			}
		}
		if be := backwardError(a, got, n); be > 2*float64(n+1)*eps {
			t.Errorf("n=%d cond=%g: backward error %.3g > %.3g", n, cond, be, 2*float64(n+1)*eps)
		}
		ref := append([]float64(nil), a...)
		if !naiveCholesky(ref, n) {
			t.Fatalf("n=%d: naive factorization failed", n)
		}
		tol := min(1, 10*float64(n)*eps*cond)
		if d := lowerDiff(got, ref, n); d > tol {
			t.Errorf("n=%d cond=%g: differs from naive by %.3g > %.3g", n, cond, d, tol)
		}
	}
}

// TestKernelsGiveSameFactor factors with each micro-kernel: since they all
// compute the same FMA chains, the factors must be identical bit for bit.
func TestKernelsGiveSameFactor(t *testing.T) {
	ks := archKernels()
	if len(ks) == 0 {
		t.Skip("no assembly micro-kernel on this CPU/build")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{33, 100, 257, 300, 531} {
		a := randomSPD(rng, n, 1e6)
		want := append([]float64(nil), a...)
		withKernel(t, genericKernels)
		if err := Cholesky(want, n); err != nil {
			t.Fatal(err)
		}
		// 531 splits its first solve across two kc-wide slabs of the
		// packed L21 (see packedX), which TestCholeskyAgainstGonum's
		// sizes do not reach: check that this factor is right, too.
		if n == 531 {
			if be := backwardError(a, want, n); be > 2*float64(n+1)*eps {
				t.Errorf("n=%d: backward error %.3g > %.3g", n, be, 2*float64(n+1)*eps)
			}
		}
		for _, k := range ks {
			kernel, leafKernel, potrfPanel, kernel2 = k.fn, k.leaf, k.base, k.fn2
			got := append([]float64(nil), a...)
			if err := Cholesky(got, n); err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
					t.Fatalf("%s n=%d: element %d is %v, generic %v", k.name, n, i, got[i], want[i])
				}
			}
		}
	}
}

func TestCholeskyNotPositiveDefinite(t *testing.T) {
	for _, tc := range []struct {
		n, at int
		value float64
	}{{1, 0, -1}, {4, 2, -3}, {40, 33, 0}, {100, 70, -1}, {300, 299, -0.5}, {300, 5, -2}} {
		a := make([]float64, tc.n*tc.n)
		for i := range tc.n {
			a[i*tc.n+i] = 1 + float64(i)
		}
		a[tc.at*tc.n+tc.at] = tc.value
		err := Cholesky(a, tc.n)
		var npd *NotPositiveDefiniteError
		if !errors.As(err, &npd) {
			t.Fatalf("n=%d: error %v, want *NotPositiveDefiniteError", tc.n, err)
		}
		if npd.Index != tc.at || npd.Pivot != tc.value {
			t.Errorf("n=%d: pivot %d = %v, want %d = %v", tc.n, npd.Index, npd.Pivot, tc.at, tc.value)
		}
		if msg := err.Error(); !contains(msg, "pivot") || !contains(msg, itoa(tc.at)) {
			t.Errorf("message %q does not name the pivot", msg)
		}
	}
	// An indefinite matrix fails at a negative pivot.
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{5, 64, 200} {
		lambda := make([]float64, n)
		for i := range lambda {
			lambda[i] = 1 + float64(i)
		}
		lambda[n/2] = -0.25
		a := fromEigen(rng, n, lambda)
		var npd *NotPositiveDefiniteError
		if err := Cholesky(a, n); !errors.As(err, &npd) {
			t.Fatalf("n=%d: %v", n, err)
		}
		if npd.Pivot > 0 {
			t.Errorf("n=%d: pivot %v > 0", n, npd.Pivot)
		}
	}
}

// TestCholeskyTwoByTwo: the factor of a small matrix, exactly, with the
// strict upper triangle kept; and the message of an indefinite one.
func TestCholeskyTwoByTwo(t *testing.T) {
	a := []float64{4, 99, 2, 10} // the upper element is ignored and kept
	if err := Cholesky(a, 2); err != nil {
		t.Fatal(err)
	}
	if a[0] != 2 || a[1] != 99 || a[2] != 1 || a[3] != 3 {
		t.Errorf("L = %v", a)
	}
	b := []float64{1, 0, 0, 0, 1, 0, 0, 0, -2}
	err := Cholesky(b, 3)
	var npd *NotPositiveDefiniteError
	if !errors.As(err, &npd) || npd.Index != 2 || npd.Pivot != -2 {
		t.Fatalf("error %v", err)
	}
	if want := "matrix is not positive definite: pivot 2 is -2"; err.Error() != want {
		t.Errorf("message %q, want %q", err.Error(), want)
	}
}

func TestCholeskyBadInput(t *testing.T) {
	a := []float64{4, 0, 2, 5}
	for _, tc := range []struct {
		a []float64
		n int
	}{{a, 0}, {a, -1}, {a, 3}, {nil, 1}} {
		before := append([]float64(nil), tc.a...)
		if err := Cholesky(tc.a, tc.n); err == nil {
			t.Errorf("Cholesky(%v, %d) succeeded", tc.a, tc.n)
		}
		for i := range before {
			if math.Float64bits(before[i]) != math.Float64bits(tc.a[i]) {
				t.Errorf("Cholesky(%v, %d) wrote to a", before, tc.n)
			}
		}
	}
	// NaN or ±Inf in the lower triangle is a clean error.
	for _, tc := range [][]float64{{math.NaN()}, {1, 0, math.Inf(-1), 1}, {math.Inf(1), 0, 1, 1}, {4, 0, math.NaN(), 4}} {
		n := 1
		if len(tc) == 4 {
			n = 2
		}
		if err := Cholesky(tc, n); !errors.Is(err, ErrNonFinite) {
			t.Errorf("Cholesky(%v): %v, want ErrNonFinite", tc, err)
		}
	}
	// NaN above the diagonal is never read.
	b := []float64{4, math.NaN(), 2, 5}
	if err := Cholesky(b, 2); err != nil || b[0] != 2 || b[2] != 1 || b[3] != 2 {
		t.Errorf("got %v, %v", b, err)
	}
	// Overflow is an error, not a factor full of Inf.
	c := []float64{1e-300, 0, 1e300, 1}
	if err := Cholesky(c, 2); err == nil {
		t.Errorf("overflowing input factored: %v", c)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
