package optim

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

// TestHoldGroupLR: a rate the rule accepts is set, as SetGroupLR sets it;
// a finite one it refuses is held and reported, and Step refuses it with
// nothing changed, until a valid rate replaces it; NaN is refused.
func TestHoldGroupLR(t *testing.T) {
	p := []float32{1, 2}
	q := []float32{3, 4}
	o, err := NewGroups(Group[float32]{Rule: DefaultAdamW(), Params: [][]float32{p}}, Group[float32]{Rule: SGD{LR: 0.1, Momentum: 0.9}, Params: [][]float32{q}})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.HoldGroupLR(0, 0.01, "StepLR"); err != nil || o.GroupLR(0) != 0.01 || o.GroupRule(0).(Adam).LR != 0.01 {
		t.Fatalf("a valid rate: %v, rate %v", err, o.GroupLR(0))
	}
	if err := o.HoldGroupLR(1, -0.5, "OneCycleLR"); err != nil {
		t.Fatal(err)
	}
	if o.GroupLR(1) != -0.5 || o.GroupRule(1).(SGD).LR != -0.5 || o.GroupRule(1).(SGD).Momentum != 0.9 {
		t.Errorf("held rate reported as %v, %+v", o.GroupLR(1), o.GroupRule(1))
	}
	grads := [][]float32{{1, 1}, {1, 1}}
	err = o.Step(grads...)
	var he *HeldRateError
	if !errors.As(err, &he) || he.Op != "Step" || he.Group != 1 || he.Rule != "SGD" || he.Field != "LR" ||
		he.Value != -0.5 || he.By != "OneCycleLR" || he.Want != "a finite value >= 0" {
		t.Fatalf("Step with a held rate: %#v", err)
	}
	if want := "optim: Step: group 1 (SGD) holds LR = -0.5, set by OneCycleLR"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("message %q, want it to start %q", err, want)
	}
	if p[0] != 1 || q[0] != 3 || o.Steps() != 0 {
		t.Fatal("a refused step changed something")
	}
	// A step in which the group has no gradient uses no rate, as in
	// torch: the other group steps.
	if err := o.Step([]float32{1, 1}, nil); err != nil || p[0] == 1 || q[0] != 3 {
		t.Fatalf("Step with group 1's gradient nil: %v, params %v %v", err, p, q)
	}
	if err := o.Step(); err != nil {
		t.Errorf("Step on the owned buffers, none set: %v", err)
	}
	for _, bad := range []float64{math.NaN(), math.Inf(-1)} {
		if err := o.HoldGroupLR(1, bad, "x"); err == nil {
			t.Errorf("HoldGroupLR(%v) accepted", bad)
		}
	}
	if err := o.HoldGroupLR(2, 0.1, "x"); err == nil {
		t.Error("HoldGroupLR of group 2 of 2 accepted")
	}
	if err := o.HoldGroupMomentum(0, 1.5, "CyclicLR"); err != nil {
		t.Fatal(err)
	}
	if m, _ := o.GroupMomentum(0); m != 1.5 {
		t.Errorf("held momentum reported as %v", m)
	}
	// The group's other setters replace only what they set.
	if err := o.SetGroupMomentum(1, 0.5); err != nil || o.GroupLR(1) != -0.5 {
		t.Errorf("SetGroupMomentum: %v; the held rate became %v", err, o.GroupLR(1))
	}
	if err := o.SetGroupLR(0, 0.02); err != nil {
		t.Fatal(err)
	}
	if err := o.Step(grads...); !errors.As(err, &he) || he.Group != 0 || he.Field != "Beta1" || he.Rule != "AdamW" {
		t.Errorf("Step with a held momentum: %v", err)
	}
	if err := o.SetGroupRule(0, o.GroupRule(0).withMomentum(0.9)); err != nil {
		t.Fatal(err)
	}
	if err := o.SetLR(0.03); err != nil {
		t.Fatal(err)
	}
	if err := o.Step(grads...); err != nil {
		t.Fatalf("Step after valid values: %v", err)
	}
}

