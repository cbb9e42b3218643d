package optim

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/simdoptim/optim/kernels"
)

// manual runs a rule by hand: CoefficientsWith for each step and a set's raw
// kernel, with the state laid out as New documents it (zero, Adagrad's
// InitialAccumulatorValue). It is the reference the API is compared with.
type manual[T testFloat] struct {
	rule  Rule
	kind  kernels.Kind
	set   *kernels.Set
	p     []T
	state [3][]T
	steps int64
	// scalars is the rule's scalar state, carried from step to step
	// through CoefficientsWith.
	scalars Scalars
}

func newManual[T testFloat](t testing.TB, set *kernels.Set, rule Rule, p []T) *manual[T] {
	t.Helper()
	_, v, err := Coefficients[T](rule, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := &manual[T]{rule: rule, kind: ruleKind(rule), set: set, p: p}
	var used [3]bool
	used[0], used[1], used[2] = kernels.Uses(m.kind, v)
	for k, u := range used {
		if u {
			m.state[k] = make([]T, len(p))
			if a, ok := derefRule(rule).(Adagrad); ok {
				for i := range m.state[k] {
					m.state[k][i] = T(a.InitialAccumulatorValue)
				}
			}
		}
	}
	return m
}

func (m *manual[T]) step(t testing.TB, g []T) {
	t.Helper()
	m.steps++
	c, v, next, err := CoefficientsWith[T](m.rule, m.steps, m.steps == 1, m.scalars)
	if err != nil {
		t.Fatal(err)
	}
	m.scalars = next
	if len(m.p) > 0 {
		kernels.Kernel[T](m.set, m.kind)(v, &c, m.p, g, m.state[0], m.state[1], m.state[2])
	}
}

// stateFields returns st's fields by name.
func stateFields[T testFloat](st State[T]) map[string][]T {
	return map[string][]T{"MomentumBuffer": st.MomentumBuffer, "Sum": st.Sum, "SquareAvg": st.SquareAvg,
		"GradAvg": st.GradAvg, "ExpAvg": st.ExpAvg, "ExpAvgSq": st.ExpAvgSq, "MaxExpAvgSq": st.MaxExpAvgSq,
		"ExpInf": st.ExpInf, "AccDelta": st.AccDelta, "Prev": st.Prev, "StepSize": st.StepSize, "AX": st.AX}
}

// setStateFields sets st's fields by name.
func setStateFields[T testFloat](st *State[T], fields map[string][]T) {
	ptrs := map[string]*[]T{"MomentumBuffer": &st.MomentumBuffer, "Sum": &st.Sum, "SquareAvg": &st.SquareAvg,
		"GradAvg": &st.GradAvg, "ExpAvg": &st.ExpAvg, "ExpAvgSq": &st.ExpAvgSq, "MaxExpAvgSq": &st.MaxExpAvgSq,
		"ExpInf": &st.ExpInf, "AccDelta": &st.AccDelta, "Prev": &st.Prev, "StepSize": &st.StepSize, "AX": &st.AX}
	for name, s := range fields {
		*ptrs[name] = s
	}
}

// apiCase is a rule with the State fields it must fill, in the kernel's
// state order s0, s1, s2 ("" for a slot the rule does not keep).
type apiCase struct {
	rule   Rule
	fields [3]string
}

func apiCases() []apiCase {
	return []apiCase{
		{SGD{LR: 0.1}, [3]string{}},
		{SGD{LR: 0.1, WeightDecay: 0.01, Maximize: true}, [3]string{}},
		{SGD{LR: 0.1, Momentum: 0.9, Dampening: 0.1}, [3]string{"MomentumBuffer"}},
		{SGD{LR: 0.1, Momentum: 0.9, Nesterov: true, WeightDecay: 0.01}, [3]string{"MomentumBuffer"}},
		{Adagrad{LR: 0.1, LRDecay: 0.01, InitialAccumulatorValue: 0.25, Eps: 1e-10}, [3]string{"Sum"}},
		{RMSProp{LR: 0.01, Alpha: 0.99, Eps: 1e-8}, [3]string{"SquareAvg"}},
		{RMSProp{LR: 0.01, Alpha: 0.99, Eps: 1e-8, Centered: true}, [3]string{"SquareAvg", "GradAvg"}},
		{RMSProp{LR: 0.01, Alpha: 0.3, Eps: 1e-8, Momentum: 0.9, WeightDecay: 0.1}, [3]string{"SquareAvg", "", "MomentumBuffer"}},
		{RMSProp{LR: 0.01, Alpha: 0.3, Eps: 1e-8, Momentum: 0.9, Centered: true, Maximize: true}, [3]string{"SquareAvg", "GradAvg", "MomentumBuffer"}},
		{DefaultAdam(), [3]string{"ExpAvg", "ExpAvgSq"}},
		{DefaultAdamW(), [3]string{"ExpAvg", "ExpAvgSq"}},
		{Adam{LR: 0.01, Beta1: 0.25, Beta2: 0.5, Eps: 1e-8, WeightDecay: 0.1, AMSGrad: true}, [3]string{"ExpAvg", "ExpAvgSq", "MaxExpAvgSq"}},
		{Adam{LR: 0.01, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.1, AMSGrad: true, Decoupled: true, Maximize: true}, [3]string{"ExpAvg", "ExpAvgSq", "MaxExpAvgSq"}},
		{DefaultNAdam(), [3]string{"ExpAvg", "ExpAvgSq"}},
		{NAdam{LR: 0.01, Beta1: 0.3, Beta2: 0.9, Eps: 1e-8, WeightDecay: 0.1, MomentumDecay: 0.5, Decoupled: true, Maximize: true}, [3]string{"ExpAvg", "ExpAvgSq"}},
		{NAdam{LR: 0.01, Beta1: 0.9, Beta2: 0.99, Eps: 1e-6, WeightDecay: 0.1, MomentumDecay: 4e-3}, [3]string{"ExpAvg", "ExpAvgSq"}},
		{RAdam{LR: 0.01, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8}, [3]string{"ExpAvg", "ExpAvgSq"}},
		{RAdam{LR: 0.01, Beta1: 0.3, Beta2: 0.9, Eps: 1e-8, WeightDecay: 0.1, Decoupled: true, Maximize: true}, [3]string{"ExpAvg", "ExpAvgSq"}},
		{DefaultAdamax(), [3]string{"ExpAvg", "ExpInf"}},
		{Adamax{LR: 0.01, Beta1: 0.3, Beta2: 0.9, Eps: 1e-8, WeightDecay: 0.1, Maximize: true}, [3]string{"ExpAvg", "ExpInf"}},
		{DefaultAdadelta(), [3]string{"SquareAvg", "AccDelta"}},
		{Adadelta{LR: 0.5, Rho: 0.3, Eps: 1e-6, WeightDecay: 0.1, Maximize: true}, [3]string{"SquareAvg", "AccDelta"}},
		{DefaultRprop(), [3]string{"Prev", "StepSize"}},
		{Rprop{LR: 0.1, EtaMinus: 0.25, EtaPlus: 2, StepSizeMin: 0.01, StepSizeMax: 0.5, Maximize: true}, [3]string{"Prev", "StepSize"}},
		{DefaultASGD(), [3]string{"AX"}},
		{ASGD{LR: 0.05, Lambd: 0.1, Alpha: 0.5, T0: 2, WeightDecay: 0.1, Maximize: true}, [3]string{"AX"}},
		{DefaultLion(), [3]string{"ExpAvg"}},
		{Lion{LR: 0.01, Beta1: 0.5, Beta2: 0.9, WeightDecay: 0.1, Maximize: true}, [3]string{"ExpAvg"}},
	}
}

var apiLens = []int{5, 0, 33, 1, 64}

// apiInputs returns params of apiLens and steps gradient sets for them.
func apiInputs[T testFloat](seed uint64, steps int) (params [][]T, grads [][][]T) {
	r := rand.New(rand.NewPCG(seed, 7))
	val := func() T { return T(r.IntN(1<<12)-1<<11) / 256 }
	for _, n := range apiLens {
		p := make([]T, n)
		for i := range p {
			p[i] = val()
		}
		params = append(params, p)
	}
	for range steps {
		var gs [][]T
		for _, n := range apiLens {
			g := make([]T, n)
			for i := range g {
				g[i] = val()
			}
			gs = append(gs, g)
		}
		grads = append(grads, gs)
	}
	return params, grads
}

func clone2[T testFloat](s [][]T) [][]T {
	out := make([][]T, len(s))
	for i := range s {
		out[i] = append([]T(nil), s[i]...)
	}
	return out
}

func TestStepAllocatesNothing(t *testing.T) {
	for _, c := range apiCases() {
		testStepAllocs[float32](t, c.rule)
		testStepAllocs[float64](t, c.rule)
	}
}

func testStepAllocs[T testFloat](t *testing.T, rule Rule) {
	params, grads := apiInputs[T](1, 1)
	opt, err := New[T](rule, params...)
	if err != nil {
		t.Fatal(err)
	}
	gs := grads[0]
	if a := testing.AllocsPerRun(20, func() { _ = opt.Step(gs...) }); a != 0 {
		t.Errorf("%T %s: Step(grads...) allocates %v times per call", rule, dtypeName[T](), a)
	}
	g0, g1, g2, g3, g4 := gs[0], gs[1], gs[2], gs[3], gs[4]
	if a := testing.AllocsPerRun(20, func() { _ = opt.Step(g0, g1, g2, g3, g4) }); a != 0 {
		t.Errorf("%T %s: Step(g0, ..., g4) allocates %v times per call", rule, dtypeName[T](), a)
	}
}

// TestMatchesManual checks Step, State and the state names against running
// the kernels by hand.
func TestMatchesManual(t *testing.T) {
	for _, c := range apiCases() {
		t.Run(fmt.Sprintf("%#v", c.rule), func(t *testing.T) {
			testMatchesManual[float32](t, c)
			testMatchesManual[float64](t, c)
		})
	}
}

func testMatchesManual[T testFloat](t *testing.T, c apiCase) {
	const steps = 4
	params, grads := apiInputs[T](2, steps)
	opt, err := New[T](c.rule, params...)
	if err != nil {
		t.Fatal(err)
	}
	if opt.Len() != len(params) {
		t.Errorf("Len = %d, want %d", opt.Len(), len(params))
	}
	var ms []*manual[T]
	for _, p := range clone2(params) {
		ms = append(ms, newManual(t, Kernels(), c.rule, p))
	}
	for s := range steps {
		if err := opt.Step(grads[s]...); err != nil {
			t.Fatal(err)
		}
		for i, m := range ms {
			m.step(t, grads[s][i])
		}
	}
	if opt.Steps() != steps {
		t.Errorf("Steps = %d, want %d", opt.Steps(), steps)
	}
	for i, m := range ms {
		if j := firstDiff(params[i], m.p); j >= 0 {
			t.Fatalf("%s param %d [%d] = %v, by hand %v", dtypeName[T](), i, j, params[i][j], m.p[j])
		}
		st, err := opt.State(i)
		if err != nil {
			t.Fatal(err)
		}
		fields := stateFields(st)
		for k, name := range c.fields {
			if name == "" {
				continue
			}
			got := fields[name]
			if len(got) != len(params[i]) {
				t.Fatalf("State(%d).%s has length %d, want %d", i, name, len(got), len(params[i]))
			}
			if j := firstDiff(got, m.state[k]); j >= 0 {
				t.Fatalf("%s State(%d).%s[%d] = %v, by hand %v", dtypeName[T](), i, name, j, got[j], m.state[k][j])
			}
			delete(fields, name)
		}
		for name, s := range fields {
			if s != nil {
				t.Errorf("State(%d).%s is set (length %d) but %T does not keep it", i, name, len(s), c.rule)
			}
		}
	}
}

// TestCheckpointRestore copies state out after some steps, restores it into
// a fresh optimizer with SetSteps, and continues: the trajectory must be the
// uninterrupted one, bit for bit.
func TestCheckpointRestore(t *testing.T) {
	for _, c := range apiCases() {
		for _, at := range []int{1, 3} {
			testCheckpoint[float32](t, c, at)
			testCheckpoint[float64](t, c, at)
		}
	}
}

func testCheckpoint[T testFloat](t *testing.T, c apiCase, at int) {
	const steps = 6
	params, grads := apiInputs[T](3, steps)
	whole, err := New[T](c.rule, params...)
	if err != nil {
		t.Fatal(err)
	}
	for s := range steps {
		if err := whole.Step(grads[s]...); err != nil {
			t.Fatal(err)
		}
	}

	// Run to the checkpoint and save params and state.
	first, _ := apiInputs[T](3, steps)
	opt, err := New[T](c.rule, first...)
	if err != nil {
		t.Fatal(err)
	}
	for s := range at {
		if err := opt.Step(grads[s]...); err != nil {
			t.Fatal(err)
		}
	}
	savedParams := clone2(first)
	var savedState []map[string][]T
	var savedScalars [][3]float32
	for i := range first {
		st, _ := opt.State(i)
		savedScalars = append(savedScalars, [3]float32{st.MuProduct, st.Eta, st.Mu})
		saved := map[string][]T{}
		for name, s := range stateFields(st) {
			if s != nil {
				saved[name] = append([]T{}, s...) // an empty param's state is not nil
			}
		}
		savedState = append(savedState, saved)
	}
	steps0 := opt.Steps()

	// Restore into a fresh optimizer and continue.
	restored, err := New[T](c.rule, savedParams...)
	if err != nil {
		t.Fatal(err)
	}
	for i := range savedParams {
		st := State[T]{Step: steps0}
		st.MuProduct, st.Eta, st.Mu = savedScalars[i][0], savedScalars[i][1], savedScalars[i][2]
		setStateFields(&st, savedState[i])
		if err := restored.SetState(i, st); err != nil {
			t.Fatal(err)
		}
	}
	for s := at; s < steps; s++ {
		if err := restored.Step(grads[s]...); err != nil {
			t.Fatal(err)
		}
	}
	if restored.Steps() != steps {
		t.Errorf("Steps after restore = %d, want %d", restored.Steps(), steps)
	}
	for i := range params {
		if j := firstDiff(savedParams[i], params[i]); j >= 0 {
			t.Fatalf("%#v %s restored at %d: param %d [%d] = %v, uninterrupted %v", c.rule, dtypeName[T](), at, i, j, savedParams[i][j], params[i][j])
		}
		got, _ := restored.State(i)
		want, _ := whole.State(i)
		if got.MuProduct != want.MuProduct || got.Eta != want.Eta || got.Mu != want.Mu {
			t.Fatalf("%#v restored at %d: State(%d) scalars %v %v %v, uninterrupted %v %v %v", c.rule, at, i,
				got.MuProduct, got.Eta, got.Mu, want.MuProduct, want.Eta, want.Mu)
		}
		gf, wf := stateFields(got), stateFields(want)
		for name := range wf {
			if j := firstDiff(gf[name], wf[name]); j >= 0 {
				t.Fatalf("%#v %s restored at %d: State(%d).%s[%d] = %v, uninterrupted %v", c.rule, dtypeName[T](), at, i, name, j, gf[name][j], wf[name][j])
			}
		}
	}
}

func TestSetLR(t *testing.T) {
	for _, c := range apiCases() {
		testSetLR[float32](t, c.rule)
		testSetLR[float64](t, c.rule)
	}
}

// testSetLR changes the learning rate between steps and compares with a
// manual run whose rule has the new rate from then on.
func testSetLR[T testFloat](t *testing.T, rule Rule) {
	const steps = 5
	params, grads := apiInputs[T](4, steps)
	opt, err := New[T](rule, params...)
	if err != nil {
		t.Fatal(err)
	}
	var ms []*manual[T]
	for _, p := range clone2(params) {
		ms = append(ms, newManual(t, Kernels(), rule, p))
	}
	newLR := rule.lr() * 3
	for s := range steps {
		if s == 2 {
			if err := opt.SetLR(newLR); err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				m.rule = rule.withLR(newLR)
			}
		}
		if err := opt.Step(grads[s]...); err != nil {
			t.Fatal(err)
		}
		for i, m := range ms {
			m.step(t, grads[s][i])
		}
	}
	if opt.LR() != newLR || opt.Rule().lr() != newLR {
		t.Errorf("%#v: after SetLR(%v), LR() = %v and Rule() has %v", rule, newLR, opt.LR(), opt.Rule().lr())
	}
	for i, m := range ms {
		if j := firstDiff(params[i], m.p); j >= 0 {
			t.Fatalf("%#v %s after SetLR: param %d [%d] = %v, by hand %v", rule, dtypeName[T](), i, j, params[i][j], m.p[j])
		}
	}
	// SetLR must matter: a run without it ends elsewhere.
	other, _ := apiInputs[T](4, steps)
	plain, _ := New[T](rule, other...)
	for s := range steps {
		_ = plain.Step(grads[s]...)
	}
	// Rprop's LR is only its initial step size, used by the first step.
	if _, ok := derefRule(rule).(Rprop); !ok && firstDiff(other[4], params[4]) < 0 {
		t.Errorf("%#v: SetLR had no effect", rule)
	}
}

