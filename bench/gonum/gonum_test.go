package gonum

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/simdoptim/optim/linalg"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// spd returns a random symmetric, strictly diagonally dominant (so
// positive definite) n×n matrix.
func spd(n int) []float64 {
	rng := rand.New(rand.NewPCG(uint64(n), 9))
	a := make([]float64, n*n)
	for i := range n {
		for j := range i {
			v := rng.Float64() - 0.5
			a[i*n+j], a[j*n+i] = v, v
		}
		a[i*n+i] = float64(n)
	}
	return a
}

// potrf is gonum's factorization of the lower triangle, in place.
func potrf(a []float64, n int) bool {
	_, ok := lapack64.Potrf(blas64.Symmetric{N: n, Stride: n, Data: a, Uplo: blas.Lower})
	return ok
}

// TestCholeskyMatchesGonum: linalg.Cholesky and gonum's Potrf give the
// same factor to rounding, across the blocking thresholds.
func TestCholeskyMatchesGonum(t *testing.T) {
	for _, n := range []int{1, 7, 48, 100, 333} {
		a := spd(n)
		ours, theirs := append([]float64(nil), a...), append([]float64(nil), a...)
		if err := linalg.Cholesky(ours, n); err != nil {
			t.Fatal(err)
		}
		if !potrf(theirs, n) {
			t.Fatalf("n=%d: gonum Potrf failed", n)
		}
		for i := range n {
			for j := 0; j <= i; j++ {
				if d := math.Abs(ours[i*n+j] - theirs[i*n+j]); d > 1e-12*math.Abs(theirs[i*n+i]) {
					t.Fatalf("n=%d: L[%d][%d] = %v, gonum %v", n, i, j, ours[i*n+j], theirs[i*n+j])
				}
			}
		}
	}
}

// BenchmarkCholesky factors the same matrices with linalg (its kernel set
// chosen by dispatch) and with gonum's Potrf; GF/s counts n³/3 flops.
func BenchmarkCholesky(b *testing.B) {
	for _, n := range []int{10, 32, 100, 250, 500, 1000, 2000} {
		a := spd(n)
		work := make([]float64, n*n)
		flops := float64(n) * float64(n) * float64(n) / 3
		for _, impl := range []struct {
			name   string
			factor func() bool
		}{
			{linalg.Kernel(), func() bool { return linalg.Cholesky(work, n) == nil }},
			{"gonum", func() bool { return potrf(work, n) }},
		} {
			b.Run(fmt.Sprintf("impl=%s/n=%d", impl.name, n), func(b *testing.B) {
				for b.Loop() {
					copy(work, a)
					if !impl.factor() {
						b.Fatal("not positive definite")
					}
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GF/s")
			})
		}
	}
}
