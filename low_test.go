package optim

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/simdoptim/optim/kernels"
)

// TestLowOptimizerGolden replays every trajectory of testdata/torch-lowp
// through the public API, NewLow with the file's storage, each as a
// subtest named after its file: every step's parameters must have the bits
// of the stateless layer's replay (replayLowp, which TestGoldenTorchLowp
// holds to torch's tolerance) and be within torch's tolerance themselves.
func TestLowOptimizerGolden(t *testing.T) {
	all, _ := filepath.Glob("testdata/torch-lowp/*.json.gz")
	n := 0
	for _, path := range all {
		if strings.HasPrefix(filepath.Base(path), "conversions") {
			continue
		}
		n++
		t.Run(strings.TrimSuffix(filepath.Base(path), ".json.gz"), func(t *testing.T) {
			var run lowpTrajectory
			if err := json.Unmarshal(readGzip(t, path), &run); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if run.Dtype == "float16" {
				replayLowOptimizer[Float16](t, run)
			} else {
				replayLowOptimizer[BFloat16](t, run)
			}
		})
	}
	if n < minLowpTrajectories {
		t.Errorf("testdata/torch-lowp holds %d trajectories, want at least %d", n, minLowpTrajectories)
	}
}

func replayLowOptimizer[H BFloat16 | Float16](t *testing.T, run lowpTrajectory) {
	t.Helper()
	rule := goldenRule(t, goldenRun{Name: run.Optimizer, Optimizer: run.Optimizer, Hyper: run.Hyper})
	f := formatOf[H]()
	p := make([]H, run.N)
	for i, b := range run.Params0 {
		p[i] = H(b)
	}
	opt, err := NewLow(rule, LowOptions{StateFloat32: run.State == "float32"}, p)
	if err != nil {
		t.Fatal(err)
	}
	ref := append([]uint16(nil), run.Params0...)
	refRun := newLowpRun[uint16](t, rule, f, run.N)
	var ref32 *lowpRun[float32]
	if run.State == "float32" {
		ref32 = newLowpRun[float32](t, rule, f, run.N)
	}
	ulp := 0x1p-7
	if f == kernels.Float16 {
		ulp = 0x1p-10
	}
	for step := range run.Steps {
		g := make([]H, run.N)
		for i, b := range run.Grads[step] {
			g[i] = H(b)
		}
		if err := opt.Step(g); err != nil {
			t.Fatal(err)
		}
		if ref32 != nil {
			ref32.step(t, Kernels(), ref, run.Grads[step], nil)
		} else {
			refRun.step(t, Kernels(), ref, run.Grads[step], nil)
		}
		for i, want := range run.Params[step] {
			if uint16(p[i]) != ref[i] {
				t.Fatalf("step %d, element %d: %#04x, the stateless layer's %#04x", step+1, i, uint16(p[i]), ref[i])
			}
			got, w := float64(f.Widen(uint16(p[i]))), float64(f.Widen(want))
			if !(math.Abs(got-w) <= ulp*math.Max(1, math.Abs(w))) {
				t.Fatalf("step %d, element %d: %g, torch %g", step+1, i, got, w)
			}
		}
	}
	if got := opt.Steps(); got != int64(run.Steps) {
		t.Errorf("Steps() = %d, want %d", got, run.Steps)
	}
}

// lowCase is a LowOptimizer configuration of the tests below.
type lowCase struct {
	name string
	rule Rule
	opts LowOptions
}

func lowCases() []lowCase {
	var cases []lowCase
	for _, r := range []struct {
		name string
		rule Rule
	}{
		{"adamw", DefaultAdamW()},
		{"sgd-momentum", SGD{LR: 0.01, Momentum: 0.9, Nesterov: true}},
		{"adagrad", Adagrad{LR: 0.01, InitialAccumulatorValue: 0.1, Eps: 1e-10}},
		{"rmsprop-centered", RMSProp{LR: 0.001, Alpha: 0.99, Eps: 1e-8, Centered: true, Momentum: 0.5}},
	} {
		for _, o := range []struct {
			name string
			opts LowOptions
		}{
			{"param-state", LowOptions{}},
			{"float32-state", LowOptions{StateFloat32: true}},
			{"stochastic", LowOptions{Stochastic: true, Seed: 42}},
			{"stochastic-float32-state", LowOptions{StateFloat32: true, Stochastic: true, Seed: 7}},
		} {
			cases = append(cases, lowCase{r.name + "/" + o.name, r.rule, o.opts})
		}
	}
	return cases
}

