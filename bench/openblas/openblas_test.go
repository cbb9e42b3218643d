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
