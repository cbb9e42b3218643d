package linalg

import (
	"math"
	"math/rand/v2"
	"testing"
)

// randomOrthogonal returns a random n×n orthogonal matrix (row-major) as a
// product of n Householder reflections of random directions.
func randomOrthogonal(rng *rand.Rand, n int) []float64 {
	q := make([]float64, n*n)
	for i := range n {
		q[i*n+i] = 1
	}
	v := make([]float64, n)
	w := make([]float64, n)
	for range min(n, 8) { // a few reflections mix every row and column
		norm := 0.0
		for i := range v {
			v[i] = rng.NormFloat64()
			norm += v[i] * v[i]
		}
		if norm == 0 {
			continue
		}
		// Q = Q·(I − 2vvᵀ/vᵀv)
		for i := range n {
			s := 0.0
			for j := range n {
				s += q[i*n+j] * v[j]
			}
			w[i] = 2 * s / norm
		}
		for i := range n {
			for j := range n {
				q[i*n+j] -= w[i] * v[j]
			}
		}
	}
	return q
}

// randomSPD returns Q·diag(λ)·Qᵀ with eigenvalues spread log-uniformly over
// [1/cond, 1], so its condition number is cond.
func randomSPD(rng *rand.Rand, n int, cond float64) []float64 {
	lambda := make([]float64, n)
	for i := range lambda {
		t := 0.0
		if n > 1 {
			t = float64(i) / float64(n-1)
		}
		lambda[i] = math.Pow(cond, -t)
	}
	rng.Shuffle(n, func(i, j int) { lambda[i], lambda[j] = lambda[j], lambda[i] })
	return fromEigen(rng, n, lambda)
}

func fromEigen(rng *rand.Rand, n int, lambda []float64) []float64 {
	q := randomOrthogonal(rng, n)
	a := make([]float64, n*n)
	qd := make([]float64, n)
	for i := range n {
		for k := range n {
			qd[k] = q[i*n+k] * lambda[k]
		}
		for j := 0; j <= i; j++ {
			s := 0.0
			for k := range n {
				s += qd[k] * q[j*n+k]
			}
			a[i*n+j] = s
			a[j*n+i] = s
		}
	}
	return a
}

// naiveCholesky is the textbook column-by-column factorization, for
// reference.
func naiveCholesky(a []float64, n int) bool {
	for j := range n {
		d := a[j*n+j]
		for k := range j {
			d -= a[j*n+k] * a[j*n+k]
		}
		if !(d > 0) {
			return false
		}
		d = math.Sqrt(d)
		a[j*n+j] = d
		for i := j + 1; i < n; i++ {
			s := a[i*n+j]
			for k := range j {
				s -= a[i*n+k] * a[j*n+k]
			}
			a[i*n+j] = s / d
		}
	}
	return true
}

// backwardError returns max |A − L·Lᵀ|_ij / sqrt(a_ii·a_jj) over the lower
// triangle, the quantity Cholesky's backward error analysis bounds by
// about (n+1)·ε.
func backwardError(a, l []float64, n int) float64 {
	worst := 0.0
	for i := range n {
		for j := 0; j <= i; j++ {
			s := 0.0
			for k := 0; k <= j; k++ {
				s += l[i*n+k] * l[j*n+k]
			}
			e := math.Abs(a[i*n+j]-s) / (math.Sqrt(a[i*n+i]) * math.Sqrt(a[j*n+j]))
			worst = max(worst, e)
		}
	}
	return worst
}

// lowerDiff returns ‖L1 − L2‖_F / ‖L2‖_F over the lower triangles.
func lowerDiff(l1, l2 []float64, n int) float64 {
	num, den := 0.0, 0.0
	for i := range n {
		for j := 0; j <= i; j++ {
			d := l1[i*n+j] - l2[i*n+j]
			num += d * d
			den += l2[i*n+j] * l2[i*n+j]
		}
	}
	return math.Sqrt(num / den)
}

func withKernel(t testing.TB, k namedKernel) {
	oldK, oldL, oldP, old2 := kernel, leafKernel, potrfPanel, kernel2
	kernel, leafKernel, potrfPanel, kernel2 = k.fn, k.leaf, k.base, k.fn2
	t.Cleanup(func() { kernel, leafKernel, potrfPanel, kernel2 = oldK, oldL, oldP, old2 })
}
