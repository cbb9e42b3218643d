package optim

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

// Tests of the rules that came with torch 2.11's optimizers (NAdam, RAdam,
// Adamax, Adadelta, Rprop, ASGD) and Lion: their validation, their lazily
// created state and scalar state. Their steps are compared with the
// kernels run by hand in api_test.go (apiCases), their checkpoints in
// checkpoint_test.go (ckConfigs).

// withField returns a copy of value rule r with its float64 field set.
func withField(r Rule, field string, v float64) Rule {
	p := reflect.New(reflect.TypeOf(r))
	p.Elem().Set(reflect.ValueOf(r))
	p.Elem().FieldByName(field).SetFloat(v)
	return p.Elem().Interface().(Rule)
}

func TestNewRuleRanges(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	nonNeg := []float64{-1, inf, nan}
	type bad struct {
		field  string
		values []float64
	}
	unit := []float64{-0.1, 1, 1.5, nan}      // [0, 1)
	closed := []float64{-0.1, 1.0000001, nan} // [0, 1]
	finiteOnly := []float64{inf, -inf, nan}
	cases := []struct {
		rule Rule
		bad  []bad
	}{
		{DefaultNAdam(), []bad{{"LR", nonNeg}, {"Beta1", unit}, {"Beta2", unit}, {"Eps", nonNeg},
			{"WeightDecay", nonNeg}, {"MomentumDecay", nonNeg}}},
		{DefaultRAdam(), []bad{{"LR", nonNeg}, {"Beta1", unit}, {"Beta2", unit}, {"Eps", nonNeg}, {"WeightDecay", nonNeg}}},
		{DefaultAdamax(), []bad{{"LR", nonNeg}, {"Beta1", unit}, {"Beta2", unit}, {"Eps", nonNeg}, {"WeightDecay", nonNeg}}},
		{DefaultAdadelta(), []bad{{"LR", nonNeg}, {"Rho", closed}, {"Eps", nonNeg}, {"WeightDecay", nonNeg}}},
		{DefaultRprop(), []bad{{"LR", nonNeg}, {"EtaMinus", []float64{0, -0.5, 1, 1.2, nan}}, {"EtaPlus", []float64{1, 0.5, inf, nan}},
			{"StepSizeMin", []float64{-1, inf, nan, 51}}, {"StepSizeMax", []float64{-1, inf, nan, 1e-7}}}},
		{DefaultASGD(), []bad{{"LR", nonNeg}, {"Lambd", nonNeg}, {"Alpha", nonNeg}, {"T0", finiteOnly}, {"WeightDecay", nonNeg}}},
		{DefaultLion(), []bad{{"LR", nonNeg}, {"Beta1", closed}, {"Beta2", closed}, {"WeightDecay", nonNeg}}},
	}
	for _, c := range cases {
		name := ruleName(c.rule)
		if _, err := New(c.rule, make([]float32, 2)); err != nil {
			t.Errorf("Default%s: %v", name, err)
		}
		for _, b := range c.bad {
			for _, v := range b.values {
				r := withField(c.rule, b.field, v)
				var he *HyperparameterError
				_, err := New(r, make([]float64, 2))
				field := b.field
				if name == "Rprop" && (b.field == "StepSizeMax" && v == 1e-7) {
					field = "StepSizeMin" // StepSizeMin > StepSizeMax names the minimum
				}
				if !errors.As(err, &he) || he.Rule != name || he.Field != field || he.Group != 0 {
					t.Errorf("New(%#v): %v, want a HyperparameterError on %s.%s", r, err, name, field)
					continue
				}
				if !strings.Contains(err.Error(), name+"."+field) {
					t.Errorf("New(%#v): %q does not name %s.%s", r, err, name, field)
				}
				if _, _, err := Coefficients[float32](pointerTo(r), 1); !errors.As(err, &he) {
					t.Errorf("Coefficients(&%#v): %v", r, err)
				}
			}
		}
	}
	// The edges that torch accepts.
	for _, r := range []Rule{
		Adadelta{LR: 1, Rho: 1, Eps: 1e-6}, Adadelta{LR: 1, Rho: 0, Eps: 1e-6},
		Lion{LR: 1e-4, Beta1: 1, Beta2: 1}, Lion{LR: 1e-4},
		Rprop{LR: 0.01, EtaMinus: 0.5, EtaPlus: 1.2, StepSizeMin: 0, StepSizeMax: 0},
		ASGD{LR: 0.01, Alpha: 0, T0: -5}, ASGD{},
		NAdam{LR: 0, Eps: 1e-8},
	} {
		if _, err := New(r, make([]float32, 2)); err != nil {
			t.Errorf("New(%#v): %v, want it accepted", r, err)
		}
	}
}

