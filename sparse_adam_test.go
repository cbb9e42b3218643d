package optim

import (
	"encoding/json"
	"math"
	"testing"
)

func init() { matrixReplayers["SparseAdam"] = replaySparseAdamGolden }

// sparseAdamGolden is a SparseAdam file of testdata/torch-matrix (see its
// README).
type sparseAdamGolden struct {
	Dtype string         `json:"dtype"`
	Shape []int          `json:"shape"`
	Hyper map[string]any `json:"hyper"`
	P0    []float64      `json:"params0"`
	Rows  [][]int        `json:"rows"`
	Grads [][]float64    `json:"grads"`
	Ps    [][]float64    `json:"params"`
}

// sparseAdamFromHyper is torch's SparseAdam(**hyper): torch's defaults
// for what hyper does not give.
func sparseAdamFromHyper(t *testing.T, hyper map[string]any) SparseAdam {
	t.Helper()
	cfg := DefaultSparseAdam()
	for k, v := range hyper {
		switch k {
		case "lr":
			cfg.LR = v.(float64)
		case "eps":
			cfg.Eps = v.(float64)
		case "betas":
			b := v.([]any)
			cfg.Beta1, cfg.Beta2 = b[0].(float64), b[1].(float64)
		case "maximize":
			cfg.Maximize = v.(bool)
		default:
			t.Fatalf("hyperparameter %q unknown to SparseAdam", k)
		}
	}
	return cfg
}

// replaySparseAdamGolden replays a torch SparseAdam run; the tolerance is
// bit-exactness, reported as the largest error relative to max(1, |v|)
// and held to the README's bound for the other classes (2e-6 float32,
// 1e-13 float64) as a ceiling.
func replaySparseAdamGolden(t *testing.T, raw []byte) {
	var g sparseAdamGolden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	cfg := sparseAdamFromHyper(t, g.Hyper)
	if g.Dtype == "float32" {
		replaySparseAdam[float32](t, g, cfg, 2e-6)
	} else {
		replaySparseAdam[float64](t, g, cfg, 1e-13)
	}
}

func replaySparseAdam[T testFloat](t *testing.T, g sparseAdamGolden, cfg SparseAdam, tol float64) {
	if len(g.Shape) != 2 {
		t.Fatalf("shape %v, want 2-D", g.Shape)
	}
	p := make([]T, len(g.P0))
	for i, v := range g.P0 {
		p[i] = T(v)
	}
	o, err := NewSparseAdam(cfg, Table[T]{Data: p, Cols: g.Shape[1]})
	if err != nil {
		t.Fatal(err)
	}
	worst, mismatched := 0.0, 0
	for s := range g.Rows {
		vals := make([]T, len(g.Grads[s]))
		for i, v := range g.Grads[s] {
			vals[i] = T(v)
		}
		rows := g.Rows[s]
		if rows == nil {
			rows = []int{}
		}
		if err := o.Step(SparseGrad[T]{Rows: rows, Values: vals}); err != nil {
			t.Fatal(err)
		}
		for j, want := range g.Ps[s] {
			if p[j] != T(want) {
				mismatched++
			}
			d := math.Abs(float64(p[j])-want) / math.Max(1, math.Abs(want))
			worst = math.Max(worst, d)
			if !(d <= tol) {
				t.Fatalf("step %d, element %d: got %v, want %v (relative error %.3g > %.3g)", s+1, j, p[j], want, d, tol)
			}
		}
	}
	// The public files replay bit for bit; a held-out file may differ
	// where detmath.Pow and the C library's pow round β^t apart.
	t.Logf("%d steps: %d elements differ from torch's bits, worst relative error %.3g", len(g.Rows), mismatched, worst)
}