// TestHeldRateCheckpoint: Save writes a held rate into param_groups, as
// torch's state dict has it, and names the scheduler in optim.held; Load
// holds it again. A file with nothing held has no optim.held. A torch file
// whose lr its rule refuses loads held; one of ours only where optim.held
// says so.
func TestHeldRateCheckpoint(t *testing.T) {
	newOpt := func() *Optimizer[float32] {
		o, err := NewGroups(Group[float32]{Rule: DefaultAdamW(), Params: [][]float32{{1, 2}}}, Group[float32]{Rule: SGD{LR: 0.1, Momentum: 0.9}, Params: [][]float32{{3}}})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	save := func(o *Optimizer[float32]) []byte {
		var b bytes.Buffer
		if err := o.Save(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	o := newOpt()
	if plain := save(o); bytes.Contains(plain, []byte(heldKey)) {
		t.Error("a file with nothing held has optim.held")
	}
	if err := o.HoldGroupLR(1, -6.5e-6, "OneCycleLR"); err != nil {
		t.Fatal(err)
	}
	if err := o.HoldGroupMomentum(0, 1, "OneCycleLR"); err != nil {
		t.Fatal(err)
	}
	data := save(o)
	if !bytes.Contains(data, []byte(`\"lr\":-0.0000065`)) || !bytes.Contains(data, []byte(`\"betas\":[1,`)) {
		t.Errorf("param_groups lacks the held values: %s", data[:200])
	}
	o2 := newOpt()
	if err := o2.Load(bytes.NewReader(data)); err != nil {
		t.Fatalf("Load: %v", err)
	}
	m, _ := o2.GroupMomentum(0)
	if o2.GroupLR(1) != -6.5e-6 || m != 1 || o2.GroupLR(0) != o.GroupLR(0) {
		t.Errorf("loaded lr %v, momentum %v", o2.GroupLR(1), m)
	}
	e1, e2 := o.Step([]float32{1, 1}, []float32{1}), o2.Step([]float32{1, 1}, []float32{1})
	if e1 == nil || e2 == nil || e1.Error() != e2.Error() {
		t.Errorf("Step: %v, after Load: %v", e1, e2)
	}
	if !bytes.Equal(save(o2), data) {
		t.Error("the loaded optimizer saves another file")
	}

	// Ours: optim.held must agree with param_groups.
	r := newOpt()
	loadFails(t, "optim.held of a group that holds nothing", r, editHeader(t, data, `"optim.held":"{\"0\":\"OneCycleLR\",\"1\":\"OneCycleLR\"}"`, `"optim.held":"{\"0\":\"OneCycleLR\"}"`), "LR = -6.5e-06")
	loadFails(t, "optim.held of group 2", r, editHeader(t, data, `"optim.held":"{\"0\"`, `"optim.held":"{\"2\"`), "optim.held")
	loadFails(t, "optim.held not an object", r, editHeader(t, data, `"optim.held":"{`, `"optim.held":"[{`), "optim.held")

	// torch's layout: a negative lr, as torch saves it after OneCycleLR's
	// last step, loads held.
	sgd, err := New(SGD{LR: 0.1}, []float32{1})
	if err != nil {
		t.Fatal(err)
	}
	groups := `[{"lr": -1e-05, "momentum": 0, "dampening": 0, "weight_decay": 0, "nesterov": false, "maximize": false, "foreach": null, "differentiable": false, "initial_lr": 0.004, "params": [0]}]`
	if err := sgd.Load(bytes.NewReader(torchFile(map[string]string{groupsKey: groups}, nil))); err != nil {
		t.Fatalf("Load of torch's file: %v", err)
	}
	var he *HeldRateError
	if err := sgd.Step([]float32{1}); sgd.GroupLR(0) != -1e-5 || !errors.As(err, &he) || he.By != "" ||
		!strings.Contains(err.Error(), "loaded from a torch checkpoint") {
		t.Errorf("torch's negative lr: rate %v, Step %v", sgd.GroupLR(0), err)
	}
	// Other values are not held.
	bad := strings.Replace(strings.Replace(groups, `"weight_decay": 0`, `"weight_decay": -1`, 1), "-1e-05", "0.01", 1)
	loadFails(t, "torch's negative weight_decay", sgd, torchFile(map[string]string{groupsKey: bad}, nil), "WeightDecay")
}
