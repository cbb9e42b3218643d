package optim

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simdoptim/optim/kernels"
)

// lowpTrajectory is one trajectory of testdata/torch-lowp (its README):
// a vector stepped by torch's float32 arithmetic with the parameters,
// gradients and, when State is "param", the state stored in Dtype.
type lowpTrajectory struct {
	Optimizer string         `json:"optimizer"`
	Dtype     string         `json:"dtype"` // "bfloat16" or "float16"
	State     string         `json:"state"` // "param" or "float32"
	Hyper     map[string]any `json:"hyper"`
	N         int            `json:"n"`
	Steps     int            `json:"steps"`
	Params0   []uint16       `json:"params0"`
	Grads     [][]uint16     `json:"grads"`
	Params    [][]uint16     `json:"params"`
}

// minLowpTrajectories is how many public trajectory files
// testdata/torch-lowp holds at least; held-out files may join them.
const minLowpTrajectories = 16

// TestGoldenTorchLowp replays every trajectory of testdata/torch-lowp (all
// its files but the conversions, which TestTorchLowpConversions checks),
// each as a subtest named after its file, through the stateless layer:
// the rule's kernel (KernelKind) and per-step scalars (CoefficientsWith),
// stepped by kernels.StepLowp on every kernel set this CPU supports, with
// the state in the parameters' format or in float32 as the file says. The
// README's tolerance: at least 99% of the parameter values bit-identical,
// every value within one unit in the last place of the format.
func TestGoldenTorchLowp(t *testing.T) {
	all, _ := filepath.Glob("testdata/torch-lowp/*.json.gz")
	var files []string
	for _, path := range all {
		if !strings.HasPrefix(filepath.Base(path), "conversions") {
			files = append(files, path)
		}
	}
	if len(files) < minLowpTrajectories {
		t.Errorf("testdata/torch-lowp holds %d trajectories, want at least %d", len(files), minLowpTrajectories)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".json.gz"), func(t *testing.T) {
			var run lowpTrajectory
			if err := json.Unmarshal(readGzip(t, path), &run); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if len(run.Params0) != run.N || len(run.Grads) != run.Steps || len(run.Params) != run.Steps {
				t.Fatalf("%s: n %d, %d params0, %d steps, %d grads, %d params", path, run.N, len(run.Params0), run.Steps, len(run.Grads), len(run.Params))
			}
			for _, s := range SupportedSets() {
				switch run.State {
				case "param":
					replayLowp[uint16](t, s, run)
				case "float32":
					replayLowp[float32](t, s, run)
				default:
					t.Fatalf("%s: state %q, want param or float32", path, run.State)
				}
			}
		})
	}
}

// replayLowp steps run's trajectory with set s, the state stored as S, and
// compares every step's parameters with torch's.
func replayLowp[S kernels.LowpState](t *testing.T, s *kernels.Set, run lowpTrajectory) {
	t.Helper()
	rule := goldenRule(t, goldenRun{Name: run.Optimizer, Optimizer: run.Optimizer, Hyper: run.Hyper})
	f, ulp := kernels.BFloat16, 0x1p-7
	if run.Dtype == "float16" {
		f, ulp = kernels.Float16, 0x1p-10
	} else if run.Dtype != "bfloat16" {
		t.Fatalf("dtype %q, want bfloat16 or float16", run.Dtype)
	}
	p := append([]uint16(nil), run.Params0...)
	lr := newLowpRun[S](t, rule, f, run.N)
	same, total := 0, 0
	for step := range run.Steps {
		lr.step(t, s, p, run.Grads[step], nil)
		for i, want := range run.Params[step] {
			total++
			if p[i] == want {
				same++
				continue
			}
			g, w := float64(f.Widen(p[i])), float64(f.Widen(want))
			if !(math.Abs(g-w) <= ulp*math.Max(1, math.Abs(w))) {
				t.Fatalf("%s: step %d, element %d: %#04x (%g), torch %#04x (%g): more than one unit in the last place apart",
					kernels.ConvKernels(s), step+1, i, p[i], g, want, w)
			}
		}
	}
	if share := float64(same) / float64(total); share < 0.99 {
		t.Errorf("%s: %d of %d parameter values bit-identical (%.2f%%), want at least 99%%", kernels.ConvKernels(s), same, total, 100*share)
	} else if same < total {
		t.Logf("%s: %d of %d parameter values bit-identical, the others one unit in the last place apart", kernels.ConvKernels(s), same, total)
	}
}

