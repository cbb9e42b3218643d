package optim_test

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/simdoptim/optim"
	"github.com/simdoptim/optim/linalg"
)

// rosenbrock's gradient and Hessian, for a damped Newton run.
func rosenbrock(x []float64) float64 {
	return 100*(x[1]-x[0]*x[0])*(x[1]-x[0]*x[0]) + (1-x[0])*(1-x[0])
}

func rosenbrockGrad(x, g []float64) {
	g[0] = -400*x[0]*(x[1]-x[0]*x[0]) - 2*(1-x[0])
	g[1] = 200 * (x[1] - x[0]*x[0])
}

func rosenbrockHessian(x, h []float64) {
	h[0] = 1200*x[0]*x[0] - 400*x[1] + 2
	h[1] = -400 * x[0]
	h[2] = -400 * x[0]
	h[3] = 200
}

func TestNewtonRosenbrock(t *testing.T) {
	x := []float64{-1.2, 1}
	g := make([]float64, 2)
	nt := optim.DefaultNewton()
	for it := 0; it < 100 && rosenbrock(x) > 1e-20; it++ {
		rosenbrockGrad(x, g)
		// A small LR keeps the undamped steps from overshooting the valley.
		nt.LR = 0.5
		if _, err := nt.Step(x, g, rosenbrockHessian); err != nil {
			t.Fatal(err)
		}
	}
	if f := rosenbrock(x); f > 1e-10 {
		t.Errorf("f = %g at %v", f, x)
	}
}

// TestNewtonIndefiniteSaddle starts at the saddle-like region of
// f(x, y) = x⁴/4 − x²/2 + y²/2 (H = diag(3x² − 1, 1) is indefinite near
// x = 0): the damped step must move downhill to a minimum at x = ±1.
func TestNewtonIndefiniteSaddle(t *testing.T) {
	x := []float64{0.1, 1}
	g := make([]float64, 2)
	hess := func(x, h []float64) { h[0], h[1], h[2], h[3] = 3*x[0]*x[0]-1, 0, 0, 1 }
	nt := optim.DefaultNewton()
	sawTau := false
	for range 50 {
		g[0], g[1] = x[0]*x[0]*x[0]-x[0], x[1]
		tau, err := nt.Step(x, g, hess)
		if err != nil {
			t.Fatal(err)
		}
		sawTau = sawTau || tau > 0
	}
	if !sawTau || math.Abs(math.Abs(x[0])-1) > 1e-9 || math.Abs(x[1]) > 1e-9 {
		t.Errorf("x = %v, damped: %v", x, sawTau)
	}
}

