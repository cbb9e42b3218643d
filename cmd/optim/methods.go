package main

import (
	"fmt"
	"math"

	"github.com/simdoptim/optim"
)

// Result is what one method achieved on one problem.
type Result struct {
	// Iters is the number of steps after which f(x) - FMin <= tol first
	// held, or -1 if that did not happen within the budget.
	Iters int
	// Loss is f(x) at that point, or after the whole budget.
	Loss float64
	// Diverged reports a loss that became Inf or NaN; the run stopped there.
	Diverged bool
	// Err is a step's error; the run stopped there.
	Err error
	// Setting describes the hyperparameters, for the table.
	Setting string
}

// Method is one row of the comparison table: a name and a function that
// minimizes p from p.X0 in at most budget steps, stopping as soon as
// f(x) - p.FMin <= tol.
type Method struct {
	Name string
	Run  func(p *Problem, budget int, tol float64) Result
}

// firstOrder names the first-order rules that the comparison races, in
// table order; each problem's Tuned map gives their hyperparameters.
var firstOrder = []string{"SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam"}

// Methods returns the rows of the comparison table: the first-order rules,
// then Newton. A method that is not an optim.Rule is a Method whose Run gets
// the same problem, budget and tolerance and returns a Result, usually
// through descend, as runNewton does.
func Methods() []Method {
	var ms []Method
	for _, name := range firstOrder {
		ms = append(ms, Method{Name: name, Run: func(p *Problem, budget int, tol float64) Result {
			return runRule(p, p.Tuned[name], budget, tol)
		}})
	}
	return append(ms, Method{Name: "Newton", Run: runNewton})
}

// runNewton minimizes p with optim.Newton: full damped Newton steps
// x -= (H + tau*I)^-1 g with a Cholesky solve, where tau = 0 while the
// Hessian is positive definite. It uses the Hessian, so it is second order
// and needs no tuning.
func runNewton(p *Problem, budget int, tol float64) Result {
	x := append([]float64(nil), p.X0...)
	g := make([]float64, len(x))
	nt := optim.DefaultNewton()
	damped := 0
	res := descend(p, x, budget, tol, Result{Iters: -1}, func() error {
		p.Grad(x, g)
		tau, err := nt.Step(x, g, p.Hessian)
		if tau > 0 {
			damped++
		}
		return err
	})
	res.Setting = fmt.Sprintf("full steps, Cholesky solve; %d of them damped (tau > 0)", damped)
	return res
}

// runRule minimizes p with one optim rule through the public API: the
// parameters are a float64 slice updated in place by Step.
func runRule(p *Problem, t Tuned, budget int, tol float64) Result {
	x := append([]float64(nil), p.X0...)
	g := make([]float64, len(x))
	res := Result{Iters: -1, Setting: t.Why}
	opt, err := optim.New[float64](t.Rule, x)
	if err != nil {
		// The tuned rules are constants of this program: an invalid one is
		// a bug here, not a user error.
		panic(err)
	}
	return descend(p, x, budget, tol, res, func() error {
		p.Grad(x, g)
		return opt.Step(g)
	})
}

// descend calls step, which updates x in place, until f(x) - p.FMin <= tol,
// the loss stops being finite, step fails or budget steps have run, and
// fills in res.
func descend(p *Problem, x []float64, budget int, tol float64, res Result, step func() error) Result {
	for it := 0; ; it++ {
		f := p.Value(x)
		res.Loss = f
		switch {
		case math.IsNaN(f) || math.IsInf(f, 0):
			res.Diverged = true
			return res
		case f-p.FMin <= tol:
			res.Iters = it
			return res
		case it == budget:
			return res
		}
		if err := step(); err != nil {
			res.Err = err
			return res
		}
	}
}
