package main

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/simdoptim/optim"
)

// Figures 4 and 5: loss curves.

// convergenceFigure is figure 5: f - f* against the iteration for every
// method on the table's problems (the configured ravine and Rosenbrock's
// valley) and on the saddle, run exactly as the tables run them: the
// curves end where the table's count does.
func convergenceFigure(c config) (*figure, error) {
	f := &figure{name: "5-convergence", width: 1650, height: 620, cols: 3,
		title: fmt.Sprintf("Figure 5. Convergence: f - f* against the iteration, until f - f* <= %g or %d steps", c.tol, c.budget)}
	floor := c.tol / 10
	if floor <= 0 {
		floor = 1e-16
	}
	for _, p := range []*Problem{Ravine(c.kappa, c.angle), Rosenbrock(), Saddle()} {
		title := p.Name
		if p.Name == "ravine" {
			title = fmt.Sprintf("ravine, kappa %g, rotated %g°", c.kappa, c.angle)
		}
		pl := newPanel(title, "iteration + 1", "f - f*")
		logX(pl)
		logY(pl)
		var top float64
		for _, m := range Methods() {
			fs := losses(m, p, c.budget, c.tol)
			top = max(top, fs[0]-p.FMin)
			if err := addLine(pl, m.Name, gapCurve(fs, p.FMin, floor, true), methodColors[m.Name], vg.Points(1.3), false); err != nil {
				return nil, err
			}
		}
		// Room above the curves for the legend.
		pl.X.Min, pl.Y.Min, pl.Y.Max = 1, floor, 1e5*top
		pl.Legend.Left = p.Name == "saddle"
		f.panels = append(f.panels, pl)
	}
	return f, nil
}

// losses runs m on p as the table does and returns f at every iterate.
func losses(m Method, p *Problem, budget int, tol float64) []float64 {
	var fs []float64
	q := *p
	q.F = p.objective()
	q.Value = func(x []float64) float64 {
		v := p.Value(x)
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			fs = append(fs, v)
		}
		return v
	}
	m.Run(&q, budget, tol)
	return fs
}

// leastSquares is the ravine as a finite sum, the way a training loss is
// one: f(w) = 1/(2N) sum_i (a_i . w - b_i)^2, where the inputs a_i have
// covariance H = R diag(1, kappa) R^T (the ravine's Hessian) and the
// targets b_i have noise, so that f* > 0 and mini-batch gradients are
// unbiased but noisy estimates of the full gradient.
type leastSquares struct {
	a    [][2]float64
	b    []float64
	wMin [2]float64 // the exact minimizer
	fMin float64
	x0   [2]float64
}

func newLeastSquares(n int, kappa, angleDeg float64, seed uint64) *leastSquares {
	r := rand.New(rand.NewPCG(seed, 0x1ea5))
	th := angleDeg * math.Pi / 180
	c, s := math.Cos(th), math.Sin(th)
	sk := math.Sqrt(kappa)
	ls := &leastSquares{}
	wTrue := [2]float64{0, 0}
	for range n {
		u, v := r.NormFloat64(), sk*r.NormFloat64()
		a := [2]float64{c*u - s*v, s*u + c*v}
		ls.a = append(ls.a, a)
		ls.b = append(ls.b, a[0]*wTrue[0]+a[1]*wTrue[1]+0.5*r.NormFloat64())
	}
	// The normal equations (1/N) A^T A w = (1/N) A^T b, solved exactly.
	var h [3]float64
	var rhs [2]float64
	for i, a := range ls.a {
		h[0] += a[0] * a[0]
		h[1] += a[0] * a[1]
		h[2] += a[1] * a[1]
		rhs[0] += a[0] * ls.b[i]
		rhs[1] += a[1] * ls.b[i]
	}
	det := h[0]*h[2] - h[1]*h[1]
	ls.wMin = [2]float64{(h[2]*rhs[0] - h[1]*rhs[1]) / det, (h[0]*rhs[1] - h[1]*rhs[0]) / det}
	ls.fMin = ls.value(ls.wMin[:])
	// The ravine's start, relative to the minimizer.
	ls.x0 = [2]float64{ls.wMin[0] + c - s/2, ls.wMin[1] + s + c/2}
	return ls
}

func (ls *leastSquares) value(w []float64) float64 {
	var sum float64
	for i, a := range ls.a {
		d := a[0]*w[0] + a[1]*w[1] - ls.b[i]
		sum += d * d
	}
	return sum / float64(2*len(ls.a))
}

// batchGrad writes the mean gradient of the examples idx into g.
func (ls *leastSquares) batchGrad(w []float64, idx []int, g []float64) {
	g[0], g[1] = 0, 0
	for _, i := range idx {
		a := ls.a[i]
		d := a[0]*w[0] + a[1]*w[1] - ls.b[i]
		g[0] += d * a[0]
		g[1] += d * a[1]
	}
	g[0] /= float64(len(idx))
	g[1] /= float64(len(idx))
}

