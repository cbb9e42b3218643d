package optim

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func init() { matrixReplayers["LBFGS"] = replayLBFGSGolden }

// rosenbrock returns sum(100 (x[i+1]-x[i]^2)^2 + (1-x[i])^2) in T and
// writes its gradient into g, in the operation order of torch's autograd
// for (100*(x[1:]-x[:-1]**2)**2 + (1-x[:-1])**2).sum(): g[:-1] is
// (-ga·(2x)) + (-gb), then g[1:] += ga, with ga = 100·(2a), gb = 2b.
func rosenbrock[T float32 | float64](x, g []T) T {
	n := len(x)
	terms := make([]T, n-1)
	for i := range n - 1 {
		a := x[i+1] - T(x[i]*x[i])
		b := 1 - x[i]
		terms[i] = T(T(100*T(a*a)) + T(b*b))
	}
	loss := torchSum(terms, false) // torch's (...).sum()
	g[n-1] = 0
	for i := range n - 1 {
		a := x[i+1] - T(x[i]*x[i])
		b := 1 - x[i]
		ga := T(100 * T(2*a))
		gb := T(2 * b)
		g[i] = T(T(-ga*T(2*x[i])) + -gb)
	}
	for i := range n - 1 {
		a := x[i+1] - T(x[i]*x[i])
		g[i+1] = T(g[i+1] + T(100*T(2*a)))
	}
	return loss
}

// lbfgsGolden is a file of testdata/torch-matrix for torch's LBFGS.
type lbfgsGolden struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Hyper struct {
		LR              *float64 `json:"lr"`
		MaxIter         *int     `json:"max_iter"`
		MaxEval         *int     `json:"max_eval"`
		ToleranceGrad   *float64 `json:"tolerance_grad"`
		ToleranceChange *float64 `json:"tolerance_change"`
		HistorySize     *int     `json:"history_size"`
		LineSearchFn    *string  `json:"line_search_fn"`
	} `json:"hyper"`
	Objective   string      `json:"objective"`
	Params0     []float64   `json:"params0"`
	Params      [][]float64 `json:"params"`
	Losses      []float64   `json:"losses"`
	Evaluations []int       `json:"evaluations"`
}

// config is the file's LBFGS: torch's defaults, then its keywords.
func (g *lbfgsGolden) config() LBFGS {
	c := DefaultLBFGS()
	h := g.Hyper
	if h.LR != nil {
		c.LR = *h.LR
	}
	if h.MaxIter != nil {
		c.MaxIter = *h.MaxIter
	}
	if h.MaxEval != nil {
		c.MaxEval = *h.MaxEval
	}
	if h.ToleranceGrad != nil {
		c.ToleranceGrad = *h.ToleranceGrad
	}
	if h.ToleranceChange != nil {
		c.ToleranceChange = *h.ToleranceChange
	}
	if h.HistorySize != nil {
		c.HistorySize = *h.HistorySize
	}
	if h.LineSearchFn != nil {
		c.LineSearch = LineSearch(*h.LineSearchFn)
	}
	return c
}

// replayLBFGSGolden runs torch's recorded LBFGS steps on the Rosenbrock
// function and compares the parameters after each step (within 1e-5 for
// float32, 1e-10 for float64), the loss each step returned and the number
// of closure calls, which must be equal.
func replayLBFGSGolden(t *testing.T, raw []byte) {
	var g lbfgsGolden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	switch g.DType {
	case "float32":
		replayLBFGS[float32](t, &g, 1e-5)
	case "float64":
		replayLBFGS[float64](t, &g, 1e-10)
	default:
		t.Fatalf("dtype %q", g.DType)
	}
}

