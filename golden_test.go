package optim

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
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

// goldenRule builds the Rule for a torch class and its keyword arguments:
// torch's defaults for the class, from its row of ruleCases, with every
// argument given set on the fields its param_groups key holds.
func goldenRule(t *testing.T, run goldenRun) Rule {
	t.Helper()
	row, class := caseOfClass(t, run.Optimizer)
	rule := class.torch
	for name, v := range run.Hyper {
		i := slices.IndexFunc(row.groupKeys, func(k caseKey) bool { return k.key == name })
		if i < 0 || len(row.groupKeys[i].fields) == 0 {
			t.Fatalf("%s: %s has no hyperparameter %q", run.Name, run.Optimizer, name)
		}
		fields := row.groupKeys[i].fields
		values := []any{v}
		if len(fields) > 1 {
			values = v.([]any) // a pair such as betas or etas
		}
		for j, f := range fields {
			switch x := values[j].(type) {
			case float64:
				rule = withField(rule, f, x)
			case bool:
				set := 0.0
				if x {
					set = 1
				}
				rule = withField(rule, f, set)
			}
		}
	}
	return rule
}

// TestGoldenTorch replays every recorded torch trajectory through the public
// API. The tolerance is torch's, not ours: torch fuses some operations in its
// vectorized loops and we never do, so the last bits differ.
func TestGoldenTorch(t *testing.T) {
	claimed := map[string]string{}
	for _, c := range ruleCases() {
		for _, cl := range c.classes {
			if cl.golden == "" {
				continue
			}
			files, _ := filepath.Glob(filepath.Join("testdata/torch", cl.golden+".json.gz"))
			if len(files) == 0 {
				t.Errorf("%s: no golden files %s in testdata/torch", cl.name, cl.golden)
			}
			for _, path := range files {
				if other, ok := claimed[path]; ok {
					t.Errorf("%s is claimed by %s and %s", path, other, cl.name)
				}
				claimed[path] = cl.name
				run := loadGolden(t, path)
				t.Run(strings.TrimSuffix(filepath.Base(path), ".json.gz"), func(t *testing.T) {
					if run.Optimizer != cl.name {
						t.Fatalf("a trajectory of %s among the golden files of %s", run.Optimizer, cl.name)
					}
					rule := goldenRule(t, run)
					if run.Dtype == "float32" {
						replayGolden[float32](t, run, rule, 2e-5)
					} else {
						replayGolden[float64](t, run, rule, 1e-13)
					}
				})
			}
		}
	}
	all, _ := filepath.Glob("testdata/torch/*.json.gz")
	for _, path := range all {
		if claimed[path] == "" {
			t.Errorf("%s: no class of ruleCases claims it", path)
		}
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