// TestPointerRules checks that &Rule{...} behaves as the value, and that New
// copies it: changing the struct afterwards changes nothing.
func TestPointerRules(t *testing.T) {
	for _, c := range apiCases() {
		byValue, grads := apiInputs[float32](5, 3)
		byPointer := clone2(byValue)
		ptr := pointerTo(c.rule)
		a, err := New[float32](c.rule, byValue...)
		if err != nil {
			t.Fatal(err)
		}
		b, err := New[float32](ptr, byPointer...)
		if err != nil {
			t.Fatalf("New(&%#v): %v", c.rule, err)
		}
		reflect.ValueOf(ptr).Elem().FieldByName("LR").SetFloat(1e9)
		if b.Rule() != c.rule {
			t.Errorf("Rule() = %#v, want the value %#v", b.Rule(), c.rule)
		}
		for s := range grads {
			if err := a.Step(grads[s]...); err != nil {
				t.Fatal(err)
			}
			if err := b.Step(grads[s]...); err != nil {
				t.Fatal(err)
			}
		}
		for i := range byValue {
			if j := firstDiff(byPointer[i], byValue[i]); j >= 0 {
				t.Fatalf("&%#v: param %d [%d] = %v, by value %v", c.rule, i, j, byPointer[i][j], byValue[i][j])
			}
		}
		if _, _, err := Coefficients[float64](pointerTo(c.rule), 2); err != nil {
			t.Errorf("Coefficients(&%#v): %v", c.rule, err)
		}
	}
}