// noisyRun is SGD with mini-batches of one size: the loss after every step
// against the examples whose gradients it has evaluated, and the path.
type noisyRun struct {
	batch int
	evals plotter.XYs // (gradient evaluations, f - f*)
	path  plotter.XYs
}

// runBatches runs SGD at lr on ls with batches drawn with replacement
// until evals gradient evaluations are spent, recording the path for the
// first pathEvals of them.
func runBatches(ls *leastSquares, batch, evals, pathEvals int, lr float64, seed uint64) (noisyRun, error) {
	r := rand.New(rand.NewPCG(seed, uint64(batch)))
	w := ls.x0[:]
	w = append([]float64(nil), w...)
	g := make([]float64, 2)
	opt, err := optim.New[float64](optim.SGD{LR: lr}, w)
	if err != nil {
		return noisyRun{}, err
	}
	run := noisyRun{batch: batch}
	idx := make([]int, batch)
	record := func(spent int) {
		run.evals = append(run.evals, plotter.XY{X: float64(max(spent, 1)), Y: max(ls.value(w)-ls.fMin, 1e-12)})
	}
	record(0)
	run.path = append(run.path, plotter.XY{X: w[0], Y: w[1]})
	next := 1.0 // record on a log grid: ~50 points per decade
	for spent := batch; spent <= evals; spent += batch {
		for k := range idx {
			if batch == len(ls.a) {
				idx[k] = k
			} else {
				idx[k] = r.IntN(len(ls.a))
			}
		}
		ls.batchGrad(w, idx, g)
		if err := opt.Step(g); err != nil {
			return run, err
		}
		if spent <= pathEvals {
			run.path = append(run.path, plotter.XY{X: w[0], Y: w[1]})
		}
		if float64(spent) >= next || spent+batch > evals {
			record(spent)
			for next <= float64(spent) {
				next *= math.Pow(10, 1.0/50)
			}
		}
	}
	return run, nil
}

// noisyFigure is figure 4: the ravine as a least-squares problem, solved
// by SGD with mini-batches of 1, 8 and 64 examples and with the full
// batch, at one learning rate.
func noisyFigure() (*figure, error) {
	const (
		n, kappa, lr = 1024, 10.0, 0.05
		evals        = 1 << 17
		pathEvals    = 1024
	)
	ls := newLeastSquares(n, kappa, 30, 7)
	f := &figure{name: "4-minibatch", width: 1500, height: 680, cols: 2,
		title: fmt.Sprintf("Figure 4. Mini-batch noise: SGD (lr %g) on the ravine as least squares over %d examples (kappa %g)", lr, n, kappa)}
	prob := &Problem{Value: ls.value}
	l := landscape{p: prob, x0: ls.wMin[0] - 0.5, x1: ls.wMin[0] + 1.3, y0: ls.wMin[1] - 0.5, y1: ls.wMin[1] + 1.3,
		levels: logLevels(ls.fMin, 1e-3, 30, 2), ticks: 0.5}
	paths := l.panel(fmt.Sprintf("paths over the first %d gradient evaluations", pathEvals))
	curves := newPanel("f - f* against the gradient evaluations (examples seen)", "gradient evaluations", "f - f*")
	logX(curves)
	logY(curves)
	batches := []int{1, 8, 64, n}
	runs := make([]noisyRun, len(batches))
	for i, b := range batches {
		var err error
		if runs[i], err = runBatches(ls, b, evals, pathEvals, lr, 11); err != nil {
			return nil, err
		}
	}
	name := func(b int) string {
		if b == n {
			return fmt.Sprintf("full batch (%d)", n)
		}
		return fmt.Sprintf("batch %d", b)
	}
	for i := range runs {
		if err := addLine(curves, name(batches[i]), runs[i].evals, palette[i], vg.Points(1.1), false); err != nil {
			return nil, err
		}
	}
	// The noisiest path first, so that its cloud covers no other.
	for i := range runs {
		if err := addLine(paths, "", runs[i].path, palette[i], vg.Points(0.8), false); err != nil {
			return nil, err
		}
		if err := addPoints(paths, runs[i].path, palette[i], vg.Points(1.2)); err != nil {
			return nil, err
		}
	}
	paths.Legend = curves.Legend
	l.window(paths)
	curves.Legend.Left, curves.Legend.Top = true, false
	paths.Legend.Left, paths.Legend.Top = false, false
	curves.Y.Min = 1e-8
	f.panels = []*plot.Plot{paths, curves}
	return f, nil
}
