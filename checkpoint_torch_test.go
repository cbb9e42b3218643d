package optim

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Checkpoints in torch's layout: the class, the param_groups keys and the
// state keys of every rule, 0-d tensors of scalar state, and torch's own
// checkpoints resumed.

// TestCheckpointTorchKeys pins what a checkpoint says of every rule to its
// row of ruleCases: the torch class, the param_groups keys in torch's order
// with the rule's values (torch's implementation choices at their
// defaults), and the state tensors of a parameter: none before its first
// step (torch's state[p] is empty until then, for every rule), else the
// slots the config keeps and the rule's 0-d tensors.
func TestCheckpointTorchKeys(t *testing.T) {
	for _, c := range ruleCases() {
		for _, cl := range c.classes {
			classes, _ := savedHeader(t, cl.constructor, 0)
			if len(classes) != 1 || classes[0] != cl.name {
				t.Errorf("the default of %s is saved as the class %v", cl.name, classes)
			}
		}
		for _, cfg := range c.configs {
			checkTorchGroup(t, c, cfg.rule)
			for _, steps := range []int{0, 1} {
				_, tensors := savedHeader(t, cfg.rule, steps)
				var want []string
				if steps > 0 {
					for _, key := range cfg.state {
						if key != "" {
							want = append(want, "state.0."+key)
						}
					}
					for _, key := range c.scalarKeys {
						want = append(want, "state.0."+key)
					}
				}
				slices.Sort(want)
				if !slices.Equal(tensors, want) {
					t.Errorf("%#v after %d steps: tensors %v, want %v", cfg.rule, steps, tensors, want)
				}
			}
		}
	}
}

// savedHeader saves an optimizer of rule over one parameter after steps
// steps and returns the rule types and the sorted tensor names of the
// checkpoint.
func savedHeader(t *testing.T, rule Rule, steps int) (classes, tensors []string) {
	t.Helper()
	o, err := New(rule, make([]float32, 3))
	if err != nil {
		t.Fatal(err)
	}
	for range steps {
		if err := o.Step([]float32{1, -2, 0.5}); err != nil {
			t.Fatal(err)
		}
	}
	_, h := saveHeader(t, o)
	if err := json.Unmarshal([]byte(h.Metadata[rulesKey]), &classes); err != nil {
		t.Fatal(err)
	}
	for _, tn := range h.Tensors {
		tensors = append(tensors, tn.Name)
	}
	slices.Sort(tensors)
	return classes, tensors
}

// checkTorchGroup checks rule's param_groups entry against the row's keys:
// their order, and the value of each.
func checkTorchGroup(t *testing.T, c ruleCase, rule Rule) {
	t.Helper()
	raw := torchGroup(rule, 0, 1, nil)
	dec := json.NewDecoder(bytes.NewReader(raw))
	var keys []string
	values := map[string]any{}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("%#v: param_groups entry %s", rule, raw)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		values[tok.(string)] = v
	}
	var want []string
	for _, k := range c.groupKeys {
		want = append(want, k.key)
		var got []any
		if vs, ok := values[k.key].([]any); ok && len(k.fields) > 1 {
			got = vs
		} else {
			got = []any{values[k.key]}
		}
		if len(k.fields) == 0 {
			// An implementation choice: torch's default.
			if got[0] != nil && got[0] != false {
				t.Errorf("%#v: %q = %v, want torch's default", rule, k.key, got[0])
			}
			continue
		}
		for i, f := range k.fields {
			if v := reflectField(rule, f); i >= len(got) || got[i] != v {
				t.Errorf("%#v: %q = %v, want %s = %v", rule, k.key, values[k.key], f, v)
			}
		}
	}
	if want = append(want, "params"); !slices.Equal(keys, want) {
		t.Errorf("%#v: param_groups keys %v, want %v", rule, keys, want)
	}
}

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
			row, class := caseOfClass(t, run.Optimizer)
			rule := class.constructor
			keepsStep := slices.Contains(row.scalarKeys, "step")
			if run.Dtype == "float32" {
				resumeTorch[float32](t, run, rule, keepsStep, ck, 2e-5)
			} else {
				resumeTorch[float64](t, run, rule, keepsStep, ck, 1e-13)
			}
		})
	}
}

