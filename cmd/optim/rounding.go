package main

import (
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/simdoptim/optim"
	"github.com/simdoptim/optim/kernels"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Figure 12: bfloat16 parameters stepped by SGD, rounded to nearest even
// and stochastically, against float32. bfloat16 keeps 8 significant bits,
// so between 4 and 8 its values are 1/32 apart, and an update smaller than
// half of that gap rounds back to the old value: rounded to nearest, the
// run stops where the gradient times the rate falls below half a gap, far
// above the minimum. Rounded stochastically, the new value is the upper
// neighbour with probability equal to its distance from the lower one in
// gaps, so the step is kept on average and the run goes on.
//
// The three runs use the library's stateless layer with one rule: the
// kernel (optim.KernelKind) and each step's scalars
// (optim.CoefficientsWith) of optim.SGD, the float32 step
// (kernels.Parallel on one worker), and the bfloat16 steps
// (kernels.StepLowp, kernels.StepLowpSR) on the dispatched set
// (optim.Kernels()). Every set gives the same bits, and the stochastic
// rounding's random bits are a function of (seed, parameter, step,
// element), so the runs have the same bits on every run, set and CPU
// (TestRoundingFigure checks a digest of them) and the figure the same
// bytes on every run. The problem's own arithmetic (data, gradient, loss) is float64 with
// every product converted explicitly, so that Go does not fuse it into an
// FMA on arm64 or GOAMD64=v3.

// The rounding figure's problem and run: linear regression with
// roundingDim weights between 1 and 8 from roundingExamples noisy
// examples, full-batch SGD from zero at rate roundingLR for roundingSteps
// steps. The rate is large enough that the early steps move the weights
// by many bfloat16 gaps, and the run long enough for float32 to reach the
// noise floor.
const (
	roundingDim      = 32
	roundingExamples = 128
	roundingLR       = 0.01
	roundingSteps    = 3000
	roundingSeed     = 12 // the data's
	roundingSRSeed   = 7  // the stochastic rounding's
	roundingEvery    = 5  // steps between recorded points
)

// regression is the least-squares problem f(w) = (1/2m)·|Xw − y|², held as
// its normal equations: the Hessian h = XᵀX/m (d×d, row-major), b = Xᵀy/m,
// the minimizer wMin and the minimum fMin, so that the gradient is hw − b
// and f(w) = fMin + ½(w − wMin)ᵀh(w − wMin), accurate down to the float32
// run's last bits.
type regression struct {
	d      int
	h, b   []float64
	wTrue  []float64 // the weights that made the targets
	wMin   []float64
	fMin   float64
	nEx    int
	resid2 float64 // |X wMin − y|²
}

// newRegression draws m examples of d features, uniform in [−√3, √3]
// (variance 1; uniform rather than Gaussian because the inversion of a
// normal draw goes through math.Log and math.Exp, whose last bit may differ
// between architectures), targets y = X·wTrue + noise with wTrue uniform in
// [1, 8] and noise uniform in [−0.5, 0.5].
func newRegression(d, m int, seed uint64) *regression {
	r := rand.New(rand.NewPCG(seed, 0xbf16))
	rg := &regression{d: d, nEx: m, h: make([]float64, d*d), b: make([]float64, d), wTrue: make([]float64, d)}
	for i := range rg.wTrue {
		rg.wTrue[i] = 1 + 7*r.Float64()
	}
	x := make([]float64, m*d)
	y := make([]float64, m)
	s3 := math.Sqrt(3)
	for k := range m {
		row := x[k*d : (k+1)*d]
		for i := range row {
			row[i] = s3 * (2*r.Float64() - 1)
		}
		y[k] = dot(row, rg.wTrue) + (r.Float64() - 0.5)
	}
	for k := range m {
		row := x[k*d : (k+1)*d]
		for i := range d {
			for j := range d {
				rg.h[i*d+j] += float64(row[i] * row[j])
			}
			rg.b[i] += float64(row[i] * y[k])
		}
	}
	for i := range rg.h {
		rg.h[i] /= float64(m)
	}
	for i := range rg.b {
		rg.b[i] /= float64(m)
	}
	rg.wMin = choleskySolve(rg.h, rg.b, d)
	for k := range m {
		e := dot(x[k*d:(k+1)*d], rg.wMin) - y[k]
		rg.resid2 += float64(e * e)
	}
	rg.fMin = rg.resid2 / float64(2*m)
	return rg
}

// dot is Σ a[i]·b[i], left to right, each product rounded before the sum.
func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += float64(a[i] * b[i])
	}
	return s
}

