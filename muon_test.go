package optim

import (
	"encoding/json"
	"math"
	"testing"
)

func init() { matrixReplayers["Muon"] = replayMuonGolden }

// matrixGolden is a file of testdata/torch-matrix (its README describes
// the fields).
type matrixGolden struct {
	Name      string         `json:"name"`
	Optimizer string         `json:"optimizer"`
	Dtype     string         `json:"dtype"`
	Shape     []int          `json:"shape"`
	NS        string         `json:"ns"`
	Hyper     map[string]any `json:"hyper"`
	Params0   []float64      `json:"params0"`
	Grads     [][]float64    `json:"grads"`
	Params    [][]float64    `json:"params"`
}

func decodeMatrixGolden(t *testing.T, raw []byte) matrixGolden {
	t.Helper()
	var run matrixGolden
	if err := json.Unmarshal(raw, &run); err != nil {
		t.Fatal(err)
	}
	return run
}

// matrixTolerance is the README's bound, relative to max(1, |value|).
func matrixTolerance(dtype string) float64 {
	if dtype == "float32" {
		return 2e-6
	}
	return 1e-13
}

// muonBF16Bound is the bound asserted on the bfloat16 file, where the
// README asks for the distance reached rather than a bound (torch does not
// specify how a bfloat16 product rounds). With every bfloat16 intermediate
// rounded as torch 1.13 stores it (Python scalars rounded to bfloat16
// first, products accumulated in float32), the distance reached is
// 2.98e-08 relative to max(1, |value|) after 12 steps, on every kernel
// set: the products of this file (k ≤ 40) round exactly as torch's. The
// bound is the float32 files' own.
const muonBF16Bound = 2e-6

// muonFromHyper is Muon with torch's defaults and the file's keyword
// arguments.
func muonFromHyper(t *testing.T, hyper map[string]any) Muon {
	t.Helper()
	r := DefaultMuon()
	for k, v := range hyper {
		switch k {
		case "lr":
			r.LR = v.(float64)
		case "weight_decay":
			r.WeightDecay = v.(float64)
		case "momentum":
			r.Momentum = v.(float64)
		case "nesterov":
			r.Nesterov = v.(bool)
		case "eps":
			r.Eps = v.(float64)
		case "ns_steps":
			r.NSSteps = int(v.(float64))
		case "ns_coefficients":
			c := v.([]any)
			r.NSA, r.NSB, r.NSC = c[0].(float64), c[1].(float64), c[2].(float64)
		case "adjust_lr_fn":
			if v != nil {
				r.AdjustLR = v.(string)
			}
		case "use_addmm":
			r.UseAddmm = v.(bool)
		default:
			t.Fatalf("Muon has no keyword %q", k)
		}
	}
	return r
}

func replayMuonGolden(t *testing.T, raw []byte) {
	run := decodeMatrixGolden(t, raw)
	r := muonFromHyper(t, run.Hyper)
	tol := matrixTolerance(run.Dtype)
	switch run.NS {
	case "param":
	case "bfloat16":
		r.NSBFloat16 = true
		tol = muonBF16Bound
	default:
		t.Fatalf("unknown ns %q", run.NS)
	}
	if run.Dtype == "float32" {
		replayMatrix[float32](t, run, r, tol)
	} else {
		replayMatrix[float64](t, run, r, tol)
	}
}

// replayMatrix replays a matrix golden file through the public API: one
// parameter of the file's shape, in a group of rule r.
func replayMatrix[T float32 | float64](t *testing.T, run matrixGolden, r Rule, tol float64) {
	t.Helper()
	p := make([]T, len(run.Params0))
	for i, v := range run.Params0 {
		p[i] = T(v)
	}
	o, err := NewGroups(Group[T]{Rule: r, Params: [][]T{p}, Shapes: []Shape{run.Shape}})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	g := make([]T, len(p))
	worst := 0.0
	for s, gs := range run.Grads {
		for i, v := range gs {
			g[i] = T(v)
		}
		if err := o.Step(g); err != nil {
			t.Fatal(err)
		}
		worst = math.Max(worst, checkGoldenStep(t, s, p, run.Params[s], tol))
	}
	t.Logf("%s %s (%s): worst relative error %.3g after %d steps (tolerance %.3g)", run.Name, run.Dtype, Kernels().Name(), worst, len(run.Grads), tol)
}
