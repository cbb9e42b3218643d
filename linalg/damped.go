package linalg

import (
	"errors"
	"fmt"
	"math"
	"unsafe"
)

// Damped solves the damped Newton system (H + τI)·d = −g, choosing the
// smallest τ ≥ 0 its strategy can certify with a Cholesky factorization. It
// keeps the last τ as a warm start and its buffers between calls, so after
// the first call of a given order it does not allocate. The zero value is
// ready to use; it is not safe for concurrent use.
//
// The strategy starts from Nocedal and Wright's Algorithm 3.3 (add τI, grow τ
// on failure) and sharpens it with the failing pivot. When the factorization
// of A = H + τI stops at pivot j with value p ≤ 0, the leading j×j block is
// positive definite with factor L11 and row j of L holds l = L11⁻¹·a12. The
// vector x = (−y, 1, 0…) with L11ᵀ·y = l gives xᵀAx = p, so
// λmin(A) ≤ p / (1 + ‖y‖²) and every working shift exceeds
// τ − p / (1 + ‖y‖²). The next τ is the larger of Grow·τ and that bound plus
// a margin, which usually lands on a working τ in one or two
// refactorizations instead of a long doubling sequence from Beta.
type Damped struct {
	// Beta is the smallest nonzero shift and the relative margin added to a
	// pivot's bound (default 1e-3, as in Nocedal and Wright).
	Beta float64
	// Grow multiplies τ after a failed attempt (default 2).
	Grow float64
	// MaxAttempts caps the factorizations per call (default 60).
	MaxAttempts int

	tau  float64 // the last successful τ, the next warm start
	used int     // factorizations in the last call
	ws   workspace
	save []float64 // H's lower triangle, row after row, saved before the first attempt
	x    []float64 // the solution before it is copied to dst
}

// Tau returns the shift of the last successful call.
func (s *Damped) Tau() float64 { return s.tau }

// Factorizations returns how many Cholesky factorizations the last call ran.
func (s *Damped) Factorizations() int { return s.used }

// ErrDampingFailed is wrapped when no shift within MaxAttempts made H + τI
// positive definite.
var ErrDampingFailed = errors.New("linalg: damping did not make H positive definite")

// NewtonStep writes dst = −(H + τI)⁻¹·g for the symmetric n×n Hessian H in h
// (row-major; only the lower triangle is read) and returns τ, as a new
// Damped's Solve does: 0 when H is positive definite, else the smallest
// shift its strategy finds that makes H + τI positive definite. h is used
// as scratch, so g and dst must not share memory with h's first n·n
// elements (an error); dst may be g. NaN or ±Inf in h or g, n ≤ 0, short
// slices and a step or τ that overflows are errors; on error dst is
// untouched. A Damped kept between calls starts from the previous τ and
// does not allocate.
func NewtonStep(dst, h, g []float64, n int) (tau float64, err error) {
	var s Damped
	return s.Solve(dst, h, g, n)
}

