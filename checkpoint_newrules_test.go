package optim

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/simdoptim/optim/internal/safetensors"
)

// Checkpoints of the new rules: torch 2.11's param_groups keys, scalar
// state as 0-d float32 tensors, lazily created state absent until created.
// Their round trips and bit-exact resumes are ckConfigs' (checkpoint_test.go).

// TestCheckpointNewRulesGroups pins each new rule's class and param_groups
// keys to torch 2.11's (Lion: lion-pytorch's, without a torch class).
func TestCheckpointNewRulesGroups(t *testing.T) {
	cases := []struct {
		rule  Rule
		class string
		keys  []string
	}{
		{DefaultNAdam(), "NAdam", []string{"lr", "betas", "eps", "weight_decay", "momentum_decay", "decoupled_weight_decay", "foreach", "maximize", "capturable", "differentiable"}},
		{DefaultRAdam(), "RAdam", []string{"lr", "betas", "eps", "weight_decay", "decoupled_weight_decay", "foreach", "maximize", "capturable", "differentiable"}},
		{DefaultAdamax(), "Adamax", []string{"lr", "betas", "eps", "weight_decay", "foreach", "maximize", "differentiable", "capturable"}},
		{DefaultAdadelta(), "Adadelta", []string{"lr", "rho", "eps", "weight_decay", "foreach", "capturable", "maximize", "differentiable"}},
		{DefaultRprop(), "Rprop", []string{"lr", "etas", "step_sizes", "foreach", "maximize", "differentiable", "capturable"}},
		{DefaultASGD(), "ASGD", []string{"lr", "lambd", "alpha", "t0", "weight_decay", "foreach", "maximize", "differentiable", "capturable"}},
		{DefaultLion(), "Lion", []string{"lr", "betas", "weight_decay", "maximize"}},
	}
	for _, c := range cases {
		o, err := New(c.rule, make([]float32, 3))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := o.Save(&buf); err != nil {
			t.Fatal(err)
		}
		h, err := safetensors.ReadHeader(bytes.NewReader(buf.Bytes()), safetensors.Unlimited(1<<20), nil)
		if err != nil {
			t.Fatal(err)
		}
		var classes []string
		var groups []map[string]json.RawMessage
		_ = json.Unmarshal([]byte(h.Metadata[rulesKey]), &classes)
		_ = json.Unmarshal([]byte(h.Metadata[groupsKey]), &groups)
		if len(classes) != 1 || classes[0] != c.class {
			t.Errorf("%s: classes %v", c.class, classes)
		}
		var got []string
		for k := range groups[0] {
			got = append(got, k)
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(append(slices.Clone(c.keys), "params")))
		if !slices.Equal(got, want) {
			t.Errorf("%s: param_groups keys %v, want %v", c.class, got, want)
		}
		// Unstepped: the lazily created state is absent, the rest there.
		var names []string
		for _, tn := range h.Tensors {
			names = append(names, tn.Name)
		}
		if lazyState(c.rule.kind()) != (len(names) == 0) {
			t.Errorf("%s: an unstepped checkpoint has tensors %v", c.class, names)
		}
	}
	// The pairs decode in torch's order.
	r := Rprop{LR: 0.1, EtaMinus: 0.25, EtaPlus: 3, StepSizeMin: 0.5, StepSizeMax: 7}
	if s := string(torchGroup(r, 0, 1)); !strings.Contains(s, `"etas":[0.25,3],"step_sizes":[0.5,7]`) {
		t.Errorf("Rprop group %s", s)
	}
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
