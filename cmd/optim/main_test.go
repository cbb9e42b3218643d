package main

import (
	"bytes"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/simdoptim/optim"
)

// TestRunPrintsSections runs the whole demo with small budgets and checks
// that every section and every row is there.
func TestRunPrintsSections(t *testing.T) {
	var out bytes.Buffer
	c := config{problem: "all", kappa: 100, angle: 30, budget: 3000, tol: 1e-6,
		throughput: true, n: 1000, perRule: time.Millisecond}
	if err := run(&out, c); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	want := []string{"== Machine", "CPU:", "kernel set: " + optim.ISA(), "because:",
		"== Problem ravine", "== Problem rosenbrock", "steps to tol", "== Throughput", "bytes/param", "GB/s"}
	for _, m := range Methods() {
		want = append(want, "\n"+m.Name+" ")
	}
	for _, r := range streamRules {
		want = append(want, " "+r.name+" ")
	}
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("output lacks %q", w)
		}
	}
	for _, bad := range []string{"diverged", "error:"} {
		if strings.Contains(s, bad) {
			t.Errorf("output contains %q", bad)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", s)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	good := config{problem: "ravine", kappa: 10, budget: 10, tol: 1e-3, n: 1, perRule: time.Millisecond}
	for name, mutate := range map[string]func(*config){
		"problem": func(c *config) { c.problem = "himmelblau" },
		"kappa":   func(c *config) { c.kappa = 0.5 },
		"nan":     func(c *config) { c.kappa = math.NaN() },
		"budget":  func(c *config) { c.budget = -1 },
		"tol":     func(c *config) { c.tol = math.NaN() },
	} {
		c := good
		mutate(&c)
		var out bytes.Buffer
		if err := run(&out, c); err == nil {
			t.Errorf("%s: no error for %+v", name, c)
		}
	}
}

func testProblems() []*Problem {
	return []*Problem{Ravine(1e3, 30), Ravine(10, 0), Ravine(1e4, -70), Rosenbrock()}
}

var testPoints = [][]float64{{0.3, -1.1}, {-1.2, 1}, {2, 0.5}, {1, 1}, {-0.01, 0.02}}

// TestGradients compares each gradient with central differences of Value.
func TestGradients(t *testing.T) {
	for _, p := range testProblems() {
		for _, x := range testPoints {
			g := make([]float64, 2)
			p.Grad(x, g)
			for i := range x {
				want := centralDiff(func(y []float64) float64 { return p.Value(y) }, x, i)
				checkClose(t, p, x, "gradient", i, g[i], want)
			}
		}
	}
}

// TestHessians compares each Hessian with central differences of Grad and
// checks its symmetry.
func TestHessians(t *testing.T) {
	for _, p := range testProblems() {
		for _, x := range testPoints {
			h := make([]float64, 4)
			p.Hessian(x, h)
			if h[1] != h[2] {
				t.Errorf("%s at %v: Hessian not symmetric: %v", p.Name, x, h)
			}
			for i := range 2 {
				for j := range 2 {
					want := centralDiff(func(y []float64) float64 {
						g := make([]float64, 2)
						p.Grad(y, g)
						return g[i]
					}, x, j)
					checkClose(t, p, x, "Hessian", i*2+j, h[i*2+j], want)
				}
			}
		}
	}
}

func centralDiff(f func([]float64) float64, x []float64, i int) float64 {
	const step = 1e-5
	hi := append([]float64(nil), x...)
	lo := append([]float64(nil), x...)
	hi[i] += step
	lo[i] -= step
	return (f(hi) - f(lo)) / (2 * step)
}

func checkClose(t *testing.T, p *Problem, x []float64, what string, i int, got, want float64) {
	t.Helper()
	if d := math.Abs(got - want); d > 1e-6*math.Max(1, math.Abs(want)) {
		t.Errorf("%s at %v: %s[%d] = %v, finite differences give %v", p.Name, x, what, i, got, want)
	}
}

// TestMinimum checks that X0 is not already converged and that FMin is
// attained where expected.
func TestMinimum(t *testing.T) {
	for _, p := range testProblems() {
		if p.Value(p.X0) <= p.FMin+1 {
			t.Errorf("%s: f(X0) = %v is too close to f* = %v", p.Name, p.Value(p.X0), p.FMin)
		}
	}
	if f := Rosenbrock().Value([]float64{1, 1}); f != 0 {
		t.Errorf("rosenbrock(1, 1) = %v, want 0", f)
	}
	if f := Ravine(1e3, 30).Value([]float64{0, 0}); f != 0 {
		t.Errorf("ravine(0, 0) = %v, want 0", f)
	}
}

// TestSGDMatchesTheory checks the SGD row against the closed form: with
// lr = 1/L the steep component vanishes in one step and the flat one,
// starting at 1, shrinks by (1 - 1/kappa) per step, so f_t =
// 0.5 (1 - 1/kappa)^(2t) after the first step.
func TestSGDMatchesTheory(t *testing.T) {
	const kappa, tol = 1e3, 1e-10
	p := Ravine(kappa, 30)
	r := runRule(p, p.Tuned["SGD"], 50000, tol)
	want := int(math.Ceil(math.Log(2*tol) / (2 * math.Log(1-1/kappa))))
	if r.Iters < want-1 || r.Iters > want+1 {
		t.Errorf("SGD needed %d steps, theory says %d", r.Iters, want)
	}
}

// TestTunedRules checks that every problem tunes every first-order method
// with a valid rule, and that the momentum methods beat plain SGD on the
// default ravine, which is the point of the demonstration.
func TestTunedRules(t *testing.T) {
	for _, p := range testProblems() {
		for _, name := range firstOrder {
			tuned, ok := p.Tuned[name]
			if !ok {
				t.Fatalf("%s: no tuned rule for %s", p.Name, name)
			}
			if _, err := optim.New[float64](tuned.Rule, make([]float64, 2)); err != nil {
				t.Errorf("%s: %s: %v", p.Name, name, err)
			}
		}
	}
	p := Ravine(1e3, 30)
	sgd := runRule(p, p.Tuned["SGD"], 50000, 1e-10)
	for _, name := range []string{"Momentum", "Nesterov"} {
		r := runRule(p, p.Tuned[name], 50000, 1e-10)
		if r.Iters < 0 || r.Iters*10 > sgd.Iters {
			t.Errorf("%s took %d steps, SGD %d: want at least 10x fewer", name, r.Iters, sgd.Iters)
		}
	}
}

// TestAddedMethod adds a method the way a second-order method plugs in:
// an exact 2x2 Newton step from Grad and Hessian, run through descend. It
// must appear in the table and solve the quadratic ravine in one step.
func TestAddedMethod(t *testing.T) {
	newton := Method{Name: "Newton2x2", Run: func(p *Problem, budget int, tol float64) Result {
		x := append([]float64(nil), p.X0...)
		g, h := make([]float64, 2), make([]float64, 4)
		return descend(p, x, budget, tol, Result{Iters: -1, Setting: "x -= H^-1 g"}, func() error {
			p.Grad(x, g)
			p.Hessian(x, h)
			det := h[0]*h[3] - h[1]*h[2]
			x[0] -= (h[3]*g[0] - h[1]*g[1]) / det
			x[1] -= (h[0]*g[1] - h[2]*g[0]) / det
			return nil
		})
	}}
	p := Ravine(1e3, 30)
	if r := newton.Run(p, 10, 1e-20); r.Iters != 1 {
		t.Errorf("Newton on a quadratic: %d steps (loss %g), want 1", r.Iters, r.Loss)
	}
	var out bytes.Buffer
	compare(&out, p, append(Methods(), newton), 100, 1e-10)
	if !strings.Contains(out.String(), "\nNewton2x2 ") {
		t.Errorf("table lacks the added method:\n%s", out.String())
	}
}

// TestThroughputWorkersColumn: the throughput table's workers column runs
// on the workers it names, also at sizes below the default split threshold
// (it used to repeat the 1-worker figures at its default size).
func TestThroughputWorkersColumn(t *testing.T) {
	p, g := make([]float32, 1000), make([]float32, 1000)
	if r := timeDispatched(optim.DefaultAdamW(), p, g, time.Millisecond, 2); r.workers != 2 {
		t.Errorf("the 2-workers measurement ran on %d goroutines", r.workers)
	}
	if r := timeDispatched(optim.DefaultAdamW(), p, g, time.Millisecond, 1); r.workers != 1 {
		t.Errorf("the 1-worker measurement ran on %d goroutines", r.workers)
	}
	var out bytes.Buffer
	throughput(&out, 1000, time.Millisecond)
	if all := runtime.GOMAXPROCS(0); all > 1 && !strings.Contains(out.String(), fmt.Sprintf("%d workers ns/param", all)) {
		t.Errorf("the table has no column of %d workers:\n%s", all, out.String())
	}
}

// TestLBFGSMethods checks the L-BFGS rows: one iteration per step, they
// solve the ravine in a few steps and Rosenbrock in under a hundred, and
// their paths are the iterates, not the line search's trials.
func TestLBFGSMethods(t *testing.T) {
	for _, m := range Methods() {
		if !strings.HasPrefix(m.Name, "L-BFGS") {
			continue
		}
		for _, c := range []struct {
			p    *Problem
			most int
		}{{Ravine(1e3, 30), 10}, {Rosenbrock(), 100}} {
			r := m.Run(c.p, 1000, 1e-10)
			if r.Err != nil || r.Diverged || r.Iters < 0 || r.Iters > c.most {
				t.Errorf("%s on %s: %d steps (%+v), want at most %d", m.Name, c.p.Name, r.Iters, r, c.most)
			}
			path, _ := trace(m, c.p, 20)
			if len(path) != 21 {
				t.Errorf("%s on %s: %d points for 20 steps, want 21", m.Name, c.p.Name, len(path))
			}
		}
	}
}