func TestNewtonStepNoAllocs(t *testing.T) {
	n := 40
	x := make([]float64, n)
	g := make([]float64, n)
	hess := func(x, h []float64) {
		for i := range n {
			for j := range n {
				h[i*n+j] = 0
			}
			h[i*n+i] = float64(i) - 5 // indefinite: every step retries
		}
	}
	for i := range g {
		g[i] = 1
	}
	nt := optim.DefaultNewton()
	if _, err := nt.Step(x, g, hess); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(10, func() {
		if _, err := nt.Step(x, g, hess); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("%v allocations per step", a)
	}
}

func TestNewtonStepErrors(t *testing.T) {
	nt := optim.DefaultNewton()
	x := []float64{1, 2}
	hess := func(x, h []float64) { h[0], h[1], h[2], h[3] = 1, 0, 0, math.NaN() }
	if _, err := nt.Step(x, []float64{1, 1}, hess); err == nil || x[0] != 1 || x[1] != 2 {
		t.Errorf("NaN Hessian: x = %v, %v", x, err)
	}
	if _, err := nt.Step(x, []float64{1}, hess); err == nil {
		t.Error("short gradient accepted")
	}
	if _, err := nt.Step(nil, nil, hess); err == nil {
		t.Error("empty params accepted")
	}
}

// TestLinalgFollowsISA: the factorization's kernel set is the one package
// optim dispatches to, under any OPTIM_ISA.
func TestLinalgFollowsISA(t *testing.T) {
	if got, want := linalg.Kernel(), optim.ISA(); got != want {
		t.Errorf("linalg uses %s, optim %s (OPTIM_ISA=%q)", got, want, os.Getenv("OPTIM_ISA"))
	}
}

// TestDefaultNewton: the defaults are the documented values, and the
// zero value is an error that points to them.
func TestDefaultNewton(t *testing.T) {
	nt := optim.DefaultNewton()
	if nt.LR != 1 || nt.Beta != 1e-3 || nt.Grow != 2 || nt.MaxAttempts != 60 {
		t.Errorf("DefaultNewton() = %+v", nt)
	}
	x := []float64{1, 2}
	hess := func(x, h []float64) { h[0], h[3] = 4, 4 }
	if _, err := nt.Step(x, []float64{4, 8}, hess); err != nil || x[0] != 0 || x[1] != 0 {
		t.Errorf("x = %v, %v", x, err)
	}
	var zero optim.Newton
	_, err := zero.Step(x, []float64{2, 2}, hess)
	var fe *optim.HyperparameterError
	if !errors.As(err, &fe) || fe.Field != "LR" || fe.Value != 0 || !strings.Contains(err.Error(), "DefaultNewton") {
		t.Errorf("zero Newton: %v", err)
	}
}

// TestNewtonFieldOutOfRange: every field means exactly its value; a value
// outside its domain is a *HyperparameterError naming it, and nothing moves.
func TestNewtonFieldOutOfRange(t *testing.T) {
	for _, tc := range []struct {
		field string
		value float64
		set   func(*optim.Newton)
	}{
		{"LR", -1, func(nt *optim.Newton) { nt.LR = -1 }},
		{"LR", 0, func(nt *optim.Newton) { nt.LR = 0 }},
		{"LR", math.Inf(1), func(nt *optim.Newton) { nt.LR = math.Inf(1) }},
		{"LR", math.NaN(), func(nt *optim.Newton) { nt.LR = math.NaN() }},
		{"Beta", 0, func(nt *optim.Newton) { nt.Beta = 0 }},
		{"Beta", -1e-3, func(nt *optim.Newton) { nt.Beta = -1e-3 }},
		{"Beta", math.Inf(1), func(nt *optim.Newton) { nt.Beta = math.Inf(1) }},
		{"Grow", 1, func(nt *optim.Newton) { nt.Grow = 1 }},
		{"Grow", math.NaN(), func(nt *optim.Newton) { nt.Grow = math.NaN() }},
		{"Grow", math.Inf(1), func(nt *optim.Newton) { nt.Grow = math.Inf(1) }},
		{"MaxAttempts", 0, func(nt *optim.Newton) { nt.MaxAttempts = 0 }},
		{"MaxAttempts", -5, func(nt *optim.Newton) { nt.MaxAttempts = -5 }},
	} {
		nt := optim.DefaultNewton()
		tc.set(&nt)
		x := []float64{1, 2}
		called := false
		_, err := nt.Step(x, []float64{1, 1}, func(x, h []float64) { called = true; h[0], h[3] = 1, 1 })
		var fe *optim.HyperparameterError
		if !errors.As(err, &fe) || fe.Field != tc.field || !(fe.Value == tc.value || math.IsNaN(tc.value) && math.IsNaN(fe.Value)) {
			t.Errorf("%s = %v: error %v", tc.field, tc.value, err)
			continue
		}
		if !strings.Contains(err.Error(), "Newton."+tc.field) {
			t.Errorf("%s = %v: message %q does not name the field", tc.field, tc.value, err)
		}
		if x[0] != 1 || x[1] != 2 || called {
			t.Errorf("%s = %v: x = %v, hessian called: %v", tc.field, tc.value, x, called)
		}
	}
}

// TestNewtonHessianPartialFill: h is zeroed before every call of the
// Hessian callback, so one that writes only the diagonal means a diagonal
// H, not the rest of the previous step's factor.
func TestNewtonHessianPartialFill(t *testing.T) {
	nt := optim.DefaultNewton()
	x := []float64{0, 0}
	full := func(x, h []float64) { h[0], h[1], h[2], h[3] = 4, 1, 1, 3 }
	if _, err := nt.Step(x, []float64{1, 1}, full); err != nil {
		t.Fatal(err)
	}
	x = []float64{0, 0}
	diag := func(x, h []float64) {
		for i, v := range h {
			if v != 0 {
				t.Errorf("h[%d] = %g before the callback", i, v)
			}
		}
		h[0], h[3] = 4, 16
	}
	if _, err := nt.Step(x, []float64{1, 1}, diag); err != nil {
		t.Fatal(err)
	}
	if x[0] != -0.25 || x[1] != -0.0625 {
		t.Errorf("x = %v, want [-0.25 -0.0625]", x)
	}
}

// TestNewtonTooLarge: a dense n×n Hessian beyond MaxNewtonOrder is a typed
// error before anything is allocated or called.
func TestNewtonTooLarge(t *testing.T) {
	for _, n := range []int{1 << 20, optim.MaxNewtonOrder + 1} {
		nt := optim.DefaultNewton()
		x := make([]float64, n)
		called := false
		_, err := nt.Step(x, make([]float64, n), func(x, h []float64) { called = true })
		var se *optim.NewtonSizeError
		if !errors.As(err, &se) || se.N != n || se.Max != optim.MaxNewtonOrder || called {
			t.Errorf("n = %d: %v (hessian called: %v)", n, err, called)
		}
	}
}

// TestNewtonStepOverflow: a finite step that takes params to ±Inf is an
// error, and params is untouched.
func TestNewtonStepOverflow(t *testing.T) {
	nt := optim.DefaultNewton()
	nt.LR = 1e10
	x := []float64{1, 1e300}
	hess := func(x, h []float64) { h[0], h[3] = 1, 1 }
	if _, err := nt.Step(x, []float64{-1, -1e300}, hess); err == nil || x[0] != 1 || x[1] != 1e300 {
		t.Errorf("x = %v, %v", x, err)
	}
	if tau := nt.Tau(); tau != 0 {
		t.Errorf("Tau() = %g after a failed first step", tau)
	}
}
