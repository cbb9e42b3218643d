package linalg

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

var benchSizes = []int{10, 32, 100, 250, 500, 1000, 2000}

// benchMatrix returns a random symmetric, strictly diagonally dominant (so
// positive definite) matrix.
func benchMatrix(n int) []float64 {
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

// measure runs body b.N times and reports GF/s of n³/3 flops per call over
// wall time and over the process's CPU time.
func measure(b *testing.B, n int, body func()) {
	cpu0 := processCPU()
	for b.Loop() {
		body()
	}
	cpu := processCPU() - cpu0
	flops := float64(n) * float64(n) * float64(n) / 3 * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GF/s")
	if cpu > 0 {
		b.ReportMetric(flops/cpu/1e9, "cpuGF/s")
	}
}

// BenchmarkCholesky factors the matrices with this package (kernel chosen
// by dispatch); GF/s counts n³/3 flops. bench/gonum times gonum's Potrf
// beside linalg.Cholesky in one run, outside this module.
func BenchmarkCholesky(b *testing.B) {
	for _, n := range benchSizes {
		a := benchMatrix(n)
		work := make([]float64, n*n)
		b.Run(fmt.Sprintf("impl=%s/n=%d", Kernel(), n), func(b *testing.B) {
			var w workspace
			measure(b, n, func() {
				copy(work, a)
				if err := w.cholesky(work, n); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkGemmKernel measures the micro-kernel alone at depth kc, in GF/s
// of 2·mr·nr·kc flops per call.
func BenchmarkGemmKernel(b *testing.B) {
	kerns := append(archKernels(), genericKernels)
	a := make([]float64, kc*mr)
	bb := make([]float64, kc*nr)
	c := make([]float64, mr*nr)
	for _, k := range kerns {
		b.Run(k.name, func(b *testing.B) {
			cpu0 := processCPU()
			for b.Loop() {
				k.fn(kc, a, bb, c, nr)
			}
			flops := 2 * mr * nr * kc * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GF/s")
			if cpu := processCPU() - cpu0; cpu > 0 {
				b.ReportMetric(flops/cpu/1e9, "cpuGF/s")
			}
		})
	}
}

// BenchmarkNewtonStep solves (H + τI)d = −g with the damped solver: a
// positive definite H (one factorization) and an indefinite one (τ > 0 found
// after failed attempts; the count is reported).
func BenchmarkNewtonStep(b *testing.B) {
	for _, n := range []int{100, 500} {
		pd := benchMatrix(n)
		indef := benchMatrix(n)
		for i := range n {
			indef[i*n+i] = float64(i) - float64(n)/10 // some negative curvature
		}
		g := make([]float64, n)
		for i := range g {
			g[i] = 1
		}
		for _, tc := range []struct {
			name string
			h    []float64
		}{{"pd", pd}, {"indefinite", indef}} {
			b.Run(fmt.Sprintf("H=%s/n=%d", tc.name, n), func(b *testing.B) {
				var s Damped
				work := make([]float64, n*n)
				d := make([]float64, n)
				measure(b, n, func() {
					copy(work, tc.h)
					if _, err := s.Solve(d, work, g, n); err != nil {
						b.Fatal(err)
					}
				})
				b.ReportMetric(float64(s.Factorizations()), "factorizations")
			})
		}
	}
}