// lowValues returns n values of a training run's scale, rounded to H.
func lowValues[H BFloat16 | Float16](rng *rand.Rand, n int, scale float64) []H {
	f := formatOf[H]()
	x := make([]H, n)
	for i := range x {
		x[i] = H(f.Narrow(float32(rng.NormFloat64() * scale)))
	}
	return x
}

// TestLowOptimizerWorkers: a step split between workers gives the bits of
// one worker's, for both formats, both state storages and stochastic
// rounding (whose random bits depend on the element's index in its
// parameter, not on the split).
func TestLowOptimizerWorkers(t *testing.T) {
	t.Run("bfloat16", func(t *testing.T) { lowWorkers[BFloat16](t) })
	t.Run("float16", func(t *testing.T) { lowWorkers[Float16](t) })
}

func lowWorkers[H BFloat16 | Float16](t *testing.T) {
	sizes := []int{3001, 1, 40000, 0, 777}
	steps := 3
	if testing.Short() {
		sizes, steps = []int{3001, 1, 9000, 0}, 2
	}
	for _, c := range lowCases() {
		t.Run(c.name, func(t *testing.T) {
			var want [][]H
			for _, workers := range []int{1, 2, 3} {
				rng := rand.New(rand.NewPCG(1, 2))
				var params [][]H
				for _, n := range sizes {
					params = append(params, lowValues[H](rng, n, 1))
				}
				opt, err := NewLowGroups(c.opts, LowGroup[H]{Rule: c.rule, Params: params[:2]}, LowGroup[H]{Rule: c.rule, Params: params[2:]})
				if err != nil {
					t.Fatal(err)
				}
				setSplit(t, opt, workers, 1000)
				for range steps {
					grads := make([][]H, len(params))
					for i, p := range params {
						grads[i] = lowValues[H](rng, len(p), 0.1)
					}
					if err := opt.Step(grads...); err != nil {
						t.Fatal(err)
					}
				}
				if got := opt.Workers(); got != workers {
					t.Errorf("Workers() = %d, want %d", got, workers)
				}
				opt.Close()
				if want == nil {
					want = params
					continue
				}
				for i := range params {
					if !slices.Equal(params[i], want[i]) {
						t.Fatalf("%d workers: parameter %d differs from one worker's", workers, i)
					}
				}
			}
		})
	}
}

// TestLowOptimizerStochastic: stochastic rounding keeps small updates that
// rounding to nearest loses. Every update of 1 by -lr·sign is a quarter of
// bfloat16's gap below 1: rounded to nearest, the parameter never moves;
// rounded stochastically, its mean follows the float32 trajectory.
func TestLowOptimizerStochastic(t *testing.T) {
	const n, steps, lr = 4096, 8, 0x1p-10 // the gap below 1 is 2^-8
	run := func(opts LowOptions) float64 {
		p := make([]BFloat16, n)
		g := make([]BFloat16, n)
		for i := range p {
			p[i], g[i] = BFloat16From(1), BFloat16From(1)
		}
		opt, err := NewLow(SGD{LR: lr}, opts, p)
		if err != nil {
			t.Fatal(err)
		}
		for range steps {
			if err := opt.Step(g); err != nil {
				t.Fatal(err)
			}
		}
		sum := 0.0
		for _, h := range p {
			sum += float64(h.Float32())
		}
		return sum / n
	}
	if got := run(LowOptions{}); got != 1 {
		t.Errorf("round to nearest: mean %g, want 1 (every update lost)", got)
	}
	want := 1 - steps*lr
	// The mean of n independent roundings, each off by at most one gap
	// per step: its standard deviation is at most 2^-8·sqrt(steps/n).
	if got := run(LowOptions{Stochastic: true, Seed: 3}); math.Abs(got-want) > 5*0x1p-8*math.Sqrt(steps/float64(n)) {
		t.Errorf("stochastic: mean %g, want %g", got, want)
	}
}