// lowpState is the state element that holds x: x itself for float32
// state, x rounded into the format for state in the parameters' format.
func lowpState[S kernels.LowpState](f kernels.Format, x float32) S {
	var zero S
	switch any(zero).(type) {
	case uint16:
		return S(f.Narrow(x))
	case float32:
		return any(x).(S)
	}
	panic(fmt.Sprintf("lowpState: %T", zero))
}

// lowpRun is one parameter's low-precision run through the stateless
// layer: its rule's kernel and per-step scalars (KernelKind,
// CoefficientsWith), and its state stored as S in format f, created as the
// rule creates it.
type lowpRun[S kernels.LowpState] struct {
	rule  Rule
	kind  kernels.Kind
	f     kernels.Format
	state [3][]S
	sc    Scalars
	steps int64
}

func newLowpRun[S kernels.LowpState](t *testing.T, rule Rule, f kernels.Format, n int) *lowpRun[S] {
	t.Helper()
	r := &lowpRun[S]{rule: rule, kind: mustKernelKind(t, rule), f: f}
	for k := range r.state {
		r.state[k] = make([]S, n)
		for i := range r.state[k] {
			r.state[k][i] = lowpState[S](f, initialState[float32](rule))
		}
	}
	return r
}

// stepMaster takes run r's next step of the float32 master parameters p
// with float32 gradient g on set s, with kernels.StepMaster, which also
// writes p's copy in r's format to copy.
func stepMaster(t *testing.T, r *lowpRun[float32], s *kernels.Set, p, g []float32, copy []uint16) {
	t.Helper()
	c, v, args := r.next(t)
	if err := kernels.StepMaster(s, r.kind, r.f, v, &c, p, g, args[0], args[1], args[2], copy); err != nil {
		t.Fatal(err)
	}
}

// step takes the run's next step of p with gradient g on set s, with
// kernels.StepLowp, or kernels.StepLowpSR keyed by sr (its Step set to
// this step's number) when sr is not nil.
func (r *lowpRun[S]) step(t *testing.T, s *kernels.Set, p, g []uint16, sr *kernels.SR) {
	t.Helper()
	c, v, args := r.next(t)
	var err error
	if sr != nil {
		key := *sr
		key.Step = uint64(r.steps)
		err = kernels.StepLowpSR(s, r.kind, r.f, v, &c, key, p, g, args[0], args[1], args[2])
	} else {
		err = kernels.StepLowp(s, r.kind, r.f, v, &c, p, g, args[0], args[1], args[2])
	}
	if err != nil {
		t.Fatal(err)
	}
}

// next counts the run's next step and returns its coefficients, its
// variant and the state slices that variant uses (nil for the others).
func (r *lowpRun[S]) next(t *testing.T) (kernels.Coeffs[float32], kernels.Variant, [3][]S) {
	t.Helper()
	r.steps++
	c, v, next, err := CoefficientsWith[float32](r.rule, r.steps, r.steps == 1, r.sc)
	if err != nil {
		t.Fatal(err)
	}
	r.sc = next
	var args [3][]S
	u0, u1, u2 := kernels.Uses(r.kind, v)
	for k, used := range [3]bool{u0, u1, u2} {
		if used {
			args[k] = r.state[k]
		}
	}
	return c, v, args
}