func TestNewRulesPartialRejected(t *testing.T) {
	for _, r := range []Rule{NAdam{LR: 1e-3}, RAdam{LR: 1e-3}, Adamax{LR: 1e-3}, Adadelta{LR: 1}} {
		_, err := New(r, make([]float32, 2))
		wantError(t, fmt.Sprintf("%#v", r), err, "Eps", "> 0", "optim.Default"+ruleName(r)+"()")
	}
	// Rprop's zero value has EtaMinus 0, outside (0, 1).
	_, err := New(Rprop{LR: 0.01}, make([]float32, 2))
	wantError(t, "Rprop{LR: 0.01}", err, "Rprop.EtaMinus")
}

type embeddedNAdam struct{ NAdam }
type embeddedNilRprop struct{ *Rprop }
type embeddedLion struct{ Lion }

func TestNewRulesEmbeddedRejected(t *testing.T) {
	for _, r := range []Rule{embeddedNAdam{DefaultNAdam()}, &embeddedLion{DefaultLion()}, embeddedNilRprop{}, embeddedNilRprop{&Rprop{}}} {
		var re *RuleError
		var err error
		noPanic(t, "New", func() { _, err = New(r, make([]float32, 2)) })
		if !errors.As(err, &re) || !strings.Contains(err.Error(), "not a rule of this package") || !strings.Contains(err.Error(), "Rprop, ASGD or Lion") {
			t.Errorf("New(%T): %v", r, err)
		}
		noPanic(t, "CoefficientsWith", func() { _, _, _, err = CoefficientsWith[float64](r, 1, true, Scalars{}) })
		if !errors.As(err, &re) {
			t.Errorf("CoefficientsWith(%T): %v", r, err)
		}
	}
}

// TestNewRulesElementTypeRange: every scalar of step 1 must be finite in
// the element type, and Rprop's factors must stay on their side of 1.
func TestNewRulesElementTypeRange(t *testing.T) {
	cases := []struct {
		rule  Rule
		field string
		f64   bool // also rejected in float64
	}{
		{withField(DefaultNAdam(), "LR", 1e39), "LR", false},
		{NAdam{LR: 1e20, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e20, Decoupled: true}, "WeightDecay", false},
		{withField(DefaultNAdam(), "Eps", 1e-50), "Eps", false},
		{withField(DefaultRAdam(), "LR", 1e39), "LR", false},
		{withField(DefaultAdamax(), "LR", 1e38), "LR", false}, // LR/(1-β1) = 1e39
		{withField(DefaultAdadelta(), "WeightDecay", 1e39), "WeightDecay", false},
		{withField(DefaultRprop(), "StepSizeMax", 1e39), "StepSizeMax", false},
		{withField(DefaultRprop(), "EtaMinus", 1-1e-10), "EtaMinus", false},
		{withField(DefaultRprop(), "EtaPlus", 1+1e-10), "EtaPlus", false},
		{withField(DefaultRprop(), "EtaMinus", 1e-50), "EtaMinus", false},
		// eta is a float32 scalar whatever the element type.
		{withField(DefaultASGD(), "LR", 1e39), "LR", true},
		{ASGD{LR: 1, Lambd: 1e39, Alpha: 0.75, T0: 1e6}, "Lambd", false},
		{Lion{LR: 1e20, Beta1: 0.9, Beta2: 0.99, WeightDecay: 1e20}, "WeightDecay", false},
	}
	for _, c := range cases {
		var he *HyperparameterError
		_, err := New(c.rule, make([]float32, 2))
		if !errors.As(err, &he) || he.Field != c.field || !strings.Contains(err.Error(), "float32") {
			t.Errorf("New[float32](%#v): %v, want a HyperparameterError on %s", c.rule, err, c.field)
		}
		_, err = New(c.rule, make([]float64, 2))
		if c.f64 != (err != nil) {
			t.Errorf("New[float64](%#v): %v, want an error: %v", c.rule, err, c.f64)
		}
	}
}