// TestLowOptimizerErrors: bad input is refused with a typed error, and
// nothing changes.
func TestLowOptimizerErrors(t *testing.T) {
	p := make([]BFloat16, 64)
	q := make([]BFloat16, 8)
	for i := range p {
		p[i] = BFloat16From(float32(i))
	}
	before := slices.Clone(p)
	opt, err := NewLow(DefaultAdam(), LowOptions{}, p, q)
	if err != nil {
		t.Fatal(err)
	}
	var shape *ShapeError
	if err := opt.Step(make([]BFloat16, 63), nil); !errors.As(err, &shape) || shape.Index != 0 {
		t.Errorf("short grad: %v, want a *ShapeError for grad 0", err)
	}
	if err := opt.Step(make([]BFloat16, 64)); !errors.As(err, &shape) || shape.What != "gradients" {
		t.Errorf("one grad for two params: %v, want a *ShapeError", err)
	}
	var overlap *OverlapError
	if err := opt.Step(p, nil); !errors.As(err, &overlap) {
		t.Errorf("grad = param: %v, want an *OverlapError", err)
	}
	if !slices.Equal(p, before) || opt.Steps() != 0 {
		t.Error("a refused step changed the parameters or the step count")
	}
	var paramShape *ParamShapeError
	if _, err := NewLow(DefaultMuon(), LowOptions{}, p); !errors.As(err, &paramShape) || paramShape.Param != 0 {
		t.Errorf("Muon without a shape: %v, want a *ParamShapeError for param 0", err)
	}
	if _, err := NewLowGroups(LowOptions{}, LowGroup[BFloat16]{Rule: DefaultMuon(), Params: [][]BFloat16{p}, Shapes: []Shape{{8, 9}}}); !errors.As(err, &paramShape) {
		t.Errorf("Muon with a shape of 72 elements for 64: %v, want a *ParamShapeError", err)
	}
	if _, err := NewLow(DefaultAdam(), LowOptions{}, p, p[8:16]); !errors.As(err, &overlap) {
		t.Errorf("overlapping params: %v, want an *OverlapError", err)
	}
	var hyper *HyperparameterError
	if _, err := NewLow(Adam{LR: -1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, LowOptions{}, p); !errors.As(err, &hyper) {
		t.Errorf("negative LR: %v, want a *HyperparameterError", err)
	}
	// A nil gradient skips its parameter: no step counted, no state.
	if err := opt.Step(nil, make([]BFloat16, 8)); err != nil {
		t.Fatal(err)
	}
	if st, _ := opt.State(0); st.Step != 0 || st.ExpAvg != nil || !slices.Equal(p, before) {
		t.Errorf("a nil gradient stepped its parameter: %+v", st)
	}
	if st, _ := opt.State(1); st.Step != 1 || len(st.ExpAvg) != 8 {
		t.Errorf("parameter 1 after one step: step %d, %d ExpAvg values", st.Step, len(st.ExpAvg))
	}
}

// TestLowOptimizerHeldRate: a rate a scheduler holds (OneCycleLR's last,
// negative one) is refused by the next step, as Optimizer refuses it.
func TestLowOptimizerHeldRate(t *testing.T) {
	p := make([]Float16, 16)
	opt, err := NewLow(DefaultAdamW(), LowOptions{}, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := opt.HoldGroupLR(0, -1e-9, "OneCycleLR"); err != nil {
		t.Fatal(err)
	}
	var held *HeldRateError
	if err := opt.Step(make([]Float16, 16)); !errors.As(err, &held) {
		t.Errorf("Step with a held rate: %v, want a *HeldRateError", err)
	}
	if err := opt.SetGroupLR(0, 1e-3); err != nil {
		t.Fatal(err)
	}
	if err := opt.Step(make([]Float16, 16)); err != nil {
		t.Errorf("Step after SetGroupLR: %v", err)
	}
}

// TestLowOptimizerAllocs: a step, serial or split, allocates nothing.
func TestLowOptimizerAllocs(t *testing.T) {
	for _, c := range lowCases() {
		p := make([]BFloat16, 5000)
		g := lowValues[BFloat16](rand.New(rand.NewPCG(3, 4)), len(p), 0.1)
		opt, err := NewLow(c.rule, c.opts, p)
		if err != nil {
			t.Fatal(err)
		}
		if err := opt.SetParallelMin(1000); err != nil {
			t.Fatal(err)
		}
		for _, workers := range []int{1, 2} {
			if err := opt.SetWorkers(workers); err != nil {
				t.Fatal(err)
			}
			opt.Step(g) // the first step may start the workers
			if n := testing.AllocsPerRun(5, func() { opt.Step(g) }); n != 0 && !underRace {
				t.Errorf("%s, %d workers: %v allocations per Step", c.name, workers, n)
			}
		}
		opt.Close()
	}
}

// TestLowOptimizerNorms: the norms of 16-bit gradients have the bits of
// GradNorm over their widened values, on one worker or split between
// several; clipping and the non-finite check agree with the float32
// computation, rounded.
func TestLowOptimizerNorms(t *testing.T) {
	for _, workers := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) { lowNorms(t, workers) })
	}
}

