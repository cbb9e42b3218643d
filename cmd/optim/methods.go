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
// L-BFGS without and with a line search, then Newton. A method that is not an optim.Rule is a Method whose Run gets
// the same problem, budget and tolerance and returns a Result, usually
// through descend, as runNewton does.
func Methods() []Method {
	var ms []Method
	for _, name := range firstOrder {
		ms = append(ms, Method{Name: name, Run: func(p *Problem, budget int, tol float64) Result {
			return runRule(p, p.Tuned[name], budget, tol)
		}})
	}
	ms = append(ms, Method{Name: "L-BFGS", Run: runLBFGS(optim.NoLineSearch)},
		Method{Name: "L-BFGS Wolfe", Run: runLBFGS(optim.StrongWolfe)})
	return append(ms, Method{Name: "Newton", Run: runNewton})
}

// runLBFGS minimizes p with optim.LBFGS at torch's defaults but one
// iteration per step (MaxIter 1) and tolerances 0, so that a step of the table is one
// L-BFGS iteration: a direction from the gradient and the last 100 pairs of
// steps and gradient changes, the inverse Hessian approximation that the
// optimizer keeps across steps. Without a line search the step is the
// direction itself (lr 1), after a first one of length min(1, 1/|g|_1);
// with the strong Wolfe search a step may evaluate f several times, which
// the hyperparameters column counts. Its closure uses p.objective, so that
// the figures' paths show the iterates, not the line search's trials.
func runLBFGS(ls optim.LineSearch) func(p *Problem, budget int, tol float64) Result {
	return func(p *Problem, budget int, tol float64) Result {
		x := append([]float64(nil), p.X0...)
		cfg := optim.DefaultLBFGS()
		// Tolerances 0: the table's tol decides when to stop, not torch's
		// tests, which end a step without moving once the directional
		// derivative is below 1e-9 (near 1e-10 on Rosenbrock).
		cfg.MaxIter, cfg.LineSearch = 1, ls
		cfg.ToleranceGrad, cfg.ToleranceChange = 0, 0
		opt, err := optim.NewLBFGS(cfg, x)
		if err != nil {
			panic(err) // a constant configuration: a bug here
		}
		f := p.objective()
		closure := func() (float64, error) {
			p.Grad(x, opt.Grad(0))
			return f(x), nil
		}
		res := descend(p, x, budget, tol, Result{Iters: -1}, func() error {
			_, err := opt.Step(closure)
			return err
		})
		res.Setting = fmt.Sprintf("torch's defaults but one iteration per step, tolerances 0; %d evaluations of f and its gradient", opt.Evaluations())
		if ls == optim.StrongWolfe {
			res.Setting = "strong Wolfe line search; " + res.Setting
		}
		return res
	}
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
