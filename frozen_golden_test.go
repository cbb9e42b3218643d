package optim

import (
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/simdoptim/optim/kernels"
)

// frozenRun is one torch run over three parameters of which some have no
// gradient at some steps (testdata/torch-frozen/README.md).
type frozenRun struct {
	Name      string         `json:"name"`
	Optimizer string         `json:"optimizer"`
	Dtype     string         `json:"dtype"`
	Hyper     map[string]any `json:"hyper"`
	Lens      []int          `json:"lens"`
	Params0   [][]float64    `json:"params0"`
	Grads     [][][]float64  `json:"grads"` // a nil row is torch's grad None
	Params    [][][]float64  `json:"params"`
	StateKeys [][]string     `json:"state_keys"`
}

// withKernelSet makes set the kernel set of what the test makes from now
// on (Kernels(): the optimizers' update and gradient kernels), until it
// ends. The root package's tests do not run in parallel.
func withKernelSet(t *testing.T, set *kernels.Set) {
	old := chosen
	chosen = choice{set, "chosen by the test"}
	t.Cleanup(func() { chosen = old })
}

// TestGoldenTorchFrozen replays torch's runs with parameters that have no
// gradient (nil for None) on every kernel set this CPU supports: the
// parameters after every step within torch's tolerance, the one that never
// had a gradient bit for bit unchanged, and the state keys that State and
// a checkpoint report for each parameter torch's.
func TestGoldenTorchFrozen(t *testing.T) {
	files, _ := filepath.Glob("testdata/torch-frozen/*.json.gz")
	if len(files) == 0 {
		t.Fatal("no golden files in testdata/torch-frozen")
	}
	for _, path := range files {
		var run frozenRun
		if err := json.Unmarshal(readGzip(t, path), &run); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		t.Run(strings.TrimSuffix(filepath.Base(path), ".json.gz"), func(t *testing.T) {
			rule := goldenRule(t, goldenRun{Name: run.Name, Optimizer: run.Optimizer, Hyper: run.Hyper})
			for _, set := range SupportedSets() {
				t.Run(set.Name(), func(t *testing.T) {
					withKernelSet(t, set)
					if run.Dtype == "float32" {
						replayFrozen[float32](t, run, rule, 2e-5)
					} else {
						replayFrozen[float64](t, run, rule, 1e-13)
					}
				})
			}
		})
	}
}

func replayFrozen[T float32 | float64](t *testing.T, run frozenRun, rule Rule, tol float64) {
	params := make([][]T, len(run.Params0))
	for i, p0 := range run.Params0 {
		params[i] = make([]T, len(p0))
		for j, v := range p0 {
			params[i][j] = T(v)
		}
	}
	initial := clone2(params)
	opt, err := New(rule, params...)
	if err != nil {
		t.Fatal(err)
	}
	grads := make([][]T, len(params))
	worst := 0.0
	for s, row := range run.Grads {
		for i, g := range row {
			grads[i] = nil
			if g != nil {
				grads[i] = make([]T, len(g))
				for j, v := range g {
					grads[i][j] = T(v)
				}
			}
		}
		if err := opt.Step(grads...); err != nil {
			t.Fatalf("step %d: %v", s+1, err)
		}
		for i := range params {
			worst = math.Max(worst, checkGoldenStep(t, s, params[i], run.Params[s][i], tol))
		}
	}
	if j := firstDiff(params[2], initial[2]); j >= 0 {
		t.Errorf("param 2, which never had a gradient, changed at [%d]: %v, was %v", j, params[2][j], initial[2][j])
	}
	_, h := saveHeader(t, opt)
	var saved [][]string
	for range params {
		saved = append(saved, nil)
	}
	for _, tn := range h.Tensors {
		parts := strings.SplitN(tn.Name, ".", 3) // state.<index>.<key>
		i, err := strconv.Atoi(parts[1])
		if err != nil || len(parts) != 3 || i >= len(saved) {
			t.Fatalf("tensor %q", tn.Name)
		}
		saved[i] = append(saved[i], parts[2])
	}
	for i, want := range run.StateKeys {
		want = slices.Sorted(slices.Values(want))
		if got := slices.Sorted(slices.Values(saved[i])); !slices.Equal(got, want) {
			t.Errorf("param %d: the checkpoint holds %v, torch's state %v", i, got, want)
		}
		st, err := opt.State(i)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for key, f := range stateByKey(&st) {
			if *f != nil {
				got = append(got, key)
			}
		}
		if st.Step > 0 && !rule.torch().noStep {
			got = append(got, "step")
		}
		if slices.Sort(got); !slices.Equal(got, want) {
			t.Errorf("param %d: State has %v (Step %d), torch's state %v", i, got, st.Step, want)
		}
	}
	t.Logf("worst relative error %.3g (tolerance %.3g)", worst, tol)
}
