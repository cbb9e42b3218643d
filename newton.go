package optim

import (
	"fmt"
	"math"
	"strconv"

	"github.com/simdoptim/optim/linalg"
)

// MaxNewtonOrder is the largest number of parameters Newton.Step accepts.
// Step allocates the dense n×n Hessian itself, and the solver a copy of its
// lower triangle: at this limit that is 12 GiB on a 64-bit platform (n =
// 32768) and 192 MiB on a 32-bit one (n = 4096), where a process has at
// most a few GiB of address space. Checking the order first turns what
// would be a fatal out-of-memory error (or an overflow of n·n) into a
// *NewtonSizeError.
const MaxNewtonOrder = 1 << (12 + 3*(strconv.IntSize/64))

// NewtonSizeError reports more parameters than MaxNewtonOrder.
type NewtonSizeError struct {
	N   int // the number of parameters
	Max int // MaxNewtonOrder
}

func (e *NewtonSizeError) Error() string {
	return fmt.Sprintf("optim: Newton.Step: %d parameters exceed MaxNewtonOrder = %d (a dense Hessian needs n·n float64s)", e.N, e.Max)
}

// Newton is the damped Newton method x ← x − LR·(H + τI)⁻¹ g. When H is
// not positive definite it is shifted by τI: the first attempt after τ = 0
// fails starts from the previous step's τ (warm start) or from the bound
// that the failing Cholesky pivot puts on the smallest eigenvalue, whichever
// is larger, and grows τ by Grow while factorizations fail. It keeps its
// buffers, so steps after the first allocate nothing.
//
// The dense algebra it runs on is package linalg: Cholesky, the damped
// solve NewtonStep, their float32 forms, and their errors
// (*linalg.NotPositiveDefiniteError, linalg.ErrNonFinite).
//
// Every field means exactly its value; DefaultNewton returns the defaults.
// The zero value is not usable: its LR of 0 is an error. A Newton is not
// safe for concurrent use.
type Newton struct {
	// LR scales the step: positive and finite (1 is the full Newton step).
	LR float64
	// Beta is the smallest nonzero shift and the relative margin above a
	// pivot's bound: positive and finite.
	Beta float64
	// Grow multiplies τ after a failed factorization: finite and above 1.
	Grow float64
	// MaxAttempts caps the factorizations per step: at least 1.
	MaxAttempts int

	solver linalg.Damped
	tau    float64 // the τ of the last successful step
	h, d   []float64
}

// DefaultNewton returns full Newton steps (LR 1) with Nocedal and Wright's
// damping constants: Beta 1e-3, Grow 2, and at most 60 factorizations per
// step.
func DefaultNewton() Newton { return Newton{LR: 1, Beta: 1e-3, Grow: 2, MaxAttempts: 60} }

// validate checks the fields, in declaration order.
func (nt *Newton) validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case !(nt.LR > 0 && finite(nt.LR)):
		return newtonFieldErr("LR", nt.LR, "> 0 and finite")
	case !(nt.Beta > 0 && finite(nt.Beta)):
		return newtonFieldErr("Beta", nt.Beta, "> 0 and finite")
	case !(nt.Grow > 1 && finite(nt.Grow)):
		return newtonFieldErr("Grow", nt.Grow, "> 1 and finite")
	case nt.MaxAttempts < 1:
		return newtonFieldErr("MaxAttempts", float64(nt.MaxAttempts), ">= 1")
	}
	return nil
}

// Step evaluates the Hessian at params through hessian(params, h) and moves
// params by −LR·(H + τI)⁻¹ grad. It returns τ.
//
// h is the n×n row-major Hessian (n = len(params)), set to zero before each
// call: hessian must write every element of its lower triangle (row i,
// column j ≤ i, at h[i*n+j]) that is not zero; the strict upper triangle is
// not read. hessian must not keep h.
//
// Invalid fields, more than MaxNewtonOrder parameters (*NewtonSizeError), a
// Hessian that damping cannot make positive definite and a step that takes
// an element of params to ±Inf are errors. On error params is untouched.
func (nt *Newton) Step(params, grad []float64, hessian func(params, h []float64)) (tau float64, err error) {
	n := len(params)
	if err := nt.validate(); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, fmt.Errorf("optim: Newton.Step: params is empty")
	}
	if len(grad) != n {
		return 0, fmt.Errorf("optim: Newton.Step: grad has %d elements, params %d", len(grad), n)
	}
	if hessian == nil {
		return 0, fmt.Errorf("optim: Newton.Step: hessian is nil")
	}
	if n > MaxNewtonOrder {
		return 0, &NewtonSizeError{N: n, Max: MaxNewtonOrder}
	}
	if cap(nt.h) < n*n {
		nt.h = make([]float64, n*n)
		nt.d = make([]float64, n)
	}
	nt.h, nt.d = nt.h[:n*n], nt.d[:n]
	// A partly filled h then means zeros, not the previous step's factor.
	clear(nt.h)
	hessian(params, nt.h)
	nt.solver.Beta, nt.solver.Grow, nt.solver.MaxAttempts = nt.Beta, nt.Grow, nt.MaxAttempts
	tau, err = nt.solver.Solve(nt.d, nt.h, grad, n)
	if err != nil {
		return 0, fmt.Errorf("optim: Newton.Step: %w", err)
	}
	// The new params are formed in d and all checked before any is written.
	for i, d := range nt.d {
		v := params[i] + nt.LR*d
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return 0, fmt.Errorf("optim: Newton.Step: params[%d] = %g plus LR·d = %g·%g is not finite", i, params[i], nt.LR, d)
		}
		nt.d[i] = v
	}
	copy(params, nt.d)
	nt.tau = tau
	return tau, nil
}

// Tau returns the shift used by the last successful step.
func (nt *Newton) Tau() float64 { return nt.tau }

// newtonFieldErr reports a Newton field outside its domain.
func newtonFieldErr(field string, value float64, want string) error {
	return &HyperparameterError{Group: -1, Rule: "Newton", Field: field, Value: value, Want: want + " (start from DefaultNewton())"}
}
