package main

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/simdoptim/optim"
)

// Figures 1 to 3: the paths of the methods over the contours of a 2-D loss.

// trace runs m on p for exactly steps steps (no tolerance stops it) and
// returns every finite iterate, x_0 included, and its loss. It records what
// descend evaluates, so it sees the methods exactly as the table runs them.
func trace(m Method, p *Problem, steps int) (path plotter.XYs, loss []float64) {
	q := *p
	q.F = p.objective()
	q.Value = func(x []float64) float64 {
		f := p.Value(x)
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			path = append(path, plotter.XY{X: x[0], Y: x[1]})
			loss = append(loss, f)
		}
		return f
	}
	m.Run(&q, steps, math.Inf(-1))
	return path, loss
}

// lossGrid samples a 2-D loss on a regular grid, for plotter.Contour.
type lossGrid struct {
	x, y []float64
	z    []float64 // z[r*len(x)+c] = f(x[c], y[r])
}

func newLossGrid(f func([]float64) float64, x0, x1, y0, y1 float64, n int) *lossGrid {
	g := &lossGrid{x: make([]float64, n), y: make([]float64, n), z: make([]float64, n*n)}
	for i := range n {
		t := float64(i) / float64(n-1)
		g.x[i] = x0 + t*(x1-x0)
		g.y[i] = y0 + t*(y1-y0)
	}
	pt := make([]float64, 2)
	for r, y := range g.y {
		for c, x := range g.x {
			pt[0], pt[1] = x, y
			g.z[r*n+c] = f(pt)
		}
	}
	return g
}

func (g *lossGrid) Dims() (c, r int)   { return len(g.x), len(g.y) }
func (g *lossGrid) Z(c, r int) float64 { return g.z[r*len(g.x)+c] }
func (g *lossGrid) X(c int) float64    { return g.x[c] }
func (g *lossGrid) Y(r int) float64    { return g.y[r] }

// logLevels returns fmin + 10^(k/perDecade) for the k that fall in
// [lo, hi]: contour levels that stay evenly spaced in log(f - f*), so that
// a ravine shows both its steep walls and its flat floor.
func logLevels(fmin, lo, hi float64, perDecade int) []float64 {
	var levels []float64
	for k := int(math.Floor(math.Log10(lo) * float64(perDecade))); ; k++ {
		d := math.Pow(10, float64(k)/float64(perDecade))
		if d > hi {
			return levels
		}
		if d >= lo {
			levels = append(levels, fmin+d)
		}
	}
}

// landscape is a panel's loss surface: its contours and its window.
type landscape struct {
	p              *Problem
	x0, x1, y0, y1 float64
	levels         []float64
	ticks          stepTicks
}

// panel returns a plot of the contours in the window, with equal scales on
// both axes when the panel is square.
func (l landscape) panel(title string) *plot.Plot {
	pl := newPanel(title, "x", "y")
	pl.Add(&contourLines{grid: newLossGrid(l.p.Value, l.x0, l.x1, l.y0, l.y1, 161), levels: l.levels,
		color: color.Gray{0xb8}, width: vg.Points(0.6)})
	l.window(pl)
	pl.X.Tick.Marker, pl.Y.Tick.Marker = l.ticks, l.ticks
	return pl
}

// window sets the panel's axes to the landscape's window. Call it after
// adding the paths, which widen the axes to every iterate, and clip
// them.
func (l landscape) window(pl *plot.Plot) {
	pl.X.Min, pl.X.Max, pl.Y.Min, pl.Y.Max = l.x0, l.x1, l.y0, l.y1
}

// addPath draws a method's iterates as a line with a dot on each, with a
// legend entry unless legend is empty.
func addPath(pl *plot.Plot, method, legend string, path plotter.XYs) error {
	c := methodColors[method]
	if err := addLine(pl, legend, path, c, vg.Points(1), false); err != nil {
		return err
	}
	return addPoints(pl, path, c, vg.Points(1.3))
}

// ruleLabel is a rule's hyperparameters, short enough for a panel title.
func ruleLabel(r optim.Rule) string {
	switch r := r.(type) {
	case optim.SGD:
		s := fmt.Sprintf("lr %.3g", r.LR)
		if r.Momentum != 0 {
			s += fmt.Sprintf(", m %.3g", r.Momentum)
		}
		return s
	case optim.Adagrad:
		return fmt.Sprintf("lr %.3g", r.LR)
	case optim.RMSProp:
		return fmt.Sprintf("lr %.3g, alpha %.3g", r.LR, r.Alpha)
	case optim.Adam:
		return fmt.Sprintf("lr %.3g, betas %.3g %.3g", r.LR, r.Beta1, r.Beta2)
	}
	return ""
}

// methodLabel is a method's name with its hyperparameters on p.
func methodLabel(m Method, p *Problem) string {
	if t, ok := p.Tuned[m.Name]; ok {
		return m.Name + " (" + ruleLabel(t.Rule) + ")"
	}
	return m.Name
}