// TestMomentumIsBeta1: schedulers cycle β1 of the Adam family and Lion;
// the other new rules have no momentum.
func TestMomentumIsBeta1(t *testing.T) {
	for _, c := range apiCases() {
		o, err := New(c.rule, make([]float32, 2))
		if err != nil {
			t.Fatal(err)
		}
		m, ok := o.GroupMomentum(0)
		f := reflect.ValueOf(c.rule).FieldByName("Beta1")
		if f.IsValid() {
			if !ok || m != f.Float() {
				t.Errorf("%#v: GroupMomentum = %v, %v, want Beta1", c.rule, m, ok)
			}
			if err := o.SetGroupMomentum(0, 0.5); err != nil || reflect.ValueOf(o.GroupRule(0)).FieldByName("Beta1").Float() != 0.5 {
				t.Errorf("%#v: SetGroupMomentum(0.5): %v, rule %#v", c.rule, err, o.GroupRule(0))
			}
			continue
		}
		if _, has := reflect.TypeOf(c.rule).FieldByName("Momentum"); has {
			continue
		}
		if ok {
			t.Errorf("%#v: GroupMomentum ok", c.rule)
		}
		if err := o.SetGroupMomentum(0, 0.5); !errors.Is(err, ErrNoMomentum) {
			t.Errorf("%#v: SetGroupMomentum: %v, want ErrNoMomentum", c.rule, err)
		}
	}
}

// TestCoefficientsReplaysScalars: the stateless Coefficients of step t is
// the step of a run under the same rule from step 1, as CoefficientsWith
// chains it.
func TestCoefficientsReplaysScalars(t *testing.T) {
	for _, c := range apiCases() {
		var sc Scalars
		for step := int64(1); step <= 12; step++ {
			want, wv, next, err := CoefficientsWith[float32](c.rule, step, step == 1, sc)
			if err != nil {
				t.Fatal(err)
			}
			sc = next
			got, gv, err := Coefficients[float32](c.rule, step)
			if err != nil {
				t.Fatal(err)
			}
			if got != want || gv != wv {
				t.Fatalf("%#v step %d: Coefficients %+v %v, chained %+v %v", c.rule, step, got, gv, want, wv)
			}
		}
	}
	if _, _, _, err := CoefficientsWith[float32](DefaultNAdam(), 0, true, Scalars{}); err == nil {
		t.Error("CoefficientsWith step 0: no error")
	}
	// Past mu_product's underflow (about step 1,000 for β1 = 0.9), and at
	// a step number no loop could reach: ASGD's scalars depend on the
	// previous step's number alone, and NAdam's product stays 0.
	for _, rule := range []Rule{DefaultNAdam(), ASGD{LR: 0.05, Lambd: 0.1, Alpha: 0.5, T0: 100}} {
		var sc Scalars
		for step := int64(1); step <= 3000; step++ {
			want, wv, next, err := CoefficientsWith[float64](rule, step, step == 1, sc)
			if err != nil {
				t.Fatal(err)
			}
			sc = next
			if step%500 != 0 {
				continue
			}
			if got, gv, err := Coefficients[float64](rule, step); err != nil || got != want || gv != wv {
				t.Fatalf("%#v step %d: Coefficients %+v %v %v, chained %+v %v", rule, step, got, gv, err, want, wv)
			}
		}
		if _, _, err := Coefficients[float64](rule, 1<<50); err != nil {
			t.Fatalf("%#v step 2^50: %v", rule, err)
		}
	}
}

