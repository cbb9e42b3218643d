package optim

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/detmath"
	"github.com/simdoptim/optim/kernels"
)

// goldenRun is one trajectory recorded from torch.optim (single-tensor
// implementation); testdata/torch/README.md describes the format and which
// torch recorded what.
type goldenRun struct {
	Name      string         `json:"name"`
	Optimizer string         `json:"optimizer"`
	Dtype     string         `json:"dtype"`
	Hyper     map[string]any `json:"hyper"`
	N         int            `json:"n"`
	Steps     int            `json:"steps"`
	Params0   []float64      `json:"params0"`
	Grads     [][]float64    `json:"grads"`
	Params    [][]float64    `json:"params"`
}

func loadGolden(t *testing.T, path string) goldenRun {
	t.Helper()
	var run goldenRun
	if err := json.Unmarshal(readGzip(t, path), &run); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return run
}

// readGzip returns the decompressed contents of a gzipped test file.
func readGzip(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return raw
}

// goldenRule builds the Rule for a torch class and its keyword arguments,
// starting from torch's defaults for every argument not given.
func goldenRule(t *testing.T, run goldenRun) Rule {
	t.Helper()
	h := run.Hyper
	num := func(key string, def float64) float64 {
		if v, ok := h[key]; ok {
			return v.(float64)
		}
		return def
	}
	flag := func(key string) bool {
		v, ok := h[key]
		return ok && v.(bool)
	}
	betas := func(d1, d2 float64) (float64, float64) { return pair(h, "betas", d1, d2) }
	switch run.Optimizer {
	case "SGD":
		return SGD{LR: num("lr", 1e-3), Momentum: num("momentum", 0), Dampening: num("dampening", 0),
			WeightDecay: num("weight_decay", 0), Nesterov: flag("nesterov"), Maximize: flag("maximize")}
	case "Adagrad":
		return Adagrad{LR: num("lr", 1e-2), LRDecay: num("lr_decay", 0), WeightDecay: num("weight_decay", 0),
			InitialAccumulatorValue: num("initial_accumulator_value", 0), Eps: num("eps", 1e-10), Maximize: flag("maximize")}
	case "RMSprop":
		return RMSProp{LR: num("lr", 1e-2), Alpha: num("alpha", 0.99), Eps: num("eps", 1e-8),
			WeightDecay: num("weight_decay", 0), Momentum: num("momentum", 0), Centered: flag("centered"), Maximize: flag("maximize")}
	case "Adam", "AdamW":
		b1, b2 := betas(0.9, 0.999)
		wd := 0.0
		if run.Optimizer == "AdamW" {
			wd = 1e-2
		}
		return Adam{LR: num("lr", 1e-3), Beta1: b1, Beta2: b2, Eps: num("eps", 1e-8), WeightDecay: num("weight_decay", wd),
			AMSGrad: flag("amsgrad"), Maximize: flag("maximize"), Decoupled: run.Optimizer == "AdamW"}
	case "NAdam":
		b1, b2 := betas(0.9, 0.999)
		return NAdam{LR: num("lr", 2e-3), Beta1: b1, Beta2: b2, Eps: num("eps", 1e-8), WeightDecay: num("weight_decay", 0),
			MomentumDecay: num("momentum_decay", 4e-3), Decoupled: flag("decoupled_weight_decay"), Maximize: flag("maximize")}
	case "RAdam":
		b1, b2 := betas(0.9, 0.999)
		return RAdam{LR: num("lr", 1e-3), Beta1: b1, Beta2: b2, Eps: num("eps", 1e-8), WeightDecay: num("weight_decay", 0),
			Decoupled: flag("decoupled_weight_decay"), Maximize: flag("maximize")}
	case "Adamax":
		b1, b2 := betas(0.9, 0.999)
		return Adamax{LR: num("lr", 2e-3), Beta1: b1, Beta2: b2, Eps: num("eps", 1e-8), WeightDecay: num("weight_decay", 0),
			Maximize: flag("maximize")}
	case "Adadelta":
		return Adadelta{LR: num("lr", 1), Rho: num("rho", 0.9), Eps: num("eps", 1e-6), WeightDecay: num("weight_decay", 0),
			Maximize: flag("maximize")}
	case "Rprop":
		etaMinus, etaPlus := pair(h, "etas", 0.5, 1.2)
		lo, hi := pair(h, "step_sizes", 1e-6, 50)
		return Rprop{LR: num("lr", 1e-2), EtaMinus: etaMinus, EtaPlus: etaPlus, StepSizeMin: lo, StepSizeMax: hi, Maximize: flag("maximize")}
	case "ASGD":
		return ASGD{LR: num("lr", 1e-2), Lambd: num("lambd", 1e-4), Alpha: num("alpha", 0.75), T0: num("t0", 1e6),
			WeightDecay: num("weight_decay", 0), Maximize: flag("maximize")}
	}
	t.Fatalf("%s: unknown optimizer %q", run.Name, run.Optimizer)
	return nil
}

// pair reads a two-element argument such as betas or etas, or the defaults.
func pair(h map[string]any, key string, d1, d2 float64) (float64, float64) {
	if v, ok := h[key]; ok {
		b := v.([]any)
		return b[0].(float64), b[1].(float64)
	}
	return d1, d2
}