// Solve writes dst = −(H + τI)⁻¹·g for the symmetric n×n matrix H in h
// (row-major; only the lower triangle is read) and returns τ: 0 if H is
// positive definite, else the shift found. h is used as scratch: on return
// its lower triangle holds the Cholesky factor of H + τI; its strict upper
// triangle is not touched. On error dst is not touched.
//
// Because h is scratch, g and dst must not share memory with h's first n·n
// elements (that is an error); dst may share memory with g, which is read
// before dst is written.
func (s *Damped) Solve(dst, h, g []float64, n int) (float64, error) {
	if err := checkSize(h, n, "h"); err != nil {
		return 0, err
	}
	if len(g) < n {
		return 0, fmt.Errorf("linalg: g has %d elements, fewer than n = %d", len(g), n)
	}
	if len(dst) < n {
		return 0, fmt.Errorf("linalg: dst has %d elements, fewer than n = %d", len(dst), n)
	}
	if overlap(g[:n], h[:n*n]) {
		return 0, fmt.Errorf("linalg: g shares memory with h, which the factorization overwrites")
	}
	if overlap(dst[:n], h[:n*n]) {
		return 0, fmt.Errorf("linalg: dst shares memory with h, which the factorization overwrites")
	}
	for i, v := range g[:n] {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("linalg: g[%d] is %v", i, v)
		}
	}
	beta, growth, attempts := s.Beta, s.Grow, s.MaxAttempts
	if !(beta > 0) {
		beta = 1e-3
	}
	if !(growth > 1) {
		growth = 2
	}
	if attempts <= 0 {
		attempts = 60
	}
	h = h[:n*n]
	s.used = 0
	s.save = grow(s.save, n*(n+1)/2)
	s.x = grow(s.x, n)
	minDiag := math.Inf(1)
	for i := range n {
		copy(s.save[i*(i+1)/2:], h[i*n:i*n+i+1])
		minDiag = min(minDiag, h[i*n+i])
	}
	// NaN or ±Inf in h is not searched for here: it always surfaces as a
	// non-finite pivot, and only then is the saved copy searched to name it.

	tau := 0.0
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			for i := range n {
				row := h[i*n : i*n+i+1]
				copy(row, s.save[i*(i+1)/2:])
				row[i] += tau
			}
		}
		s.used = attempt
		fail, pivot := s.ws.potrf(h, n, n, 0)
		if fail < 0 {
			break
		}
		if math.IsNaN(pivot) || math.IsInf(pivot, 0) {
			if err := s.findNonFinite(n); err != nil {
				return 0, err
			}
			return 0, pivotError(fail, pivot)
		}
		if attempt == attempts {
			// A NaN or ±Inf no attempt reached is the real cause.
			if err := s.findNonFinite(n); err != nil {
				return 0, err
			}
			return 0, fmt.Errorf("%w after %d factorizations (last τ = %g: %v)", ErrDampingFailed, attempts, tau, pivotError(fail, pivot))
		}
		bound := tau - pivot/(1+rayleighTail(h, n, fail, s.x)) // every working τ exceeds this
		if attempt == 1 {
			bound = max(bound, -minDiag) // λmin(H) ≤ min h_ii
		}
		next := max(growth*tau, bound+beta*max(1, bound), beta)
		if attempt == 1 {
			next = max(next, s.tau)
		}
		if math.IsInf(next, 0) || math.IsNaN(next) {
			if err := s.findNonFinite(n); err != nil {
				return 0, err
			}
			return 0, fmt.Errorf("%w: τ overflowed (%v)", ErrDampingFailed, pivotError(fail, pivot))
		}
		tau = next
	}

	x := s.x
	for i := range n {
		x[i] = -g[i]
	}
	solveCholesky(h, n, x)
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("linalg: Newton step overflowed at element %d (τ = %g)", i, tau)
		}
	}
	copy(dst, x)
	s.tau = tau
	return tau, nil
}

// rayleighTail returns ‖y‖² for L11ᵀ·y = l, where L11 is the leading j×j
// factor in h and l the first j entries of row j, both left by a
// factorization that failed at pivot j. y is formed in buf.
func rayleighTail(h []float64, n, j int, buf []float64) float64 {
	y := buf[:j]
	copy(y, h[j*n:j*n+j])
	backwardStrided(h, n, j, y)
	s := 0.0
	for _, v := range y {
		s += v * v
	}
	if math.IsNaN(s) {
		return 0 // no sharper bound than the pivot itself
	}
	return s
}

// findNonFinite names the first NaN or ±Inf of the saved lower triangle.
func (s *Damped) findNonFinite(n int) error {
	for i := range n {
		for j, v := range s.save[i*(i+1)/2 : i*(i+1)/2+i+1] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("linalg: h[%d][%d] is %v", i, j, v)
			}
		}
	}
	return nil
}

// overlap reports whether the non-empty slices a and b share an element.
func overlap(a, b []float64) bool {
	pa, pb := uintptr(unsafe.Pointer(&a[0])), uintptr(unsafe.Pointer(&b[0]))
	const size = unsafe.Sizeof(a[0])
	return pa < pb+uintptr(len(b))*size && pb < pa+uintptr(len(a))*size
}