func resumeTorch[T testFloat](t *testing.T, run torchResume, rule Rule, keepsStep bool, ck string, tol float64) {
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
		if !keepsStep {
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

// nadamTorchFile is torch's state dict of an NAdam parameter of 2 elements
// after one step (values made up), as safetensors.
func nadamTorchFile(tensors ...torchTensor) []byte {
	groups := `[{"lr": 0.002, "betas": [0.9, 0.999], "eps": 1e-08, "weight_decay": 0, "momentum_decay": 0.004, "decoupled_weight_decay": false, "foreach": null, "maximize": false, "capturable": false, "differentiable": false, "params": [0]}]`
	return torchFile(map[string]string{"param_groups": groups, "optimizer": "NAdam"}, tensors)
}

func TestCheckpointScalarTensors(t *testing.T) {
	good := []torchTensor{
		{"state.0.exp_avg", "F32", []int64{2}, f32s(1, 2)},
		{"state.0.exp_avg_sq", "F32", []int64{2}, f32s(3, 4)},
		{"state.0.step", "F32", []int64{}, f32s(1)},
		{"state.0.mu_product", "F32", []int64{}, f32s(0.4)},
	}
	o, _ := New(DefaultNAdam(), make([]float32, 2))
	if err := o.Load(bytes.NewReader(nadamTorchFile(good...))); err != nil {
		t.Fatal(err)
	}
	st, _ := o.State(0)
	if st.MuProduct != 0.4 || st.Step != 1 || st.ExpAvgSq[1] != 4 {
		t.Fatalf("loaded %+v", st)
	}
	// Saved and loaded again: the same state, scalar included.
	var buf bytes.Buffer
	if err := o.Save(&buf); err != nil {
		t.Fatal(err)
	}
	o2, _ := New(DefaultNAdam(), make([]float32, 2))
	if err := o2.Load(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if fingerprint(t, o2) != fingerprint(t, o) {
		t.Fatal("round trip changed the state")
	}
	o = fresh(t, DefaultNAdam())
	with := func(k int, tn torchTensor) []byte {
		ts := slices.Clone(good)
		ts[k] = tn
		return nadamTorchFile(ts...)
	}
	loadFails(t, "scalar F64", o, with(3, torchTensor{"state.0.mu_product", "F64", []int64{}, append(f32s(0.4), f32s(0)...)}), "mu_product", "F32")
	loadFails(t, "scalar 1-d", o, with(3, torchTensor{"state.0.mu_product", "F32", []int64{1}, f32s(0.4)}), "mu_product", "0-d")
	loadFails(t, "scalar NaN", o, with(3, torchTensor{"state.0.mu_product", "F32", []int64{}, f32s(float32(nan32()))}), "mu_product", "finite")
	var ce *CheckpointError
	if err := loadFails(t, "scalar missing", o, nadamTorchFile(good[:3]...), "1 of its 4 state tensors are missing"); !errors.As(err, &ce) {
		t.Errorf("missing scalar: %T, want *CheckpointError", err)
	}
	loadFails(t, "scalar only", o, nadamTorchFile(good[3:]...), "3 of its 4 state tensors are missing")
	loadFails(t, "scalar of another rule", o, nadamTorchFile(append(slices.Clone(good), torchTensor{"state.0.eta", "F32", []int64{}, f32s(1)})...), "state.0.eta")

	// Ours: a damaged scalar fails the checksum; a missing one is named.
	data := buf.Bytes()
	flipped := slices.Clone(data)
	flipped[len(flipped)-1] ^= 1 // in the last 0-d tensor (step or mu_product)
	loadFails(t, "flipped scalar bit", o, flipped, "checksum")
	loadFails(t, "renamed scalar", o, editHeader(t, data, `"state.0.mu_product"`, `"state.0.mu_produc"`), "state.0.mu_produc")

	// A torch file without the parameter's state: not created, so the
	// next step is a first step (mu_product from 1).
	o = fresh(t, DefaultNAdam())
	if err := o.Load(bytes.NewReader(nadamTorchFile())); err != nil {
		t.Fatal(err)
	}
	if fingerprint(t, o) != fingerprint(t, fresh(t, DefaultNAdam())) {
		t.Error("a torch file without state did not load as a fresh optimizer")
	}
}

func fresh(t *testing.T, r Rule) *Optimizer[float32] {
	o, err := New(r, make([]float32, 2))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func nan32() float32 {
	var z float32
	return z / z
}

// TestCheckpointDuplicateGroupKey: a param_groups entry that names a key
// twice (json.Unmarshal would keep the last) is refused with a
// *CheckpointError naming the key, and nothing changes. Files of ours go
// through the same decodeGroup once their checksum matches.
func TestCheckpointDuplicateGroupKey(t *testing.T) {
	groups := `[{"lr": 0.01, "betas": [0.9, 0.99], "eps": 1e-08, "weight_decay": 0, "amsgrad": false, "maximize": false, "foreach": null, "capturable": false, "differentiable": false, "fused": false, "lr": 0.5, "params": [0, 1]}]`
	meta := map[string]string{"param_groups": groups, "optimizer": "Adam", "torch": "2.5"}
	o, err := New(DefaultAdam(), make([]float32, 4), make([]float32, 1))
	if err != nil {
		t.Fatal(err)
	}
	loadFails(t, "duplicate lr in torch's layout", o, torchFile(meta, nil), `"lr" appears twice`)
}
