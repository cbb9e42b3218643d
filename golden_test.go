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
)

// goldenRun is one trajectory recorded from torch.optim 2.11 (single-tensor
// implementation); testdata/torch/README.md describes the format.
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
	betas := func(d1, d2 float64) (float64, float64) {
		if v, ok := h["betas"]; ok {
			b := v.([]any)
			return b[0].(float64), b[1].(float64)
		}
		return d1, d2
	}
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
	}
	t.Fatalf("%s: unknown optimizer %q", run.Name, run.Optimizer)
	return nil
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
		for i, want := range run.Params[s] {
			d := math.Abs(float64(p[i])-want) / math.Max(1, math.Abs(want))
			worst = math.Max(worst, d)
			if !(d <= tol) {
				t.Fatalf("step %d, element %d: got %v, want %v (relative error %.3g > %.3g)", s+1, i, p[i], want, d, tol)
			}
		}
	}
	t.Logf("worst relative error %.3g (tolerance %.3g)", worst, tol)
}