// lazyRules keep state that torch creates at the parameter's first step.
func lazyRules() []Rule {
	return []Rule{DefaultRprop(), DefaultNAdam(), ASGD{LR: 0.05, Lambd: 0.1, Alpha: 0.5, T0: 1, WeightDecay: 0.1}}
}

// TestLazyState: before the first step the state does not exist (nil
// slices, zero scalars); the first step creates it as torch's does; a
// State with nil slices restores "not created yet", one with slices
// restores a state the next step continues from.
func TestLazyState(t *testing.T) {
	for _, rule := range lazyRules() {
		t.Run(ruleName(rule), func(t *testing.T) {
			p := []float64{1, -2, 3}
			g := []float64{0.5, 0.25, -1}
			o, err := New(rule, p)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := o.State(0)
			for _, s := range stateSlices(st) {
				if s != nil {
					t.Fatalf("State before the first step has a slice: %+v", st)
				}
			}
			if st.MuProduct != 0 || st.Eta != 0 || st.Mu != 0 {
				t.Fatalf("State before the first step has scalars: %+v", st)
			}
			// The first step initializes from the LR of that step, not
			// the LR at New.
			if err := o.SetLR(0.02); err != nil {
				t.Fatal(err)
			}
			fresh, _ := New(rule.withLR(0.02), []float64{1, -2, 3})
			_ = fresh.Step(g)
			if err := o.Step(g); err != nil {
				t.Fatal(err)
			}
			st, _ = o.State(0)
			want, _ := fresh.State(0)
			if fingerprint(t, o) != fingerprint(t, fresh) {
				t.Fatalf("first step after SetLR: %+v, want %+v", st, want)
			}
			switch rule.(type) {
			case NAdam:
				if st.MuProduct == 0 || st.MuProduct == 1 {
					t.Errorf("MuProduct after a step = %v", st.MuProduct)
				}
			case ASGD:
				// eta advanced from lr = 0.02, mu = 1/max(1, 1-t0).
				if st.Eta == 0 || st.Eta == 0.02 || st.Mu != 1 {
					t.Errorf("Eta, Mu after a step = %v, %v", st.Eta, st.Mu)
				}
			case Rprop:
				if st.StepSize[0] != float64(float64(0.02)*1.0) {
					t.Errorf("StepSize after the first step = %v, want the LR 0.02 (prev was 0)", st.StepSize)
				}
			}

			// SetState with nil slices: the state is not created; the
			// next step is a first step again.
			if err := o.SetState(0, State[float64]{Step: 1}); err != nil {
				t.Fatal(err)
			}
			again, _ := o.State(0)
			if again.Step != 1 || stateSlices(again)[len(stateSlices(again))-1] != nil || again.MuProduct != 0 {
				t.Fatalf("State after SetState of nothing: %+v", again)
			}
			q := []float64{1, -2, 3}
			ref, _ := New(rule.withLR(0.02), q)
			_ = ref.SetSteps(1)
			copy(p, q)
			_ = o.Step(g)
			_ = ref.Step(g)
			if fingerprint(t, o) != fingerprint(t, ref) || firstDiff(p, q) >= 0 {
				t.Fatalf("step after SetState of nothing is not a first step")
			}

			// SetState of a saved state continues from it.
			o2, _ := New(rule.withLR(0.02), []float64{0, 0, 0})
			st, _ = o.State(0)
			if err := o2.SetState(0, st); err != nil {
				t.Fatal(err)
			}
			if fingerprint(t, o2) != fingerprint(t, o) {
				t.Fatalf("SetState(State()) differs")
			}
		})
	}
}

