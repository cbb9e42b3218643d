package optim

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// torchResume is one record of testdata/torch-resume (see its README).
type torchResume struct {
	Name           string      `json:"name"`
	Optimizer      string      `json:"optimizer"`
	Dtype          string      `json:"dtype"`
	CheckpointStep int64       `json:"checkpoint_step"`
	Params0        [][]float64 `json:"params_at_checkpoint"`
	Grads          [][][]float64
	Params         [][][]float64
}

// TestCheckpointTorchResume loads each torch checkpoint into an optimizer
// built over the parameters at that point, with torch's defaults for the
// class (the file's hyperparameters must replace them), continues with
// the recorded gradients and matches torch's trajectory within the
// tolerances of TestGoldenTorch.
func TestCheckpointTorchResume(t *testing.T) {
	files, _ := filepath.Glob("testdata/torch-resume/*.json.gz")
	if len(files) == 0 {
		t.Fatal("no files in testdata/torch-resume")
	}
	for _, path := range files {
		var run torchResume
		if err := json.Unmarshal(readGzip(t, path), &run); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		ck := strings.TrimSuffix(path, ".json.gz") + ".safetensors"
		t.Run(filepath.Base(strings.TrimSuffix(path, ".json.gz")), func(t *testing.T) {
			var rule Rule
			switch run.Optimizer {
			case "SGD":
				rule = DefaultSGD()
			case "Adagrad":
				rule = DefaultAdagrad()
			case "RMSprop":
				rule = DefaultRMSProp()
			case "Adam":
				rule = DefaultAdam()
			case "AdamW":
				rule = DefaultAdamW()
			default:
				t.Fatalf("unknown optimizer %q", run.Optimizer)
			}
			if run.Dtype == "float32" {
				resumeTorch[float32](t, run, rule, ck, 2e-5)
			} else {
				resumeTorch[float64](t, run, rule, ck, 1e-13)
			}
		})
	}
}

func resumeTorch[T testFloat](t *testing.T, run torchResume, rule Rule, ck string, tol float64) {
	params := make([][]T, len(run.Params0))
	for i, p := range run.Params0 {
		params[i] = make([]T, len(p))
		for j, v := range p {
			params[i][j] = T(v)
		}
	}
	o, err := New(rule, params...)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.LoadFile(ck); err != nil {
		t.Fatal(err)
	}
	for i := range params {
		st, _ := o.State(i)
		want := run.CheckpointStep
		if run.Optimizer == "SGD" {
			want = 0 // torch's SGD keeps no step
		}
		if st.Step != want {
			t.Fatalf("param %d: step %d after Load, want %d", i, st.Step, want)
		}
	}
	grads := make([][]T, len(params))
	worst := 0.0
	for s := range run.Grads {
		for i, g := range run.Grads[s] {
			grads[i] = make([]T, len(g))
			for j, v := range g {
				grads[i][j] = T(v)
			}
		}
		if err := o.Step(grads...); err != nil {
			t.Fatal(err)
		}
		for i := range params {
			for j, want := range run.Params[s][i] {
				d := math.Abs(float64(params[i][j])-want) / math.Max(1, math.Abs(want))
				worst = math.Max(worst, d)
				if !(d <= tol) {
					t.Fatalf("step %d after the checkpoint, param %d [%d]: got %v, want %v (relative error %.3g > %.3g)", s+1, i, j, params[i][j], want, d, tol)
				}
			}
		}
	}
	t.Logf("worst relative error %.3g (tolerance %.3g)", worst, tol)
}

// TestCheckpointDuplicateGroupKey: a param_groups entry that names a key
// twice (json.Unmarshal would keep the last) is refused with a
// *CheckpointError naming the key, and nothing changes. Files of ours go
// through the same parseGroup once their checksum matches.
func TestCheckpointDuplicateGroupKey(t *testing.T) {
	groups := `[{"lr": 0.01, "betas": [0.9, 0.99], "eps": 1e-08, "weight_decay": 0, "amsgrad": false, "maximize": false, "foreach": null, "capturable": false, "differentiable": false, "fused": false, "lr": 0.5, "params": [0, 1]}]`
	meta := map[string]string{"param_groups": groups, "optimizer": "Adam", "torch": "2.5"}
	o, err := New(DefaultAdam(), make([]float32, 4), make([]float32, 1))
	if err != nil {
		t.Fatal(err)
	}
	loadFails(t, "duplicate lr in torch's layout", o, torchFile(meta, nil), `"lr" appears twice`)
}