// TestGoldenTorch replays every recorded torch trajectory through the public
// API. The tolerance is torch's, not ours: torch fuses some operations in its
// vectorized loops and we never do, so the last bits differ.
func TestGoldenTorch(t *testing.T) {
	files, _ := filepath.Glob("testdata/torch/*.json.gz")
	if len(files) == 0 {
		t.Fatal("no golden files in testdata/torch")
	}
	for _, path := range files {
		run := loadGolden(t, path)
		t.Run(strings.TrimSuffix(filepath.Base(path), ".json.gz"), func(t *testing.T) {
			rule := goldenRule(t, run)
			if run.Dtype == "float32" {
				replayGolden[float32](t, run, rule, 2e-5)
			} else {
				replayGolden[float64](t, run, rule, 1e-13)
			}
		})
	}
}

func replayGolden[T float32 | float64](t *testing.T, run goldenRun, rule Rule, tol float64) {
	p := make([]T, run.N)
	for i, v := range run.Params0 {
		p[i] = T(v)
	}
	opt, err := New(rule, p)
	if err != nil {
		t.Fatal(err)
	}
	g := make([]T, run.N)
	worst := 0.0
	for s := 0; s < run.Steps; s++ {
		for i, v := range run.Grads[s] {
			g[i] = T(v)
		}
		if err := opt.Step(g); err != nil {
			t.Fatal(err)
		}
		worst = math.Max(worst, checkGoldenStep(t, s, p, run.Params[s], tol))
	}
	t.Logf("worst relative error %.3g (tolerance %.3g)", worst, tol)
}

// checkGoldenStep compares the parameters after step s (0-based) with
// torch's and returns the largest relative error.
func checkGoldenStep[T float32 | float64](t *testing.T, s int, p []T, want []float64, tol float64) float64 {
	t.Helper()
	worst := 0.0
	for i, w := range want {
		d := math.Abs(float64(p[i])-w) / math.Max(1, math.Abs(w))
		worst = math.Max(worst, d)
		if !(d <= tol) {
			t.Fatalf("step %d, element %d: got %v, want %v (relative error %.3g > %.3g)", s+1, i, p[i], w, d, tol)
		}
	}
	return worst
}

// TestGoldenNAdamTorch113 replays torch 1.13's NAdam files, which follow
// 1.13's formula for the step size of the first moment (μ_t enters
// mu_product_next twice; torch 2.0 fixed it, and NAdamCoeffs follows 2.11).
// It runs the chosen kernel set through the stateless layer with that one
// scalar recomputed as 1.13 does: matching torch 1.13 then shows that the
// kernels, mu_product's float32 rounding and every other scalar agree with
// torch, and that 1.13 differs from this package only there.
func TestGoldenNAdamTorch113(t *testing.T) {
	files, _ := filepath.Glob("testdata/torch-nadam-1.13/*.json.gz")
	if len(files) == 0 {
		t.Fatal("no golden files in testdata/torch-nadam-1.13")
	}
	for _, path := range files {
		run := loadGolden(t, path)
		t.Run(strings.TrimSuffix(filepath.Base(path), ".json.gz"), func(t *testing.T) {
			r := goldenRule(t, run).(NAdam)
			if run.Dtype == "float32" {
				replayNAdam113[float32](t, run, r, 2e-5)
			} else {
				replayNAdam113[float64](t, run, r, 1e-13)
			}
		})
	}
}

func replayNAdam113[T float32 | float64](t *testing.T, run goldenRun, r NAdam, tol float64) {
	n := run.N
	p, g, m, sq := make([]T, n), make([]T, n), make([]T, n), make([]T, n)
	for i, v := range run.Params0 {
		p[i] = T(v)
	}
	sc := generic.Scalars{1}
	worst := 0.0
	for s := 0; s < run.Steps; s++ {
		for i, v := range run.Grads[s] {
			g[i] = T(v)
		}
		step := int64(s + 1)
		var c generic.Coeffs[T]
		var v generic.Variant
		c, v, sc = generic.NAdamCoeffs[T](r.LR, r.Beta1, r.Beta2, r.Eps, r.WeightDecay, r.MomentumDecay, r.Decoupled, r.Maximize, step, sc)
		// torch 1.13: mu_product_next = mu_product * mu * mu_next, on the
		// float32 tensor mu_product (already multiplied by mu).
		mu := r.Beta1 * (1 - 0.5*detmath.Pow(0.96, float64(step)*r.MomentumDecay))
		muNext := r.Beta1 * (1 - 0.5*detmath.Pow(0.96, float64(step+1)*r.MomentumDecay))
		next := float32(float32(sc[0]*float32(mu)) * float32(muNext))
		c.NegLRAvg = T(-r.LR * muNext / (1 - float64(next)))
		if err := kernels.NAdam(Kernels(), v, &c, p, g, m, sq); err != nil {
			t.Fatal(err)
		}
		worst = math.Max(worst, checkGoldenStep(t, s, p, run.Params[s], tol))
	}
	t.Logf("worst relative error %.3g (tolerance %.3g)", worst, tol)
}
