package openblas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/simdoptim/optim/linalg"
)

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

func TestSameFactor(t *testing.T) {
	for _, n := range []int{1, 7, 100, 333} {
		a := spd(n)
		x, y := append([]float64(nil), a...), append([]float64(nil), a...)
		if !Potrf(x, n) {
			t.Fatal("OpenBLAS: not positive definite")
		}
		if err := linalg.Cholesky(y, n); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			for j := 0; j <= i; j++ {
				if d := math.Abs(x[i*n+j] - y[i*n+j]); d > 1e-12*math.Abs(x[i*n+i]) {
					t.Fatalf("n=%d: L[%d][%d] %v vs %v", n, i, j, x[i*n+j], y[i*n+j])
				}
			}
		}
	}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// BenchmarkCholesky reports GF/s (n³/3 flops) over wall and CPU time.
func BenchmarkCholesky(b *testing.B) {
	for _, n := range []int{100, 250, 500, 1000, 2000} {
		a := spd(n)
		work := make([]float64, n*n)
		for _, impl := range []struct {
			name string
			f    func() bool
		}{
			{"impl=linalg-" + linalg.Kernel(), func() bool { return linalg.Cholesky(work, n) == nil }},
			{"impl=openblas", func() bool { return Potrf(work, n) }},
		} {
			b.Run(fmt.Sprintf("%s/n=%d", impl.name, n), func(b *testing.B) {
				c0 := cpuSeconds()
				for b.Loop() {
					copy(work, a)
					if !impl.f() {
						b.Fatal("not positive definite")
					}
				}
				flops := float64(n) * float64(n) * float64(n) / 3 * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GF/s")
				if c := cpuSeconds() - c0; c > 0 {
					b.ReportMetric(flops/c/1e9, "cpuGF/s")
				}
			})
		}
	}
}

func randSquare[T float32 | float64](n int, seed uint64) []T {
	rng := rand.New(rand.NewPCG(uint64(n), seed))
	x := make([]T, n*n)
	for i := range x {
		x[i] = T(rng.NormFloat64())
	}
	return x
}

// TestSameProduct: linalg.Gemm and OpenBLAS agree to rounding.
func TestSameProduct(t *testing.T) {
	t.Logf("OpenBLAS core: %s", Corename())
	for _, n := range []int{1, 7, 100, 300} {
		a, b := randSquare[float64](n, 1), randSquare[float64](n, 2)
		x, y := make([]float64, n*n), make([]float64, n*n)
		Gemm(n, 1, a, b, 0, x)
		if err := linalg.Gemm(false, false, n, n, n, 1, a, n, b, n, 0, y, n); err != nil {
			t.Fatal(err)
		}
		for i := range x {
			if d := math.Abs(x[i] - y[i]); d > 1e-12*float64(n) {
				t.Fatalf("n=%d: C[%d] %v vs %v", n, i, x[i], y[i])
			}
		}
	}
}

// BenchmarkGemm times C = A·B (n×n, beta = 0) with linalg.Gemm on one
// goroutine and with OpenBLAS's sgemm/dgemm on one thread; GF/s counts
// 2n³ flops over wall time.
func BenchmarkGemm(b *testing.B) {
	b.Logf("OpenBLAS core: %s", Corename())
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
		{"linalg-" + linalg.Kernel(), func() {
			if err := w.Gemm(false, false, n, n, n, 1, x, n, y, n, 0, c, n); err != nil {
				b.Fatal(err)
			}
		}},
		{"openblas", func() { Gemm(n, 1, x, y, 0, c) }},
	} {
		b.Run(fmt.Sprintf("%T/impl=%s/n=%d", c[0], impl.name, n), func(b *testing.B) {
			c0 := cpuSeconds()
			for b.Loop() {
				impl.f()
			}
			flops := 2 * float64(n) * float64(n) * float64(n) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GF/s")
			if c := cpuSeconds() - c0; c > 0 {
				b.ReportMetric(flops/c/1e9, "cpuGF/s")
			}
		})
	}
}
