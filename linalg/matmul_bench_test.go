package linalg

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// BenchmarkGemm times C = A·B (square, no transposes, beta = 0) with the
// chosen kernel set on one goroutine and on GOMAXPROCS workers; GF/s counts
// 2n³ flops (over wall time, and over the process's CPU time: on a shared
// machine the second is steadier for one worker). bench/gonum and bench/openblas time the same products beside
// gonum and OpenBLAS.
func BenchmarkGemm(b *testing.B) {
	for _, n := range []int{256, 1024, 2048} {
		benchGemm[float32](b, n)
		benchGemm[float64](b, n)
	}
}

func benchGemm[T float32 | float64](b *testing.B, n int) {
	rng := rand.New(rand.NewPCG(uint64(n), 1))
	x := randMatrix[T](rng, n, n, n)
	y := randMatrix[T](rng, n, n, n)
	c := make([]T, n*n)
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("%T/impl=%s/n=%d/workers=%d", c[0], Kernel(), n, workers), func(b *testing.B) {
			w := GemmWorkspace[T]{Workers: workers}
			cpu0 := processCPU()
			for b.Loop() {
				if err := w.Gemm(false, false, n, n, n, 1, x, n, y, n, 0, c, n); err != nil {
					b.Fatal(err)
				}
			}
			flops := 2 * float64(n) * float64(n) * float64(n) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GF/s")
			if cpu := processCPU() - cpu0; cpu > 0 {
				b.ReportMetric(flops/cpu/1e9, "cpuGF/s")
			}
		})
	}
}

// BenchmarkGemmMicroKernel times each set's micro-kernel alone at depth GemmKC
// on data in L1, the ceiling of BenchmarkGemm.
func BenchmarkGemmMicroKernel(b *testing.B) {
	benchGemmMicroKernel[float32](b)
	benchGemmMicroKernel[float64](b)
}

func benchGemmMicroKernel[T float32 | float64](b *testing.B) {
	for _, s := range gemmSets[T]() {
		set := s.set
		a := make([]T, GemmKC*set.mr)
		bb := make([]T, GemmKC*set.nr)
		c := make([]T, set.mr*set.nr)
		b.Run(fmt.Sprintf("%T/%s", c[0], s.name), func(b *testing.B) {
			cpu0 := processCPU()
			for b.Loop() {
				set.kern(GemmKC, 1, a, bb, c, set.nr, false)
			}
			flops := 2 * float64(set.mr*set.nr*GemmKC) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GF/s")
			if cpu := processCPU() - cpu0; cpu > 0 {
				b.ReportMetric(flops/cpu/1e9, "cpuGF/s")
			}
		})
	}
}
