package gonum

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/simdoptim/optim/linalg"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

func randSquare[T float32 | float64](n int, seed uint64) []T {
	rng := rand.New(rand.NewPCG(uint64(n), seed))
	x := make([]T, n*n)
	for i := range x {
		x[i] = T(rng.NormFloat64())
	}
	return x
}

// gonumGemm is C = A·B with gonum's blas32 or blas64 (pure Go, row-major).
func gonumGemm[T float32 | float64](n int, a, b, c []T) {
	switch a := any(a).(type) {
	case []float32:
		g := func(x []T) blas32.General {
			return blas32.General{Rows: n, Cols: n, Stride: n, Data: any(x).([]float32)}
		}
		blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, blas32.General{Rows: n, Cols: n, Stride: n, Data: a}, g(b), 0, g(c))
	case []float64:
		g := func(x []T) blas64.General {
			return blas64.General{Rows: n, Cols: n, Stride: n, Data: any(x).([]float64)}
		}
		blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, blas64.General{Rows: n, Cols: n, Stride: n, Data: a}, g(b), 0, g(c))
	}
}

// TestGemmMatchesGonum: linalg.Gemm and gonum's Gemm agree to rounding.
func TestGemmMatchesGonum(t *testing.T) {
	for _, n := range []int{1, 7, 100, 300} {
		a, b := randSquare[float64](n, 1), randSquare[float64](n, 2)
		x, y := make([]float64, n*n), make([]float64, n*n)
		gonumGemm(n, a, b, x)
		if err := linalg.Gemm(false, false, n, n, n, 1, a, n, b, n, 0, y, n); err != nil {
			t.Fatal(err)
		}
		for i := range x {
			if d := math.Abs(x[i] - y[i]); d > 1e-12*float64(n) {
				t.Fatalf("n=%d: C[%d] = %v, gonum %v", n, i, y[i], x[i])
			}
		}
	}
}

// BenchmarkGemm times C = A·B (n×n, beta = 0) with linalg.Gemm and gonum's
// blas32/blas64 Gemm, on one goroutine (gonum's Gemm splits the work among
// goroutines on its own; -cpu 1 keeps it on one core); GF/s counts 2n³
// flops.
func BenchmarkGemm(b *testing.B) {
	for _, n := range []int{256, 1024, 2048} {
		benchGemm[float32](b, n)
		benchGemm[float64](b, n)
	}
}

func benchGemm[T float32 | float64](b *testing.B, n int) {
	x, y := randSquare[T](n, 1), randSquare[T](n, 2)
	c := make([]T, n*n)
	var w linalg.GemmWorkspace[T]
	for _, impl := range []struct {
		name string
		f    func()
	}{
		{linalg.Kernel(), func() {
			if err := w.Gemm(false, false, n, n, n, 1, x, n, y, n, 0, c, n); err != nil {
				b.Fatal(err)
			}
		}},
		{"gonum", func() { gonumGemm(n, x, y, c) }},
	} {
		b.Run(fmt.Sprintf("%T/impl=%s/n=%d", c[0], impl.name, n), func(b *testing.B) {
			for b.Loop() {
				impl.f()
			}
			b.ReportMetric(2*float64(n)*float64(n)*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GF/s")
		})
	}
}
