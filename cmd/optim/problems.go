package main

import (
	"fmt"
	"math"

	"github.com/simdoptim/optim"
)

// Problem is a smooth test function to minimize. It exposes its value, its
// gradient and its Hessian, so that first-order rules (which use only Grad)
// and second-order methods (which also use Hessian) run on the same footing.
type Problem struct {
	Name        string
	Description string    // one paragraph, printed above the table
	X0          []float64 // starting point; every run starts from a copy
	FMin        float64   // the minimum value; runs stop when f(x) - FMin <= tol

	// Value returns f(x).
	Value func(x []float64) float64
	// F, when set, is f itself where Value records the iterates (trace
	// and losses wrap Value): see objective.
	F func(x []float64) float64
	// Grad writes the gradient of f at x into g (len(g) == len(x)).
	Grad func(x, g []float64)
	// Hessian writes the Hessian of f at x into h, row-major
	// (h[i*n+j] = d2f/dx_i dx_j, len(h) == n*n).
	Hessian func(x, h []float64)

	// Tuned maps a first-order method's name to the rule it runs with on
	// this problem. Hyperparameters are per problem, as in practice: each
	// comes with the reason it was chosen, printed in the table.
	Tuned map[string]Tuned
}

// objective returns f itself, for a method that evaluates f at points that
// are not its iterates (a line search): F if set, else Value.
func (p *Problem) objective() func([]float64) float64 {
	if p.F != nil {
		return p.F
	}
	return p.Value
}

// Tuned is a rule and why its hyperparameters are what they are.
type Tuned struct {
	Rule optim.Rule
	Why  string
}

// Ravine returns the 2-D quadratic ravine
//
//	f(x, y) = 0.5 * (u^2 + kappa * v^2),  (u, v) = (x, y) rotated by angle
//
// whose Hessian has eigenvalues mu = 1 (along the ravine floor) and
// L = kappa (across it): the condition number is kappa. With angle 0 the
// ravine is axis-aligned and a per-coordinate step size (Adagrad, RMSProp,
// Adam) can undo the bad conditioning; at other angles the steep and the
// flat directions mix in both coordinates, so no per-coordinate rescaling
// undoes it fully, while curvature information (the Hessian) does.
func Ravine(kappa, angleDeg float64) *Problem {
	th := angleDeg * math.Pi / 180
	c, s := math.Cos(th), math.Sin(th)
	// H = R diag(1, kappa) R^T with R the rotation by th.
	h := [4]float64{
		c*c + kappa*s*s, (1 - kappa) * c * s,
		(1 - kappa) * c * s, s*s + kappa*c*c,
	}
	// Start one unit along the floor and half a unit across it, so both
	// directions have work to do: f(X0) = 0.5 * (1 + kappa/4). (Equal
	// offsets would let a sign-like first step of exactly 1, Adagrad's or
	// Adam's at lr = 1, land on the minimum of the axis-aligned ravine.)
	x0 := []float64{c - s/2, s + c/2}
	p := &Problem{
		Name: "ravine",
		Description: fmt.Sprintf("f = 0.5*(u^2 + %g*v^2) with (u,v) = (x,y) rotated by %g deg: a quadratic ravine "+
			"with curvature 1 along its floor and %g across it (condition number %g). Start (%.3g, %.3g), f* = 0.",
			kappa, angleDeg, kappa, kappa, x0[0], x0[1]),
		X0: x0,
		Value: func(x []float64) float64 {
			return 0.5 * (x[0]*(h[0]*x[0]+h[1]*x[1]) + x[1]*(h[2]*x[0]+h[3]*x[1]))
		},
		Grad: func(x, g []float64) {
			g[0] = h[0]*x[0] + h[1]*x[1]
			g[1] = h[2]*x[0] + h[3]*x[1]
		},
		Hessian: func(_, out []float64) { copy(out, h[:]) },
	}
	p.Tuned = ravineRules(kappa)
	return p
}