func replayLBFGS[T float32 | float64](t *testing.T, g *lbfgsGolden, tol float64) {
	if !strings.HasPrefix(g.Objective, "rosenbrock") && !strings.HasPrefix(g.Objective, "linear") {
		t.Fatalf("objective %q", g.Objective)
	}
	if len(g.Params) != len(g.Losses) || len(g.Params) != len(g.Evaluations) || len(g.Params0) < 2 {
		t.Fatalf("%d params, %d losses, %d evaluations, %d elements", len(g.Params), len(g.Losses), len(g.Evaluations), len(g.Params0))
	}
	x := make([]T, len(g.Params0))
	for i, v := range g.Params0 {
		x[i] = T(v)
	}
	opt, err := NewLBFGS(g.config(), x)
	if err != nil {
		t.Fatal(err)
	}
	for s := range g.Params {
		calls := 0
		loss, err := opt.Step(func() (float64, error) {
			calls++
			if strings.HasPrefix(g.Objective, "linear") {
				// -x.sum(): torch's sum, negated; the gradient is -1.
				for i := range opt.Grad(0) {
					opt.Grad(0)[i] = -1
				}
				return float64(-torchSum(x, false)), nil
			}
			return float64(rosenbrock(x, opt.Grad(0))), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		for i, v := range g.Params[s] {
			worst = math.Max(worst, math.Abs(float64(x[i])-v))
		}
		t.Logf("step %d: loss %v (torch %v), %d calls (torch %d), params within %.3g", s, loss, g.Losses[s], calls, g.Evaluations[s], worst)
		if calls != g.Evaluations[s] {
			t.Errorf("step %d: %d closure calls, torch %d", s, calls, g.Evaluations[s])
		}
		if !(worst <= tol) {
			t.Errorf("step %d: params differ from torch's by %g, want <= %g", s, worst, tol)
		}
		if rel := math.Abs(loss-g.Losses[s]) / math.Max(1, math.Abs(g.Losses[s])); !(rel <= tol) {
			t.Errorf("step %d: loss %v, torch %v", s, loss, g.Losses[s])
		}
		if t.Failed() {
			return
		}
	}
}

var _ = fmt.Sprint

// TestLBFGSGoldenBranches replays testdata/torch-lbfgs: torch's LBFGS with
// a history that evicts, MaxEval, the tolerances, other learning rates
// and lengths (make_lbfgs_golden.py there), by the same replayer and
// tolerances as testdata/torch-matrix.
func TestLBFGSGoldenBranches(t *testing.T) {
	files, _ := filepath.Glob("testdata/torch-lbfgs/lbfgs_*.json.gz")
	if len(files) < 26 {
		t.Fatalf("testdata/torch-lbfgs holds %d files, want 26", len(files))
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".json.gz"), func(t *testing.T) {
			replayLBFGSGolden(t, readGzip(t, path))
		})
	}
}

// TestLBFGSTorchSum compares torchSum with torch's x.sum() and
// x.abs().sum() (testdata/torch-lbfgs/make_sums.py) bit for bit, for
// lengths around the vector widths and up to torch's one-thread limit.
func TestLBFGSTorchSum(t *testing.T) {
	var rec struct {
		Sums []struct {
			DType  string  `json:"dtype"`
			N      int     `json:"n"`
			Sum    float64 `json:"sum"`
			AbsSum float64 `json:"abs_sum"`
		} `json:"sums"`
	}
	if err := json.Unmarshal(readGzip(t, "testdata/torch-lbfgs/sums.json.gz"), &rec); err != nil {
		t.Fatal(err)
	}
	check := func(name string, n int, got, want float64) {
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("%s n=%d: %v, torch %v", name, n, got, want)
		}
	}
	for _, c := range rec.Sums {
		x := make([]float64, c.N)
		for i := range x {
			x[i] = float64((i*7919)%2001-1000) * math.Ldexp(1, (i*31)%20-10) / 3
		}
		if c.DType == "float32" {
			x32 := make([]float32, c.N)
			for i, v := range x {
				x32[i] = float32(v)
			}
			check("float32 sum", c.N, float64(torchSum(x32, false)), c.Sum)
			check("float32 abs sum", c.N, float64(torchSum(x32, true)), c.AbsSum)
		} else {
			check("float64 sum", c.N, torchSum(x, false), c.Sum)
			check("float64 abs sum", c.N, torchSum(x, true), c.AbsSum)
		}
	}
	if len(rec.Sums) < 180 {
		t.Errorf("%d sums", len(rec.Sums))
	}
}