func TestZeroLengthParams(t *testing.T) {
	for _, c := range apiCases() {
		opt, err := New[float64](c.rule, nil, []float64{}, make([]float64, 3)[3:])
		if err != nil {
			t.Fatalf("%#v: New with only empty params: %v", c.rule, err)
		}
		for range 3 {
			if err := opt.Step(nil, []float64{}, nil); err != nil {
				t.Fatalf("%#v: Step with empty grads: %v", c.rule, err)
			}
		}
		for i := range 3 {
			st, err := opt.State(i)
			if err != nil {
				t.Fatal(err)
			}
			for name, s := range stateFields(st) {
				if len(s) != 0 {
					t.Errorf("%#v: State(%d).%s has length %d", c.rule, i, name, len(s))
				}
			}
		}
	}
}

// TestDefaultsMatchTorch pins the defaults to torch.optim's documented
// constructor defaults (torch 2.x).
func TestDefaultsMatchTorch(t *testing.T) {
	cases := []struct {
		name      string
		got, want Rule
	}{
		// SGD(lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False)
		{"SGD", DefaultSGD(), SGD{LR: 1e-3}},
		// Adagrad(lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10)
		{"Adagrad", DefaultAdagrad(), Adagrad{LR: 1e-2, Eps: 1e-10}},
		// RMSprop(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False)
		{"RMSProp", DefaultRMSProp(), RMSProp{LR: 1e-2, Alpha: 0.99, Eps: 1e-8}},
		// Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False)
		{"Adam", DefaultAdam(), Adam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}},
		// AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False)
		{"AdamW", DefaultAdamW(), Adam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e-2, Decoupled: true}},
		// NAdam(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3, decoupled_weight_decay=False)
		{"NAdam", DefaultNAdam(), NAdam{LR: 2e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, MomentumDecay: 4e-3}},
		// RAdam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False)
		{"RAdam", DefaultRAdam(), RAdam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}},
		// Adamax(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)
		{"Adamax", DefaultAdamax(), Adamax{LR: 2e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}},
		// Adadelta(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0)
		{"Adadelta", DefaultAdadelta(), Adadelta{LR: 1, Rho: 0.9, Eps: 1e-6}},
		// Rprop(lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50))
		{"Rprop", DefaultRprop(), Rprop{LR: 1e-2, EtaMinus: 0.5, EtaPlus: 1.2, StepSizeMin: 1e-6, StepSizeMax: 50}},
		// ASGD(lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0)
		{"ASGD", DefaultASGD(), ASGD{LR: 1e-2, Lambd: 1e-4, Alpha: 0.75, T0: 1e6}},
		// lion-pytorch's Lion(lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0)
		{"Lion", DefaultLion(), Lion{LR: 1e-4, Beta1: 0.9, Beta2: 0.99}},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("Default%s() = %#v, want torch's %#v", c.name, c.got, c.want)
		}
		if _, err := New[float32](c.got, make([]float32, 1)); err != nil {
			t.Errorf("Default%s() is rejected: %v", c.name, err)
		}
	}
}
