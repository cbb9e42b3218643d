package optim

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// TestNewIsOneGroup: New(rule, params...) is NewGroups(Group{rule, params}).
func TestNewIsOneGroup(t *testing.T) {
	for _, c := range caseConfigs() {
		a, grads := apiInputs[float32](11, 4)
		b := clone2(a)
		oa, err := New(c.rule, a...)
		if err != nil {
			t.Fatal(err)
		}
		ob, err := NewGroups(Group[float32]{Rule: c.rule, Params: b})
		if err != nil {
			t.Fatal(err)
		}
		for s := range grads {
			if err := oa.Step(grads[s]...); err != nil {
				t.Fatal(err)
			}
			if err := ob.Step(grads[s]...); err != nil {
				t.Fatal(err)
			}
		}
		for i := range a {
			if j := firstDiff(a[i], b[i]); j >= 0 {
				t.Fatalf("%#v: param %d differs at %d", c.rule, i, j)
			}
		}
	}
}

// TestGroupsMatchSeparateOptimizers: a step of an optimizer with groups of
// different rule types is the step of one optimizer per group.
func TestGroupsMatchSeparateOptimizers(t *testing.T) {
	testGroupsMatch[float32](t)
	testGroupsMatch[float64](t)
}

func testGroupsMatch[T testFloat](t *testing.T) {
	cases := caseConfigs()
	params, _ := apiInputs[T](12, 0)
	var groups []Group[T]
	var single []*Optimizer[T]
	var singleParams [][][]T
	for k, c := range cases {
		ps := clone2(params[:1+k%len(params)])
		groups = append(groups, Group[T]{Rule: c.rule, Params: ps})
		own := clone2(ps)
		o, err := New(c.rule, own...)
		if err != nil {
			t.Fatal(err)
		}
		single = append(single, o)
		singleParams = append(singleParams, own)
	}
	o, err := NewGroups(groups...)
	if err != nil {
		t.Fatal(err)
	}
	if o.Groups() != len(cases) {
		t.Fatalf("Groups() = %d, want %d", o.Groups(), len(cases))
	}
	for s := range 5 {
		var all [][]T
		for k, g := range groups {
			var gs [][]T
			for i, p := range g.Params {
				grad := make([]T, len(p))
				for j := range grad {
					grad[j] = T((s*7+k*3+i+j)%17-8) / 4
				}
				gs = append(gs, grad)
			}
			all = append(all, gs...)
			if err := single[k].Step(gs...); err != nil {
				t.Fatal(err)
			}
		}
		if err := o.Step(all...); err != nil {
			t.Fatal(err)
		}
	}
	idx := 0
	for k, g := range groups {
		for i := range g.Params {
			if j := firstDiff(g.Params[i], singleParams[k][i]); j >= 0 {
				t.Fatalf("group %d (%#v) param %d differs at %d", k, cases[k].rule, i, j)
			}
			got, _ := o.State(idx)
			want, _ := single[k].State(i)
			if got.Step != 5 || want.Step != 5 {
				t.Errorf("State(%d).Step = %d, want 5", idx, got.Step)
			}
			gf, wf := stateByKey(&got), stateByKey(&want)
			for name := range wf {
				if j := firstDiff(*gf[name], *wf[name]); j >= 0 {
					t.Fatalf("group %d param %d: %s differs at %d", k, i, name, j)
				}
			}
			idx++
		}
	}
}