// choleskySolve solves h·w = b for a symmetric positive definite h (d×d,
// row-major) by Cholesky factorization, h = LLᵀ.
func choleskySolve(h, b []float64, d int) []float64 {
	l := make([]float64, d*d)
	for i := range d {
		for j := 0; j <= i; j++ {
			s := h[i*d+j] - dot(l[i*d:i*d+j], l[j*d:j*d+j])
			if i == j {
				l[i*d+i] = math.Sqrt(s)
			} else {
				l[i*d+j] = s / l[j*d+j]
			}
		}
	}
	w := make([]float64, d)
	for i := range d { // L z = b
		w[i] = (b[i] - dot(l[i*d:i*d+i], w[:i])) / l[i*d+i]
	}
	for i := d - 1; i >= 0; i-- { // Lᵀ w = z
		s := w[i]
		for j := i + 1; j < d; j++ {
			s -= float64(l[j*d+i] * w[j])
		}
		w[i] = s / l[i*d+i]
	}
	return w
}

// grad sets g = h·w − b.
func (rg *regression) grad(g, w []float64) {
	d := rg.d
	for i := range d {
		g[i] = dot(rg.h[i*d:(i+1)*d], w) - rg.b[i]
	}
}

// excess returns f(w) − fMin = ½(w − wMin)ᵀh(w − wMin), using e as
// scratch.
func (rg *regression) excess(w, e []float64) float64 {
	d := rg.d
	for i := range d {
		e[i] = w[i] - rg.wMin[i]
	}
	s := 0.0
	for i := range d {
		s += float64(e[i] * dot(rg.h[i*d:(i+1)*d], e))
	}
	return s / 2
}

// roundingRun is one run's record: the excess loss f − f* and the weights
// at each recorded step, from step 0.
type roundingRun struct {
	name    string
	steps   []int
	excess  []float64
	weights [][]float64 // the whole weight vector at each recorded step
}

// roundingRuns is the figure's data: the problem and the float32,
// round-to-nearest and stochastically rounded runs.
type roundingRuns struct {
	rg   *regression
	runs [3]*roundingRun
}

// The storage of a run's parameters.
const (
	storeF32 = iota // float32
	storeRNE        // bfloat16, rounded to nearest even
	storeSR         // bfloat16, rounded stochastically
)

// runRounding steps the regression from w = 0 with SGD at rate lr in the
// three storages, with kernel set set (every set gives the same bits), and
// records each run every `every` steps and at the last. The gradient is
// computed in float64 from the stored weights and rounded to the storage's
// format (float32, or bfloat16 to nearest even for both bfloat16 runs), as
// a backward pass in that format would deliver it.
func runRounding(set *kernels.Set, rg *regression, lr float64, steps, every int, seed uint64) (*roundingRuns, error) {
	rule := optim.SGD{LR: lr}
	kind, err := optim.KernelKind(rule)
	if err != nil {
		return nil, err
	}
	d := rg.d
	out := &roundingRuns{rg: rg}
	w64, g64, e := make([]float64, d), make([]float64, d), make([]float64, d)
	for store, name := range [3]string{"float32", "bfloat16, round to nearest even", "bfloat16, stochastic rounding"} {
		run := &roundingRun{name: name}
		p32, g32 := make([]float32, d), make([]float32, d)
		p16, g16 := make([]uint16, d), make([]uint16, d)
		// widen loads the stored weights into w64: float32 and
		// bfloat16 values are exact in float64.
		widen := func() {
			for i := range d {
				if store == storeF32 {
					w64[i] = float64(p32[i])
				} else {
					w64[i] = float64(optim.BFloat16(p16[i]).Float32())
				}
			}
		}
		record := func(step int) {
			run.steps = append(run.steps, step)
			run.excess = append(run.excess, rg.excess(w64, e))
			run.weights = append(run.weights, append([]float64(nil), w64...))
		}
		widen()
		record(0)
		for step := 1; step <= steps; step++ {
			rg.grad(g64, w64)
			c, v, _, err := optim.CoefficientsWith[float32](rule, int64(step), step == 1, optim.Scalars{})
			if err != nil {
				return nil, fmt.Errorf("%s, step %d: %w", name, step, err)
			}
			switch store {
			case storeF32:
				for i := range d {
					g32[i] = float32(g64[i])
				}
				err = kernels.Parallel(1, set, kind, v, &c, p32, g32, nil, nil, nil)
			case storeRNE, storeSR:
				for i := range d {
					g16[i] = uint16(optim.BFloat16From(float32(g64[i])))
				}
				if store == storeRNE {
					err = kernels.StepLowp[uint16](set, kind, kernels.BFloat16, v, &c, p16, g16, nil, nil, nil)
				} else {
					sr := kernels.SR{Seed: seed, Param: 0, Step: uint64(step)}
					err = kernels.StepLowpSR[uint16](set, kind, kernels.BFloat16, v, &c, sr, p16, g16, nil, nil, nil)
				}
			}
			if err != nil {
				return nil, fmt.Errorf("%s, step %d: %w", name, step, err)
			}
			widen()
			if step%every == 0 || step == steps {
				record(step)
			}
		}
		out.runs[store] = run
	}
	return out, nil
}