func lowNorms(t *testing.T, workers int) {
	rng := rand.New(rand.NewPCG(5, 6))
	grads := [][]BFloat16{lowValues[BFloat16](rng, 50000, 3), nil, lowValues[BFloat16](rng, 37, 100)}
	wide := make([][]float32, len(grads))
	for i, g := range grads {
		if g != nil {
			wide[i] = make([]float32, len(g))
			for j, h := range g {
				wide[i][j] = h.Float32()
			}
		}
	}
	opt, err := NewLow(DefaultAdam(), LowOptions{}, make([]BFloat16, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Close()
	opt.SetWorkers(workers)
	opt.SetParallelMin(4096)
	for _, p := range []float64{1, 2, 3.5, math.Inf(1)} {
		got, err := opt.GradNorm(p, grads...)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := GradNorm(p, wide...)
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("p = %g: %v, the widened gradients' %v", p, got, want)
		}
	}
	total, err := opt.ClipGradNorm(1, 2, false, grads...)
	if err != nil {
		t.Fatal(err)
	}
	c := float32(1 / (total + 1e-6))
	for i, g := range grads {
		for j, h := range g {
			if want := BFloat16From(wide[i][j] * c); h != want {
				t.Fatalf("ClipGradNorm: grad %d[%d] = %#04x, want %#04x", i, j, h, want)
			}
		}
	}
	if err := opt.ClipGradValue(0.001, grads...); err != nil {
		t.Fatal(err)
	}
	for i, g := range grads {
		for j, h := range g {
			if v := h.Float32(); math.Abs(float64(v)) > float64(BFloat16From(0.001).Float32()) {
				t.Fatalf("ClipGradValue: grad %d[%d] = %g", i, j, v)
			}
		}
	}
	big := lowValues[BFloat16](rng, 30000, 1)
	if opt.NonFinite(big) {
		t.Fatal("NonFinite of finite values")
	}
	for _, at := range []int{0, 4095, 4096, 20000, 29999} {
		b := slices.Clone(big)
		b[at] = BFloat16NaN
		if !opt.NonFinite(b) {
			t.Fatalf("NonFinite missed a NaN at %d of %d", at, len(b))
		}
	}
	// Every position of an infinity or NaN in and around a 64-bit word.
	for _, bad := range []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())} {
		for n := 1; n <= 11; n++ {
			for at := range n {
				g := lowValues[BFloat16](rng, n, 1)
				if opt.NonFinite(g) {
					t.Fatalf("NonFinite of finite values %v", g)
				}
				g[at] = BFloat16From(bad)
				if !opt.NonFinite(g) {
					t.Fatalf("NonFinite missed %g at %d of %d", bad, at, n)
				}
			}
		}
	}
	if !opt.NonFinite([]BFloat16{0x7F80}) || opt.NonFinite([]BFloat16{0x7F7F, 0xFF7F}) {
		t.Error("NonFinite on the largest finite bfloat16 values or infinity")
	}
	h := Float16From(65504)
	f16, _ := NewLow(DefaultAdam(), LowOptions{}, make([]Float16, 1))
	if f16.NonFinite([]Float16{h, h | 0x8000}) || !f16.NonFinite([]Float16{0x7C00}) {
		t.Error("NonFinite on float16's largest finite values or infinity")
	}
}