func TestGroupAccessors(t *testing.T) {
	o, err := NewGroups(
		Group[float32]{Rule: DefaultSGD(), Params: [][]float32{make([]float32, 3)}},
		Group[float32]{Rule: DefaultAdagrad(), Params: [][]float32{make([]float32, 2)}},
		Group[float32]{Rule: DefaultAdamW(), Params: [][]float32{make([]float32, 4), make([]float32, 1)}},
	)
	if err != nil {
		t.Fatal(err)
	}
	if o.Len() != 4 || o.Groups() != 3 {
		t.Fatalf("Len, Groups = %d, %d", o.Len(), o.Groups())
	}
	if err := o.SetLR(0.5); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if o.GroupLR(i) != 0.5 {
			t.Errorf("after SetLR, GroupLR(%d) = %v", i, o.GroupLR(i))
		}
	}
	if err := o.SetGroupLR(2, 0.25); err != nil || o.GroupLR(2) != 0.25 || o.LR() != 0.5 {
		t.Errorf("SetGroupLR(2): %v; LRs %v %v", err, o.GroupLR(2), o.LR())
	}
	if m, ok := o.GroupMomentum(1); ok {
		t.Errorf("Adagrad GroupMomentum = %v, true", m)
	}
	if err := o.SetGroupMomentum(1, 0.9); !errors.Is(err, ErrNoMomentum) {
		t.Errorf("SetGroupMomentum on Adagrad: %v, want ErrNoMomentum", err)
	}
	if err := o.SetGroupMomentum(2, 0.8); err != nil {
		t.Fatal(err)
	}
	if m, ok := o.GroupMomentum(2); !ok || m != 0.8 || o.GroupRule(2).(Adam).Beta1 != 0.8 {
		t.Errorf("Adam GroupMomentum after set = %v, %v", m, ok)
	}
	if err := o.SetGroupMomentum(0, 0.9); err != nil {
		t.Fatal(err)
	}
	if o.GroupRule(0).(SGD).Momentum != 0.9 {
		t.Errorf("SGD momentum not set")
	}
	// Out of range.
	if !math.IsNaN(o.GroupLR(3)) || !math.IsNaN(o.GroupLR(-1)) || o.GroupRule(3) != nil {
		t.Error("out-of-range GroupLR/GroupRule")
	}
	var ie *IndexError
	if err := o.SetGroupLR(3, 1); !errors.As(err, &ie) || ie.Index != 3 || ie.Len != 3 {
		t.Errorf("SetGroupLR(3): %v", err)
	}
	// A failed SetLR changes no group, even when a later group rejects it.
	f, _ := NewGroups(
		Group[float32]{Rule: DefaultSGD(), Params: [][]float32{make([]float32, 3)}},
		Group[float32]{Rule: DefaultAdam(), Params: [][]float32{make([]float32, 3)}},
	)
	if err := f.SetLR(1e38); err == nil { // Adam: LR/(1-β1) = 1e39
		t.Error("SetLR(1e38) with an Adam group in float32: no error")
	}
	if f.GroupLR(0) != DefaultSGD().LR {
		t.Errorf("a failed SetLR changed group 0 to %v", f.GroupLR(0))
	}
}

func TestSetGroupRule(t *testing.T) {
	p := make([]float64, 4)
	o, err := New(DefaultSGD(), p)
	if err != nil {
		t.Fatal(err)
	}
	var re *RuleError
	if err := o.SetGroupRule(0, DefaultAdam()); !errors.As(err, &re) || !strings.Contains(err.Error(), "rule type") {
		t.Errorf("SetGroupRule to another type: %v", err)
	}
	var he *HyperparameterError
	if err := o.SetGroupRule(0, SGD{LR: -1}); !errors.As(err, &he) || he.Group != 0 || he.Field != "LR" {
		t.Errorf("SetGroupRule(bad LR): %v", err)
	}
	if o.GroupRule(0) != DefaultSGD() {
		t.Error("a failed SetGroupRule changed the rule")
	}
	g := []float64{1, 2, 3, 4}
	if err := o.Step(g); err != nil {
		t.Fatal(err)
	}
	// Turning momentum on allocates the buffer; the first step with it
	// clones g, as torch does when momentum_buffer is None.
	if err := o.SetGroupRule(0, SGD{LR: 0.5, Momentum: 0.9}); err != nil {
		t.Fatal(err)
	}
	st, _ := o.State(0)
	if st.MomentumBuffer != nil {
		t.Error("momentum buffer exists before the first step with momentum")
	}
	before := append([]float64(nil), p...)
	if err := o.Step(g); err != nil {
		t.Fatal(err)
	}
	st, _ = o.State(0)
	for i := range p {
		if st.MomentumBuffer[i] != g[i] || p[i] != before[i]-0.5*g[i] {
			t.Fatalf("first momentum step: buf %v p %v", st.MomentumBuffer, p)
		}
	}
}

