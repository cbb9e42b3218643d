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
	m := &manual[T]{rule: rule, kind: mustKernelKind(t, rule), set: set, p: p}
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
	for _, c := range caseConfigs() {
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
	for _, c := range caseConfigs() {
		t.Run(fmt.Sprintf("%#v", c.rule), func(t *testing.T) {
			testMatchesManual[float32](t, c)
			testMatchesManual[float64](t, c)
		})
	}
}

func testMatchesManual[T testFloat](t *testing.T, c caseConfig) {
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
		fields := stateByKey(&st)
		for k, name := range c.state {
			if name == "" {
				continue
			}
			got := *fields[name]
			if len(got) != len(params[i]) {
				t.Fatalf("State(%d).%s has length %d, want %d", i, name, len(got), len(params[i]))
			}
			if j := firstDiff(got, m.state[k]); j >= 0 {
				t.Fatalf("%s State(%d).%s[%d] = %v, by hand %v", dtypeName[T](), i, name, j, got[j], m.state[k][j])
			}
			delete(fields, name)
		}
		for name, s := range fields {
			if *s != nil {
				t.Errorf("State(%d).%s is set (length %d) but %T does not keep it", i, name, len(*s), c.rule)
			}
		}
	}
}

// TestCheckpointRestore copies state out after some steps, restores it into
// a fresh optimizer with SetSteps, and continues: the trajectory must be the
// uninterrupted one, bit for bit.
func TestCheckpointRestore(t *testing.T) {
	for _, c := range caseConfigs() {
		for _, at := range []int{1, 3} {
			testCheckpoint[float32](t, c, at)
			testCheckpoint[float64](t, c, at)
		}
	}
}

func testCheckpoint[T testFloat](t *testing.T, c caseConfig, at int) {
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
		for name, s := range stateByKey(&st) {
			if *s != nil {
				saved[name] = append([]T{}, *s...) // an empty param's state is not nil
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
		fields := stateByKey(&st)
		for name, s := range savedState[i] {
			*fields[name] = s
		}
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
		gf, wf := stateByKey(&got), stateByKey(&want)
		for name := range wf {
			if j := firstDiff(*gf[name], *wf[name]); j >= 0 {
				t.Fatalf("%#v %s restored at %d: State(%d).%s[%d] = %v, uninterrupted %v", c.rule, dtypeName[T](), at, i, name, j, (*gf[name])[j], (*wf[name])[j])
			}
		}
	}
}

func TestSetLR(t *testing.T) {
	for _, c := range caseConfigs() {
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
	newLR := reflectLR(rule) * 3
	for s := range steps {
		if s == 2 {
			if err := opt.SetLR(newLR); err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				m.rule = withField(rule, "LR", newLR)
			}
		}
		if err := opt.Step(grads[s]...); err != nil {
			t.Fatal(err)
		}
		for i, m := range ms {
			m.step(t, grads[s][i])
		}
	}
	if opt.LR() != newLR || reflectLR(opt.Rule()) != newLR {
		t.Errorf("%#v: after SetLR(%v), LR() = %v and Rule() has %v", rule, newLR, opt.LR(), reflectLR(opt.Rule()))
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
	for _, c := range caseConfigs() {
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
	for _, c := range caseConfigs() {
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
			for name, s := range stateByKey(&st) {
				if len(*s) != 0 {
					t.Errorf("%#v: State(%d).%s has length %d", c.rule, i, name, len(*s))
				}
			}
		}
	}
}