// pathFigure draws one panel per method with its first steps iterates over
// the contours, and an eighth panel with f - f* against the iteration.
func pathFigure(name, title string, l landscape, steps int) (*figure, error) {
	// Four panels a row: one per method and the loss panel.
	rows := (len(Methods()) + 1 + 3) / 4
	f := &figure{name: name, title: title, width: 1600, height: 60 + 400*rows, cols: 4}
	loss := newPanel(fmt.Sprintf("f - f* over the first %d steps", steps), "iteration", "f - f*")
	logY(loss)
	floor := 1e-12
	for _, m := range Methods() {
		path, fs := trace(m, l.p, steps)
		pl := l.panel(methodLabel(m, l.p))
		if err := addPath(pl, m.Name, "", path); err != nil {
			return nil, err
		}
		l.window(pl)
		f.panels = append(f.panels, pl)
		if err := addLine(loss, m.Name, gapCurve(fs, l.p.FMin, floor, false), methodColors[m.Name], vg.Points(1.2), false); err != nil {
			return nil, err
		}
	}
	// Room above the curves for the legend.
	loss.Y.Min, loss.Y.Max = floor, 1e6*(l.p.Value(l.p.X0)-l.p.FMin)
	f.panels = append(f.panels, loss)
	return f, nil
}

// gapCurve turns losses into (iteration, f - f*) points, drawing gaps
// below floor at floor (a log axis cannot show 0). With logIters the x
// values are iteration + 1 (a log axis cannot show iteration 0 either),
// thinned to about 100 per decade, which is all a log axis can show.
func gapCurve(fs []float64, fmin, floor float64, logIters bool) plotter.XYs {
	var xy plotter.XYs
	for i, f := range fs {
		x := float64(i)
		if logIters {
			if i > 100 && i%(i/100) != 0 && i != len(fs)-1 {
				continue
			}
			x++
		}
		xy = append(xy, plotter.XY{X: x, Y: max(f-fmin, floor)})
	}
	return xy
}

// pictureRavine is the ravine of figure 1: conditioned mildly enough (kappa
// 25) that its contours are ellipses one can see, not lines. The table
// tunes for the fewest steps to 1e-10; the picture shows what the
// literature draws instead: SGD at lr = 1.8/L, where the steep direction
// overshoots and the path zig-zags (the table's 1/L removes the steep
// component in one exact step), and Momentum at the same lr with m = 0.5,
// which damps the zig-zag and speeds along the floor (Nesterov diverges at
// that lr, so it keeps the table's theory setting for kappa 25). The
// adaptive rules run at lr 0.1 (RMSProp 0.01), short of their table
// settings, whose first steps would leave the window.
func pictureRavine() *Problem {
	const kappa = 25
	p := Ravine(kappa, 30)
	lr := 1.8 / kappa
	p.Tuned["SGD"] = Tuned{optim.SGD{LR: lr}, "lr = 1.8/L"}
	p.Tuned["Momentum"] = Tuned{optim.SGD{LR: lr, Momentum: 0.5}, "lr = 1.8/L, m = 0.5"}
	p.Tuned["AdaGrad"] = Tuned{optim.Adagrad{LR: 0.1, Eps: 1e-10}, "lr = 0.1"}
	p.Tuned["RMSProp"] = Tuned{optim.RMSProp{LR: 0.01, Alpha: 0.99, Eps: 1e-8}, "lr = 0.01"}
	p.Tuned["Adam"] = Tuned{optim.Adam{LR: 0.1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, "lr = 0.1"}
	return p
}

// ravineFigure is figure 1.
func ravineFigure() (*figure, error) {
	p := pictureRavine()
	l := landscape{p: p, x0: -0.4, x1: 1.2, y0: -0.4, y1: 1.2, levels: logLevels(0, 1e-3, 30, 2), ticks: 0.4}
	return pathFigure("1-ravine",
		"Figure 1. The ravine f = (u² + 25 v²)/2, rotated 30°: the first 150 steps from (0.62, 0.93)", l, 150)
}

// rosenbrockFigure is figure 2, with the table's rules.
func rosenbrockFigure() (*figure, error) {
	p := Rosenbrock()
	l := landscape{p: p, x0: -2, x1: 2, y0: -1, y1: 3, levels: logLevels(0, 1e-2, 3e3, 2), ticks: 1}
	return pathFigure("2-rosenbrock",
		"Figure 2. Rosenbrock's valley f = (1 - x)² + 100 (y - x²)²: the first 300 steps from (-1.2, 1)", l, 300)
}

// saddleFigure is figure 3: every method's path from next to the saddle,
// and f against the iteration.
func saddleFigure() (*figure, error) {
	const steps = 200
	p := Saddle()
	f := &figure{name: "3-saddle", width: 1500, height: 700, cols: 2,
		title: "Figure 3. The saddle f = x²/2 - y²/2 + y⁴/4, from (1, 1e-6): plain gradient descent stalls"}
	l := landscape{p: p, x0: -1.5, x1: 1.5, y0: -1.5, y1: 1.5,
		levels: logLevels(p.FMin, 2e-2, 3, 4), ticks: 0.5}
	paths := l.panel(fmt.Sprintf("paths of the first %d steps", steps))
	values := newPanel("f against the iteration (f* = -1/4 at (0, ±1))", "iteration", "f")
	for _, m := range Methods() {
		path, fs := trace(m, p, steps)
		if err := addPath(paths, m.Name, methodLabel(m, p), path); err != nil {
			return nil, err
		}
		var xy plotter.XYs
		for i, v := range fs {
			xy = append(xy, plotter.XY{X: float64(i), Y: v})
		}
		if err := addLine(values, m.Name, xy, methodColors[m.Name], vg.Points(1.5), false); err != nil {
			return nil, err
		}
	}
	l.window(paths)
	paths.Legend.Top, paths.Legend.Left = false, true
	f.panels = []*plot.Plot{paths, values}
	return f, nil
}