// TestLowOptimizerScaler: GradScaler's unscaling and skipped steps on
// 16-bit gradients.
func TestLowOptimizerScaler(t *testing.T) {
	p := []Float16{Float16From(1), Float16From(2)}
	opt, err := NewLow(SGD{LR: 0.5}, LowOptions{}, p)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewGradScaler(DefaultGradScalerConfig())
	if err != nil {
		t.Fatal(err)
	}
	scale := float32(s.Scale())
	g := []Float16{Float16From(scale), Float16(0x7C00)}
	skipped, err := ScaledStepLow(s, opt, g)
	if err != nil || !skipped {
		t.Fatalf("ScaledStepLow with an infinite gradient: skipped %v, %v", skipped, err)
	}
	if p[0].Float32() != 1 || opt.Steps() != 0 {
		t.Error("a skipped step changed the optimizer")
	}
	s.Update()
	scale = float32(s.Scale())
	g = []Float16{Float16From(scale / 16), Float16From(scale / 8)}
	found, err := UnscaleLow(s, opt, g)
	if err != nil || found {
		t.Fatalf("UnscaleLow: %v, %v", found, err)
	}
	if g[0].Float32() != 1.0/16 || g[1].Float32() != 1.0/8 {
		t.Errorf("unscaled gradients %g %g, want 1/16 1/8", g[0].Float32(), g[1].Float32())
	}
	if skipped, err := ScaledStepLow(s, opt, g); err != nil || skipped {
		t.Fatalf("ScaledStepLow: %v, %v", skipped, err)
	}
	if p[0].Float32() != 1-1.0/32 || p[1].Float32() != 2-1.0/16 {
		t.Errorf("after the step %g %g, want 1-1/32 2-1/16", p[0].Float32(), p[1].Float32())
	}
}

// BenchmarkLowOptimizer times a step of NewLow over one parameter against
// Optimizer[float32]'s and the float32 step that writes a 16-bit copy
// (SetCopies), AdamW, one worker: the public API's cost on top of the
// kernels (package kernels' BenchmarkLowpStep). The bytes are those each
// form moves: 14 per bfloat16 parameter with its state, 28 for float32, 30
// with the copy.
func BenchmarkLowOptimizer(b *testing.B) {
	for _, n := range []int{1 << 16, 1 << 24} {
		rng := rand.New(rand.NewPCG(1, 1))
		p16, g16 := lowValues[BFloat16](rng, n, 1), lowValues[BFloat16](rng, n, 0.01)
		p32, g32 := make([]float32, n), make([]float32, n)
		for i := range p32 {
			p32[i], g32[i] = p16[i].Float32(), g16[i].Float32()
		}
		low, err := NewLow(DefaultAdamW(), LowOptions{}, p16)
		if err != nil {
			b.Fatal(err)
		}
		f32, err := New(DefaultAdamW(), p32)
		if err != nil {
			b.Fatal(err)
		}
		m32 := slices.Clone(p32)
		master, err := New(DefaultAdamW(), m32)
		if err != nil {
			b.Fatal(err)
		}
		if err := SetCopies(master, make([]BFloat16, n)); err != nil {
			b.Fatal(err)
		}
		for _, o := range []interface{ SetWorkers(int) error }{low, f32, master} {
			o.SetWorkers(1)
		}
		for _, c := range []struct {
			name  string
			bytes int
			step  func() error
		}{
			{"bf16", 14, func() error { return low.Step(g16) }},
			{"f32", 28, func() error { return f32.Step(g32) }},
			{"f32+copy", 30, func() error { return master.Step(g32) }},
		} {
			if err := c.step(); err != nil { // the state's pages are touched by the first step
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/n=%d", c.name, n), func(b *testing.B) {
				b.SetBytes(int64(c.bytes * n))
				for b.Loop() {
					if err := c.step(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