// TestSetStateErrorsNewRules: a lazily created state given in part, a
// scalar that is not finite, a slice of the wrong length: typed errors,
// nothing changed.
func TestSetStateErrorsNewRules(t *testing.T) {
	for _, rule := range lazyRules() {
		o, err := New(rule, make([]float32, 3))
		if err != nil {
			t.Fatal(err)
		}
		_ = o.Step([]float32{1, 2, 3})
		st, _ := o.State(0)
		before := snapshot(t, o)
		full := State[float32]{Step: 4, MuProduct: 0.5, Eta: 0.01, Mu: 1}
		for _, s := range []*[]float32{&full.ExpAvg, &full.ExpAvgSq, &full.Prev, &full.StepSize, &full.AX} {
			*s = make([]float32, 3)
		}
		type setCase struct {
			name string
			st   State[float32]
			want any
		}
		short := full
		short.ExpAvg, short.Prev, short.AX = short.ExpAvg[:2], short.Prev[:2], short.AX[:2]
		cases := []setCase{{"short slice", short, new(*ShapeError)}}
		switch rule.(type) {
		case NAdam:
			nan := full
			nan.MuProduct = float32(math.NaN())
			cases = append(cases, setCase{"partial", State[float32]{Step: 1, ExpAvg: st.ExpAvg, MuProduct: 0.5}, new(*StateError)},
				setCase{"NaN mu_product", nan, new(*StateError)})
		case ASGD:
			inf := full
			inf.Eta = float32(math.Inf(1))
			cases = append(cases, setCase{"Inf eta", inf, new(*StateError)})
		case Rprop:
			cases = append(cases, setCase{"partial", State[float32]{Step: 1, StepSize: st.StepSize}, new(*StateError)})
		}
		for _, c := range cases {
			err := o.SetState(0, c.st)
			if err == nil || !errors.As(err, c.want) {
				t.Errorf("%s %s: %v, want %T", ruleName(rule), c.name, err, c.want)
			}
			if !sameSnapshot(before, snapshot(t, o)) || o.Steps() != 1 {
				t.Errorf("%s %s: a failed SetState changed the state", ruleName(rule), c.name)
			}
		}
		if err := o.SetState(0, full); err != nil {
			t.Errorf("%s: SetState of a full state: %v", ruleName(rule), err)
		}
	}
}

// TestScalarSharingAcrossGroups: groups with equal rules share one
// computation of the scalars only when their parameters' scalar state
// is equal; a group added later (fresh mu_product) gets its own.
func TestScalarSharingAcrossGroups(t *testing.T) {
	for _, rule := range lazyRules() {
		a, b := []float32{1, 2}, []float32{1, 2}
		o, err := New(rule, a)
		if err != nil {
			t.Fatal(err)
		}
		_ = o.Step([]float32{1, 1})
		_ = o.Step([]float32{1, 1})
		if err := o.AddGroup(Group[float32]{rule, [][]float32{b}}); err != nil {
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

// TestScalarStateIsFloat32: NAdam's mu_product is rounded to float32 at
// every step, as torch's 0-dim float32 tensor, also for float64 params.
func TestScalarStateIsFloat32(t *testing.T) {
	o, _ := New(DefaultNAdam(), []float64{1})
	want := float32(1)
	for step := int64(1); step <= 5; step++ {
		_ = o.Step([]float64{1})
		mu := 0.9 * (1 - 0.5*math.Pow(0.96, float64(step)*4e-3))
		want = want * float32(mu)
		st, _ := o.State(0)
		// detmath.Pow is within 1 ulp of math.Pow: compare loosely, but
		// the value must be a float32 product.
		if math.Abs(float64(st.MuProduct-want)) > 1e-6 {
			t.Fatalf("step %d: MuProduct %v, want about %v", step, st.MuProduct, want)
		}
	}
}

// TestKernelKind: the exported kind of every rule, as a value and as a
// pointer, is the kernel the optimizer runs; an invalid rule is an error.
func TestKernelKind(t *testing.T) {
	for _, c := range apiCases() {
		want := ruleKind(c.rule)
		for _, r := range []Rule{c.rule, pointerTo(c.rule)} {
			if got, err := KernelKind(r); err != nil || got != want {
				t.Errorf("KernelKind(%#v) = %v, %v; want %v", r, got, err, want)
			}
		}
	}
	if _, err := KernelKind(NAdam{LR: 1e-3}); err == nil {
		t.Error("KernelKind(NAdam{LR: 1e-3}): no error for its zero Eps")
	}
	if _, err := KernelKind(nil); err == nil {
		t.Error("KernelKind(nil): no error")
	}
}
