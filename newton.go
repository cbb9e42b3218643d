package optim

import (
	"fmt"
	"math"

	"github.com/simdoptim/optim/linalg"
)

// NotPositiveDefiniteError reports a Cholesky pivot that is not positive:
// its 0-based Index and its Pivot value (the Schur complement's diagonal
// entry, which should have been L[Index][Index]²).
type NotPositiveDefiniteError = linalg.NotPositiveDefiniteError

// Cholesky factors the symmetric positive definite n×n matrix in a
// (row-major; only the lower triangle is read) in place into L with
// A = L·Lᵀ. The upper triangle is left untouched.
//
// It returns a *NotPositiveDefiniteError if A is not positive definite, and
// an error wrapping ErrNonFinite if a pivot is NaN or ±Inf (NaN or ±Inf in
// the lower triangle, or overflow); a is then partly overwritten. For n ≤ 0
// or a shorter than n·n it returns an error and leaves a untouched. The
// blocked updates run on AVX2+FMA kernels where the CPU has them, else on
// portable Go; both give the same bits (OPTIM_ISA=generic forces Go).
func Cholesky(a []float64, n int) error { return linalg.Cholesky(a, n) }

// ErrNonFinite is wrapped by Cholesky's error for a NaN or ±Inf pivot.
var ErrNonFinite = linalg.ErrNonFinite

// NewtonStep writes dst = −(H + τI)⁻¹ g for the symmetric n×n Hessian H in h
// (row-major; only the lower triangle is read). τ = 0 when H is positive
// definite; otherwise τ is the smallest shift the damping strategy of
// Newton found that makes H + τI positive definite. h is used as scratch.
// NaN or ±Inf in h or g, n ≤ 0 or short slices are errors; on error dst is
// untouched.
func NewtonStep(dst, h, g []float64, n int) (tau float64, err error) {
	var s linalg.Damped
	return s.Solve(dst, h, g, n)
}

// Newton is the damped Newton method x ← x − LR·(H + τI)⁻¹ g. When H is
// not positive definite it is shifted by τI: the first attempt after τ = 0
// fails starts from the previous step's τ (warm start) or from the bound
// that the failing Cholesky pivot puts on the smallest eigenvalue, whichever
// is larger, and grows τ by Grow while factorizations fail. It keeps its
// buffers, so steps after the first allocate nothing. The zero value is
// ready to use; it is not safe for concurrent use.
type Newton struct {
	// LR scales the step (default 1, the full Newton step).
	LR float64
	// Beta is the smallest nonzero shift and the relative margin above a
	// pivot's bound (default 1e-3).
	Beta float64
	// Grow multiplies τ after a failed factorization (default 2).
	Grow float64
	// MaxAttempts caps the factorizations per step (default 60).
	MaxAttempts int

	solver linalg.Damped
	h, d   []float64
}

// Step evaluates the Hessian at params through hessian(params, h), which
// must fill the n×n row-major h (n = len(params); only the lower triangle
// is read), and moves params by −LR·(H + τI)⁻¹ grad. It returns τ. On error
// params is untouched.
func (nt *Newton) Step(params, grad []float64, hessian func(params, h []float64)) (tau float64, err error) {
	n := len(params)
	if n == 0 {
		return 0, fmt.Errorf("optim: Newton.Step: params is empty")
	}
	if len(grad) != n {
		return 0, fmt.Errorf("optim: Newton.Step: grad has %d elements, params %d", len(grad), n)
	}
	if hessian == nil {
		return 0, fmt.Errorf("optim: Newton.Step: hessian is nil")
	}
	if n > math.MaxInt32 {
		return 0, fmt.Errorf("optim: Newton.Step: %d parameters are too many for a dense Hessian", n)
	}
	lr := nt.LR
	if lr == 0 {
		lr = 1
	}
	if math.IsNaN(lr) || math.IsInf(lr, 0) {
		return 0, fmt.Errorf("optim: Newton.Step: LR is %v", lr)
	}
	if cap(nt.h) < n*n {
		nt.h = make([]float64, n*n)
		nt.d = make([]float64, n)
	}
	nt.h, nt.d = nt.h[:n*n], nt.d[:n]
	hessian(params, nt.h)
	nt.solver.Beta, nt.solver.Grow, nt.solver.MaxAttempts = nt.Beta, nt.Grow, nt.MaxAttempts
	tau, err = nt.solver.Solve(nt.d, nt.h, grad, n)
	if err != nil {
		return 0, fmt.Errorf("optim: Newton.Step: %w", err)
	}
	for i, d := range nt.d {
		params[i] += lr * d
	}
	return tau, nil
}

// Tau returns the shift used by the last successful step.
func (nt *Newton) Tau() float64 { return nt.solver.Tau() }

// CholeskyFloat32 is Cholesky for float32 matrices. It factors in float64
// (the lower triangle is widened, factored by Cholesky and rounded back), so
// it runs on the same kernels and its L is the float64 factor rounded once.
// On error a is untouched.
func CholeskyFloat32(a []float32, n int) error {
	if err := checkSize32(len(a), n, "a"); err != nil {
		return err
	}
	w := widenLower(a, n)
	if err := linalg.Cholesky(w, n); err != nil {
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
	if err := checkSize32(len(h), n, "h"); err != nil {
		return 0, err
	}
	if len(g) < n || len(dst) < n {
		return 0, fmt.Errorf("optim: NewtonStepFloat32: g has %d and dst %d elements, fewer than n = %d", len(g), len(dst), n)
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
			return 0, fmt.Errorf("optim: NewtonStepFloat32: step element %d (%g) overflows float32", i, v)
		}
	}
	for i, v := range d {
		dst[i] = float32(v)
	}
	return float32(t), nil
}

func checkSize32(length, n int, name string) error {
	if n <= 0 {
		return fmt.Errorf("optim: order n = %d must be positive", n)
	}
	if n > math.MaxInt32 || length/n < n {
		return fmt.Errorf("optim: %s has %d elements, fewer than n·n for n = %d", name, length, n)
	}
	return nil
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