// ravineRules picks each rule's hyperparameters from the curvature bounds
// mu = 1 and L = kappa where theory gives an answer (gradient descent and
// the momentum methods). The adaptive rules have no such formula: their lr
// is chosen from the grid lr in {1e-4, 3e-4, 1e-3, ..., 1, 3} with torch's
// other defaults, for kappa = 1e3, angle 30 deg, tol 1e-10 and 1e5 steps.
func ravineRules(kappa float64) map[string]Tuned {
	L, mu := kappa, 1.0
	sk := math.Sqrt(L / mu)
	hbLR := 4 / ((math.Sqrt(L) + math.Sqrt(mu)) * (math.Sqrt(L) + math.Sqrt(mu)))
	hbMom := ((sk - 1) / (sk + 1)) * ((sk - 1) / (sk + 1))
	nagMom := (sk - 1) / (sk + 1)
	return map[string]Tuned{
		"SGD": {optim.SGD{LR: 1 / L},
			"lr = 1/L, the classic safe step (stable only below 2/L)"},
		"Momentum": {optim.SGD{LR: hbLR, Momentum: hbMom},
			"Polyak's optimal heavy ball: lr = 4/(sqrt L + sqrt mu)^2, m = ((sqrt k - 1)/(sqrt k + 1))^2"},
		"Nesterov": {optim.SGD{LR: 1 / L, Momentum: nagMom, Nesterov: true},
			"lr = 1/L, m = (sqrt k - 1)/(sqrt k + 1), the strongly convex choice"},
		"AdaGrad": {optim.Adagrad{LR: 1, Eps: 1e-10},
			"lr = 1 (tuned on a grid)"},
		"RMSProp": {optim.RMSProp{LR: 1e-4, Alpha: 0.99, Eps: 1e-8},
			"lr = 1e-4, alpha = 0.99 (tuned on a grid; its steps stay ~lr long, so it hovers instead of converging)"},
		"Adam": {optim.Adam{LR: 1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
			"lr = 1, betas (0.9, 0.999) (tuned on a grid)"},
	}
}

// Rosenbrock returns f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 from the classic
// start (-1.2, 1): a curved, banana-shaped valley whose floor is easy to
// reach and hard to follow. Its Hessian at the minimum (1, 1) has condition
// number about 2500, and the curvature across the valley changes along it.
func Rosenbrock() *Problem {
	return &Problem{
		Name: "rosenbrock",
		Description: "f = (1-x)^2 + 100*(y-x^2)^2: a curved valley, condition number ~2500 at the minimum. " +
			"Start (-1.2, 1), minimum (1, 1), f* = 0.",
		X0: []float64{-1.2, 1},
		Value: func(x []float64) float64 {
			a, b := 1-x[0], x[1]-x[0]*x[0]
			return a*a + 100*b*b
		},
		Grad: func(x, g []float64) {
			b := x[1] - x[0]*x[0]
			g[0] = -2*(1-x[0]) - 400*x[0]*b
			g[1] = 200 * b
		},
		Hessian: func(x, h []float64) {
			h[0] = 2 - 400*x[1] + 1200*x[0]*x[0]
			h[1] = -400 * x[0]
			h[2] = -400 * x[0]
			h[3] = 200
		},
		Tuned: rosenbrockRules(),
	}
}

// rosenbrockRules are chosen from small grids (tol 1e-10, 1e5 steps): lr in
// {1e-4, 2e-4, 5e-4, 1e-3, 2e-3, ...} for the gradient methods, times
// momentum in {0.8, 0.9, 0.95, 0.99}, the half-decade grid of ravineRules
// for Adagrad and RMSProp, refined to {0.2, 0.3, 0.5, 0.7} for Adam. The curvature varies along the valley (~1300 near
// the start, ~1000 at the minimum), which bounds the gradient methods' lr.
func rosenbrockRules() map[string]Tuned {
	return map[string]Tuned{
		"SGD": {optim.SGD{LR: 1e-3},
			"lr = 1e-3, under 2/L for the largest curvature met (~1300)"},
		"Momentum": {optim.SGD{LR: 1e-3, Momentum: 0.95},
			"lr = 1e-3, m = 0.95 (grid; lr 2e-3 is faster but next to divergence)"},
		"Nesterov": {optim.SGD{LR: 1e-3, Momentum: 0.95, Nesterov: true},
			"lr = 1e-3, m = 0.95 (same as Momentum)"},
		"AdaGrad": {optim.Adagrad{LR: 1, Eps: 1e-10},
			"lr = 1 (tuned on a grid)"},
		"RMSProp": {optim.RMSProp{LR: 1e-4, Alpha: 0.99, Eps: 1e-8},
			"lr = 1e-4, alpha = 0.99 (tuned on a grid; hovers instead of converging)"},
		"Adam": {optim.Adam{LR: 0.5, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
			"lr = 0.5, betas (0.9, 0.999) (tuned on a grid)"},
	}
}

// Saddle returns f(x, y) = x²/2 - y²/2 + y⁴/4, a saddle point at the origin
// (the Hessian there is diag(1, -1)) between two minima at (0, ±1) with
// f* = -1/4; the quartic keeps f bounded below. It starts at (1, 1e-6),
// next to the saddle's stable manifold (the x axis): the gradient along y
// is about 1e-6, so plain gradient descent needs ~ln(1e6)/lr steps to
// notice that the origin is not a minimum.
func Saddle() *Problem {
	return &Problem{
		Name: "saddle",
		Description: "f = x^2/2 - y^2/2 + y^4/4: a saddle at the origin between minima at (0, +-1). " +
			"Start (1, 1e-6), next to the saddle, f* = -0.25.",
		X0:   []float64{1, 1e-6},
		FMin: -0.25,
		Value: func(x []float64) float64 {
			y2 := x[1] * x[1]
			return 0.5*x[0]*x[0] - 0.5*y2 + 0.25*y2*y2
		},
		Grad: func(x, g []float64) {
			g[0] = x[0]
			g[1] = x[1]*x[1]*x[1] - x[1]
		},
		Hessian: func(x, h []float64) {
			h[0], h[1], h[2] = 1, 0, 0
			h[3] = 3*x[1]*x[1] - 1
		},
		Tuned: saddleRules(),
	}
}

// saddleRules use one learning rate where the rule allows it, so that the
// escape from the saddle compares the rules rather than step sizes: the
// curvatures are 1 and -1 near the saddle and 2 at the minima, so lr = 0.1
// is stable everywhere for the gradient methods.
func saddleRules() map[string]Tuned {
	return map[string]Tuned{
		"SGD":      {optim.SGD{LR: 0.1}, "lr = 0.1"},
		"Momentum": {optim.SGD{LR: 0.1, Momentum: 0.9}, "lr = 0.1, m = 0.9"},
		"Nesterov": {optim.SGD{LR: 0.1, Momentum: 0.9, Nesterov: true}, "lr = 0.1, m = 0.9"},
		"AdaGrad":  {optim.Adagrad{LR: 0.1, Eps: 1e-10}, "lr = 0.1"},
		"RMSProp":  {optim.RMSProp{LR: 0.01, Alpha: 0.99, Eps: 1e-8}, "lr = 0.01, alpha = 0.99"},
		"Adam":     {optim.Adam{LR: 0.1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, "lr = 0.1, betas (0.9, 0.999)"},
	}
}