// TestAddGroupStartsFresh: a group added later has step counts of 0, so
// its first step is step 1, exactly like a new optimizer's over its
// parameters, and the old groups go on.
func TestAddGroupStartsFresh(t *testing.T) {
	a := []float32{1, 2, 3}
	b := []float32{4, 5}
	bAlone := append([]float32(nil), b...)
	o, err := New(DefaultAdam(), a)
	if err != nil {
		t.Fatal(err)
	}
	alone, _ := New(DefaultAdamW(), bAlone)
	for range 3 {
		if err := o.Step([]float32{1, 1, 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.AddGroup(Group[float32]{Rule: DefaultAdamW(), Params: [][]float32{b}}); err != nil {
		t.Fatal(err)
	}
	if st, _ := o.State(1); st.Step != 0 {
		t.Errorf("the added parameter's step count is %d, want 0", st.Step)
	}
	for s := range 4 {
		g := []float32{float32(s) - 1, 0.5}
		if err := o.Step([]float32{1, 1, 1}, g); err != nil {
			t.Fatal(err)
		}
		if err := alone.Step(g); err != nil {
			t.Fatal(err)
		}
	}
	if j := firstDiff(b, bAlone); j >= 0 {
		t.Fatalf("added group differs from a fresh optimizer at %d: %v vs %v", j, b, bAlone)
	}
	s0, _ := o.State(0)
	s1, _ := o.State(1)
	if s0.Step != 7 || s1.Step != 4 || o.Steps() != 7 {
		t.Errorf("steps: %d %d %d, want 7 4 7", s0.Step, s1.Step, o.Steps())
	}
	// AddGroup validates before changing anything.
	var oe *OverlapError
	if err := o.AddGroup(Group[float32]{Rule: DefaultSGD(), Params: [][]float32{a[1:]}}); !errors.As(err, &oe) {
		t.Errorf("AddGroup overlapping a param: %v", err)
	}
	st, _ := o.State(0)
	if err := o.AddGroup(Group[float32]{Rule: DefaultSGD(), Params: [][]float32{st.ExpAvg}}); !errors.As(err, &oe) || oe.A.Kind != "state" {
		t.Errorf("AddGroup of the optimizer's own state: %v", err)
	}
	if err := o.AddGroup(Group[float32]{Rule: Adam{LR: 1}, Params: [][]float32{make([]float32, 2)}}); err == nil {
		t.Error("AddGroup with a bad rule: no error")
	}
	if err := o.AddGroup(Group[float32]{Rule: DefaultSGD(), Params: nil}); err == nil {
		t.Error("AddGroup with no params: no error")
	}
	if o.Groups() != 2 || o.Len() != 2 {
		t.Errorf("failed AddGroups changed the optimizer: %d groups, %d params", o.Groups(), o.Len())
	}
}

func TestOverlapAcrossGroups(t *testing.T) {
	mem := make([]float64, 16)
	_, err := NewGroups(
		Group[float64]{Rule: DefaultSGD(), Params: [][]float64{mem[0:4]}},
		Group[float64]{Rule: DefaultAdam(), Params: [][]float64{mem[8:10], mem[3:5]}},
	)
	var oe *OverlapError
	if !errors.As(err, &oe) || oe.A.Index != 0 || oe.B.Index != 2 {
		t.Fatalf("overlap across groups: %v", err)
	}
	wantError(t, "overlap across groups", err, "param 0 and param 2 overlap")
}

// TestBeta1ChangeEntersBiasCorrection: after SetGroupMomentum, step t uses
// 1 - β1^t with the new β1, as torch does.
func TestBeta1ChangeEntersBiasCorrection(t *testing.T) {
	p := []float64{1, -2, 3}
	o, _ := New(DefaultAdam(), p)
	m := newManual(t, Kernels(), DefaultAdam(), append([]float64(nil), p...))
	g := []float64{0.5, -1, 2}
	for s := range 6 {
		if s == 3 {
			if err := o.SetGroupMomentum(0, 0.5); err != nil {
				t.Fatal(err)
			}
			r := DefaultAdam()
			r.Beta1 = 0.5
			m.rule = r
		}
		if err := o.Step(g); err != nil {
			t.Fatal(err)
		}
		m.step(t, g)
	}
	if j := firstDiff(p, m.p); j >= 0 {
		t.Fatalf("after a β1 change: %v, by hand %v", p, m.p)
	}
}

// TestStepCountOverflow: a step that takes the count to MaxInt64 is the
// last; the next must be an error that changes nothing, not a wrap to
// MinInt64 and NaN.
func TestStepCountOverflow(t *testing.T) {
	p := []float32{1, 2}
	o, _ := New(DefaultAdam(), p)
	if err := o.SetSteps(math.MaxInt64 - 1); err != nil {
		t.Fatal(err)
	}
	if err := o.Step([]float32{1, 1}); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, o)
	var se *StateError
	if err := o.Step([]float32{1, 1}); !errors.As(err, &se) || se.Param != 0 || se.Key != "step" || !strings.Contains(err.Error(), "9223372036854775807") {
		t.Fatalf("Step at MaxInt64: %v", err)
	}
	if o.Steps() != math.MaxInt64 || !sameSnapshot(before, snapshot(t, o)) {
		t.Error("a failed Step changed the optimizer")
	}
	if err := o.SetState(0, State[float32]{Step: -1, ExpAvg: make([]float32, 2), ExpAvgSq: make([]float32, 2)}); !errors.As(err, &se) {
		t.Errorf("SetState with step -1: %v", err)
	}
}

// TestZeroOptimizer: the zero Optimizer is usable.
func TestZeroOptimizer(t *testing.T) {
	var o Optimizer[float32]
	noPanic(t, "zero Optimizer", func() {
		if err := o.Step(); err != nil {
			t.Errorf("Step(): %v", err)
		}
		if err := o.Step([]float32{1}); err == nil {
			t.Error("Step(g) on no params: no error")
		}
		if !math.IsNaN(o.LR()) || o.Rule() != nil || o.Groups() != 0 || o.Len() != 0 || o.Steps() != 0 {
			t.Error("zero Optimizer accessors")
		}
		if err := o.SetLR(0.1); err != nil {
			t.Errorf("SetLR on no groups: %v", err)
		}
		if _, err := o.State(0); err == nil {
			t.Error("State(0) on no params: no error")
		}
	})
	p := []float32{1}
	if err := o.AddGroup(Group[float32]{Rule: SGD{LR: 0.5}, Params: [][]float32{p}}); err != nil {
		t.Fatal(err)
	}
	if err := o.Step([]float32{1}); err != nil || p[0] != 0.5 {
		t.Fatalf("after AddGroup: %v, p = %v", err, p)
	}
}

// TestGradAliasingState: a gradient that is the optimizer's own state is
// an error, as in kernels.Adam.
func TestGradAliasingState(t *testing.T) {
	p0, p1 := make([]float32, 4), make([]float32, 3)
	o, _ := NewGroups(Group[float32]{Rule: DefaultSGD(), Params: [][]float32{p0}}, Group[float32]{Rule: Adam{LR: 1e-3, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, AMSGrad: true}, Params: [][]float32{p1}})
	// A first step creates the state (State has none before it).
	if err := o.Step(make([]float32, 4), make([]float32, 3)); err != nil {
		t.Fatal(err)
	}
	st, _ := o.State(1)
	for _, bad := range [][]float32{st.ExpAvg, st.ExpAvgSq, st.MaxExpAvgSq} {
		var oe *OverlapError
		err := o.Step(make([]float32, 4), bad)
		if !errors.As(err, &oe) || oe.A != (Slot{Kind: "grad", Index: 1}) || oe.B.Kind != "state" || oe.B.Index != 1 {
			t.Errorf("grad aliasing state: %v", err)
		}
	}
	wantError(t, "grad aliasing state", o.Step(make([]float32, 4), st.ExpAvgSq), "grad 1 overlaps the exp_avg_sq state of param 1")
}

// TestRestoreKeepsMomentumBuffer: SGD's first-step copy is decided by the
// buffer's existence, as in torch, not by the step count.
func TestRestoreKeepsMomentumBuffer(t *testing.T) {
	r := SGD{LR: 0.1, Momentum: 0.9}
	p := []float64{1, 1}
	o, _ := New(r, p)
	// A restore that forgot the step count but gave the buffer.
	if err := o.SetState(0, State[float64]{MomentumBuffer: []float64{10, 20}}); err != nil {
		t.Fatal(err)
	}
	if err := o.Step([]float64{1, 2}); err != nil {
		t.Fatal(err)
	}
	st, _ := o.State(0)
	want := []float64{float64(10*0.9) + 1, float64(20*0.9) + 2}
	if st.MomentumBuffer[0] != want[0] || st.MomentumBuffer[1] != want[1] {
		t.Errorf("restored buffer was not used: %v, want %v", st.MomentumBuffer, want)
	}
	// A nil buffer in SetState means none exists: the next step clones g.
	if err := o.SetState(0, State[float64]{Step: 5}); err != nil {
		t.Fatal(err)
	}
	if st, _ := o.State(0); st.MomentumBuffer != nil || st.Step != 5 {
		t.Errorf("after SetState without a buffer: %+v", st)
	}
	if err := o.Step([]float64{3, 4}); err != nil {
		t.Fatal(err)
	}
	if st, _ := o.State(0); st.MomentumBuffer[0] != 3 || st.MomentumBuffer[1] != 4 {
		t.Errorf("first step after a buffer-less restore: %v", st.MomentumBuffer)
	}
	// Wrong lengths are errors that change nothing.
	var se *ShapeError
	if err := o.SetState(0, State[float64]{MomentumBuffer: []float64{1}}); !errors.As(err, &se) || se.What != "momentum_buffer" {
		t.Errorf("SetState with a short buffer: %v", err)
	}
}

func TestTypedErrors(t *testing.T) {
	var he *HyperparameterError
	_, err := NewGroups(Group[float32]{Rule: DefaultSGD(), Params: [][]float32{make([]float32, 1)}}, Group[float32]{Rule: Adam{LR: 1e-3, Beta1: 1.5, Eps: 1e-8}, Params: [][]float32{make([]float32, 1)}})
	if !errors.As(err, &he) || he.Group != 1 || he.Rule != "Adam" || he.Field != "Beta1" || he.Value != 1.5 || he.Want != "in [0, 1)" {
		t.Errorf("HyperparameterError: %#v", err)
	}
	wantError(t, "group error", err, "group 1: Adam.Beta1 = 1.5, want in [0, 1)")
	o, _ := New(DefaultSGD(), make([]float32, 3), make([]float32, 2))
	var se *ShapeError
	if err := o.Step(make([]float32, 3)); !errors.As(err, &se) || se.Index != -1 || se.Got != 1 || se.Want != 2 {
		t.Errorf("count ShapeError: %v", err)
	}
	if err := o.Step(make([]float32, 3), make([]float32, 5)); !errors.As(err, &se) || se.Index != 1 || se.Got != 5 || se.Want != 2 {
		t.Errorf("length ShapeError: %v", err)
	}
}

func TestGroupsStepAllocatesNothing(t *testing.T) {
	var groups []Group[float32]
	var grads [][]float32
	for k := range 10 {
		r := Rule(DefaultAdamW())
		if k%3 == 1 {
			r = SGD{LR: 0.1, Momentum: 0.9}
		}
		groups = append(groups, Group[float32]{Rule: r, Params: [][]float32{make([]float32, 100), make([]float32, 7)}})
		grads = append(grads, make([]float32, 100), make([]float32, 7))
	}
	o, err := NewGroups(groups...)
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(20, func() { _ = o.Step(grads...) }); n != 0 {
		t.Errorf("Step with 10 groups allocates %v times", n)
	}
}

// TestScalarsSharedOnlyBetweenEqualRules: a group whose parameters are all
// empty computes no scalars; the next group must not take the scalars of
// the group before it when its own rule differs from that one (A, empty B
// with rule Y, C with rule Y).
func TestScalarsSharedOnlyBetweenEqualRules(t *testing.T) {
	x, y := SGD{LR: 0.5}, SGD{LR: 0.25}
	a, c := []float64{1, 1}, []float64{1, 1}
	o, err := NewGroups(Group[float64]{Rule: x, Params: [][]float64{a}}, Group[float64]{Rule: y, Params: [][]float64{{}}}, Group[float64]{Rule: y, Params: [][]float64{c}})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := o.Step([]float64{1, 1}, nil, []float64{1, 1}); err != nil {
			t.Fatal(err)
		}
		if err := o.SetGroupLR(0, 0.5); err != nil { // rules changed: compared again
			t.Fatal(err)
		}
	}
	if a[0] != 0 || c[0] != 0.5 {
		t.Errorf("after two steps: a = %v (want 0), c = %v (want 0.5)", a, c)
	}
}

// TestScalarSharingAcrossGroups: groups with equal rules share one
// computation of the scalars only when their parameters' scalar state
// is equal; a group added later (fresh mu_product) gets its own.
func TestScalarSharingAcrossGroups(t *testing.T) {
	for _, c := range lazyConfigs(t) {
		rule := c.rule
		a, b := []float32{1, 2}, []float32{1, 2}
		o, err := New(rule, a)
		if err != nil {
			t.Fatal(err)
		}
		_ = o.Step([]float32{1, 1})
		_ = o.Step([]float32{1, 1})
		if err := o.AddGroup(Group[float32]{Rule: rule, Params: [][]float32{b}}); err != nil {
			t.Fatal(err)
		}
		_ = o.SetSteps(2) // same step counts, different scalar state and existence
		_ = o.Step([]float32{1, 1}, []float32{1, 1})
		// b took a first step (at step count 3) under the same rule.
		ref, ref2 := []float32{1, 2}, []float32{1, 2}
		r, _ := New(rule, ref)
		_ = r.SetSteps(2)
		_ = r.Step([]float32{1, 1})
		if firstDiff(b, ref) >= 0 {
			t.Errorf("%s: the added group's first step = %v, alone %v", ruleName(rule), b, ref)
		}
		r2, _ := New(rule, ref2)
		for range 3 {
			_ = r2.Step([]float32{1, 1})
		}
		if firstDiff(a, ref2) >= 0 {
			t.Errorf("%s: the first group's third step = %v, alone %v", ruleName(rule), a, ref2)
		}
		st, _ := o.State(1)
		st2, _ := r.State(0)
		if st.MuProduct != st2.MuProduct || st.Eta != st2.Eta || st.Mu != st2.Mu {
			t.Errorf("%s: scalars %+v, alone %+v", ruleName(rule), st, st2)
		}
	}
}

// TestGradCheckCacheInvalidated: a grad validated once is not searched
// again, but a group added later (new memory the optimizer writes) makes
// every grad be checked again: here the added parameter is the old grad.
func TestGradCheckCacheInvalidated(t *testing.T) {
	mem := make([]float32, 8)
	o, _ := New(DefaultSGD(), mem[:4])
	g := mem[4:8]
	if err := o.Step(g); err != nil {
		t.Fatal(err)
	}
	if err := o.AddGroup(Group[float32]{Rule: DefaultSGD(), Params: [][]float32{g}}); err != nil {
		t.Fatal(err)
	}
	var oe *OverlapError
	if err := o.Step(g, make([]float32, 4)); !errors.As(err, &oe) || oe.B != (Slot{Kind: "param", Index: 1}) {
		t.Errorf("the old grad, now a param: %v", err)
	}
}

// TestSetGroupRuleKeepsTorchClass: Adam and AdamW are one Go type but two
// torch classes, which Load tells apart; SetGroupRule refuses to move a
// group between them, as between rule types, and changes nothing. NAdam's
// decoupled weight decay is a key of one class, so it may change.
func TestSetGroupRuleKeepsTorchClass(t *testing.T) {
	o, err := New(DefaultAdam(), make([]float32, 3))
	if err != nil {
		t.Fatal(err)
	}
	err = o.SetGroupRule(0, DefaultAdamW())
	var re *RuleError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "AdamW") {
		t.Fatalf("SetGroupRule(Adam -> AdamW) = %v, want a *RuleError naming AdamW", err)
	}
	if r := o.GroupRule(0).(Adam); r.Decoupled || r.WeightDecay != 0 {
		t.Fatalf("a refused SetGroupRule changed the rule to %+v", r)
	}
	n, err := New(DefaultNAdam(), make([]float32, 3))
	if err != nil {
		t.Fatal(err)
	}
	nw := DefaultNAdam()
	nw.Decoupled, nw.WeightDecay = true, 0.01
	if err := n.SetGroupRule(0, nw); err != nil {
		t.Fatalf("SetGroupRule(NAdam -> decoupled NAdam) = %v", err)
	}
}