// traced returns the weight that the round-to-nearest run leaves farthest
// from its optimum: the one the figure follows.
func (rr *roundingRuns) traced() int {
	rne := rr.runs[storeRNE].weights
	last := rne[len(rne)-1]
	best, far := 0, -1.0
	for i, w := range last {
		if e := math.Abs(w - rr.rg.wMin[i]); e > far {
			best, far = i, e
		}
	}
	return best
}

// roundingColors are the runs' colours: float32, the reference, in black,
// round to nearest in vermillion, stochastic rounding in blue.
var roundingColors = [3]color.Color{methodColors["SGD"], methodColors["Adam"], methodColors["Newton"]}

// roundingFigure is figure 12: the loss, the loss above its minimum and
// one weight against the step for the three runs.
func roundingFigure() (*figure, error) {
	rg := newRegression(roundingDim, roundingExamples, roundingSeed)
	rr, err := runRounding(optim.Kernels(), rg, roundingLR, roundingSteps, roundingEvery, roundingSRSeed)
	if err != nil {
		return nil, err
	}
	f := &figure{name: "12-bf16-rounding", width: 1650, height: 600, cols: 3,
		title: fmt.Sprintf("Figure 12. SGD (lr %g) on bfloat16 weights: rounded to nearest it stalls, rounded stochastically it keeps learning", roundingLR)}
	// A long label on the first panel's y axis pushes its title up, out
	// of line with the others (plot.Align): hence the short "f".
	loss := newPanel(fmt.Sprintf("loss f: linear regression, %d weights in [1, 8]", roundingDim), "step", "f")
	excess := newPanel("loss above its minimum", "step", "f − f*")
	k := rr.traced()
	weight := newPanel(fmt.Sprintf("weight %d (optimum %.3f)", k, rg.wMin[k]), "step", "value")
	logY(loss)
	logY(excess)
	// The legends go where the curves are not: above the floor in the
	// first panel, under the plateau in the last.
	loss.Legend.Top = false
	loss.Legend.YOffs = vg.Points(70)
	weight.Legend.Top = false
	for store, run := range rr.runs {
		var fx, ex, wx plotter.XYs
		for j, step := range run.steps {
			x := float64(step)
			fx = append(fx, plotter.XY{X: x, Y: rg.fMin + run.excess[j]})
			ex = append(ex, plotter.XY{X: x, Y: max(run.excess[j], 1e-12)})
			wx = append(wx, plotter.XY{X: x, Y: run.weights[j][k]})
		}
		width := vg.Points(1.6)
		if store == storeF32 {
			width = vg.Points(2.6) // under the stochastic run, which follows it
		}
		for _, pl := range []struct {
			p  *plot.Plot
			xy plotter.XYs
		}{{loss, fx}, {excess, ex}, {weight, wx}} {
			if err := addLine(pl.p, run.name, pl.xy, roundingColors[store], width, false); err != nil {
				return nil, err
			}
		}
	}
	end := float64(roundingSteps)
	if err := addLine(loss, "minimum f*", plotter.XYs{{X: 0, Y: rg.fMin}, {X: end, Y: rg.fMin}}, color.Gray{0x88}, vg.Points(1.2), true); err != nil {
		return nil, err
	}
	if err := addLine(weight, "optimum", plotter.XYs{{X: 0, Y: rg.wMin[k]}, {X: end, Y: rg.wMin[k]}}, color.Gray{0x88}, vg.Points(1.2), true); err != nil {
		return nil, err
	}
	loss.Y.Min = rg.fMin / 2
	var ticks plot.ConstantTicks
	for s := 0; s <= roundingSteps; s += 500 {
		ticks = append(ticks, plot.Tick{Value: float64(s), Label: strconv.Itoa(s)})
	}
	for _, p := range []*plot.Plot{loss, excess, weight} {
		p.X.Min, p.X.Max = 0, end
		p.X.Tick.Marker = ticks
	}
	f.panels = []*plot.Plot{loss, excess, weight}
	return f, nil
}
