package linalg

import (
	"fmt"
	"math"
)

// CholeskyFloat32 is Cholesky for float32 matrices. It factors in float64
// (the lower triangle is widened, factored by Cholesky and rounded back), so
// it runs on the same kernels and its L is the float64 factor rounded once.
// On error a is untouched.
func CholeskyFloat32(a []float32, n int) error {
	if err := checkSize(a, n, "a"); err != nil {
		return err
	}
	w := widenLower(a, n)
	if err := Cholesky(w, n); err != nil {
		return err
	}
	for i := range n {
		for j := 0; j <= i; j++ {
			a[i*n+j] = float32(w[i*n+j])
		}
	}
	return nil
}

// NewtonStepFloat32 is NewtonStep for float32 inputs, solved in float64.
// It allocates its float64 copies on every call; h is not modified; on
// error dst is untouched.
func NewtonStepFloat32(dst, h, g []float32, n int) (tau float32, err error) {
	if err := checkSize(h, n, "h"); err != nil {
		return 0, err
	}
	if len(g) < n || len(dst) < n {
		return 0, fmt.Errorf("linalg: NewtonStepFloat32: g has %d and dst %d elements, fewer than n = %d", len(g), len(dst), n)
	}
	h64 := widenLower(h, n)
	g64 := make([]float64, n)
	for i := range g64 {
		g64[i] = float64(g[i])
	}
	d := make([]float64, n)
	t, err := NewtonStep(d, h64, g64, n)
	if err != nil {
		return 0, err
	}
	for i, v := range d {
		if f := float32(v); math.IsInf(float64(f), 0) {
			return 0, fmt.Errorf("linalg: NewtonStepFloat32: step element %d (%g) overflows float32", i, v)
		}
	}
	if t32 := float32(t); math.IsInf(float64(t32), 0) {
		return 0, fmt.Errorf("linalg: NewtonStepFloat32: τ = %g overflows float32", t)
	}
	for i, v := range d {
		dst[i] = float32(v)
	}
	return float32(t), nil
}

// widenLower returns the lower triangle of the n×n float32 matrix a as a
// float64 matrix (upper triangle zero).
func widenLower(a []float32, n int) []float64 {
	w := make([]float64, n*n)
	for i := range n {
		for j := 0; j <= i; j++ {
			w[i*n+j] = float64(a[i*n+j])
		}
	}
	return w
}
