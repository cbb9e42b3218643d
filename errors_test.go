package optim

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// Every bad input must come back as an error naming what is wrong and the
// offending value, never a panic and never a partial update.

// wantError fails t unless err is non-nil and its message contains every
// substring in want.
func wantError(t *testing.T, what string, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want one mentioning %q", what, want)
		return
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %q does not mention %q", what, err, w)
		}
	}
}

// noPanic runs f, turning a panic into a test failure.
func noPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s panicked: %v", what, r)
		}
	}()
	f()
}

// snapshot copies every param and state slice of o.
func snapshot[T testFloat](t *testing.T, o *Optimizer[T]) [][]T {
	t.Helper()
	var out [][]T
	for i := range o.Len() {
		out = append(out, append([]T(nil), o.params[i]...))
		st, err := o.State(i)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stateSlices(st) {
			out = append(out, append([]T(nil), s...))
		}
		out = append(out, []T{T(st.MuProduct), T(st.Eta), T(st.Mu)})
	}
	return out
}

func sameSnapshot[T testFloat](a, b [][]T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if rawBits(a[i][j]) != rawBits(b[i][j]) {
				return false
			}
		}
	}
	return true
}

// fullStateConfigs returns, for every rule, its first config that keeps
// the most state slots.
func fullStateConfigs() []Rule {
	var out []Rule
	for _, c := range ruleCases() {
		best, most := c.configs[0].rule, -1
		for _, cfg := range c.configs {
			n := 0
			for _, key := range cfg.state {
				if key != "" {
					n++
				}
			}
			if n > most {
				best, most = cfg.rule, n
			}
		}
		out = append(out, best)
	}
	return out
}

func TestStepErrorsChangeNothing(t *testing.T) {
	for _, rule := range fullStateConfigs() {
		t.Run(ruleName(rule), func(t *testing.T) {
			t.Run("float32", func(t *testing.T) { testStepErrors[float32](t, rule) })
			t.Run("float64", func(t *testing.T) { testStepErrors[float64](t, rule) })
		})
	}
}

func testStepErrors[T testFloat](t *testing.T, rule Rule) {
	mem := make([]T, 64)
	for i := range mem {
		mem[i] = T(i) / 8
	}
	p0, p1, p2 := mem[0:5], mem[8:12], mem[16:23]
	opt, err := New[T](rule, p0, p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	g0, g1, g2 := make([]T, 5), make([]T, 4), make([]T, 7)
	for i := range g2 {
		g2[i] = 1
	}
	// One good step first, so the state is not all zero.
	if err := opt.Step(g0, g1, g2); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, opt)
	steps := opt.Steps()
	cases := []struct {
		name  string
		grads [][]T
		want  []string
	}{
		{"too few grads", [][]T{g0, g1}, []string{"got 2 gradients for 3 params"}},
		{"too many grads", [][]T{g0, g1, g2, g2}, []string{"got 4 gradients for 3 params"}},
		{"short grad", [][]T{g0, g1[:3], g2}, []string{"grad 1 has length 3", "param 1 has length 4"}},
		{"long grad", [][]T{g0, g1, make([]T, 8)}, []string{"grad 2 has length 8", "param 2 has length 7"}},
		{"empty grad", [][]T{g0[:0], g1, g2}, []string{"grad 0 has length 0", "param 0 has length 5", `a nil grad means "no gradient"`}},
		{"grad is its param", [][]T{g0, p1, g2}, []string{"grad 1 overlaps param 1"}},
		{"grad overlaps its param partly", [][]T{mem[3:8], g1, g2}, []string{"grad 0 overlaps param 0"}},
		{"grad overlaps another param", [][]T{g0, g1, mem[10:17]}, []string{"grad 2 overlaps param"}},
		{"grad overlaps its param's tail", [][]T{g0, g1, mem[21:28]}, []string{"grad 2 overlaps param 2"}},
		{"grad overlaps only another param", [][]T{mem[9:14], g1, g2}, []string{"grad 0 overlaps param 1"}},
		{"grad covers two params", [][]T{g0, mem[4:8], mem[0:7]}, []string{"grad 1 overlaps param 0"}},
		{"last grad bad", [][]T{g0, g1, mem[0:7]}, []string{"grad 2 overlaps param 0"}},
	}
	for _, c := range cases {
		var err error
		noPanic(t, c.name, func() { err = opt.Step(c.grads...) })
		wantError(t, c.name, err, c.want...)
		if !sameSnapshot(before, snapshot(t, opt)) {
			t.Errorf("%s: a failed Step changed params or state", c.name)
		}
		if opt.Steps() != steps {
			t.Errorf("%s: a failed Step changed the step count to %d", c.name, opt.Steps())
		}
	}
}

func TestNewOverlapErrors(t *testing.T) {
	mem := make([]float32, 32)
	cases := []struct {
		name   string
		params [][]float32
		want   []string
	}{
		{"same slice twice", [][]float32{mem[0:4], mem[0:4]}, []string{"param 0 and param 1 overlap"}},
		{"partial overlap", [][]float32{mem[8:12], mem[0:4], mem[2:6]}, []string{"param 1 and param 2 overlap"}},
		{"one element shared", [][]float32{mem[0:5], mem[10:12], mem[4:8]}, []string{"param 0 and param 2 overlap"}},
		{"contained", [][]float32{mem[0:16], mem[3:4]}, []string{"param 0 and param 1 overlap"}},
		{"later pair", [][]float32{mem[0:2], mem[20:30], mem[4:8], mem[29:31]}, []string{"param 1 and param 3 overlap"}},
	}
	for _, c := range cases {
		var err error
		noPanic(t, c.name, func() { _, err = New[float32](DefaultAdam(), c.params...) })
		wantError(t, c.name, err, c.want...)
	}
	// Adjacent slices and empty slices anywhere do not overlap.
	if _, err := New[float32](DefaultAdam(), mem[0:4], mem[4:8], mem[4:4], mem[2:2], nil); err != nil {
		t.Errorf("adjacent and empty params: %v", err)
	}
}

func TestNilAndEmptyErrors(t *testing.T) {
	p := []float32{1, 2}
	type nilCase struct {
		name string
		rule Rule
		want string
	}
	cases := []nilCase{{"nil rule", nil, "nil Rule"}}
	for _, c := range ruleCases() {
		nilPtr := reflect.Zero(reflect.PointerTo(reflect.TypeOf(c.classes[0].constructor))).Interface().(Rule)
		cases = append(cases, nilCase{fmt.Sprintf("nil %T", nilPtr), nilPtr, "nil *" + c.name})
	}
	for _, c := range cases {
		var err error
		noPanic(t, c.name, func() { _, err = New[float32](c.rule, p) })
		wantError(t, "New: "+c.name, err, c.want)
		noPanic(t, c.name, func() { _, _, err = Coefficients[float32](c.rule, 1) })
		wantError(t, "Coefficients: "+c.name, err, c.want)
	}
	var err error
	noPanic(t, "empty params", func() { _, err = New[float32](DefaultSGD()) })
	wantError(t, "New with no params", err, "empty parameter list")
	noPanic(t, "empty params", func() { _, err = New[float64](DefaultAdam(), [][]float64{}...) })
	wantError(t, "New with an empty params slice", err, "empty parameter list")
}

func TestOptimizerMethodErrors(t *testing.T) {
	opt, err := New[float32](DefaultAdam(), make([]float32, 3), make([]float32, 2))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range torchRanges.nonNegative.invalid {
		var err error
		noPanic(t, "SetLR", func() { err = opt.SetLR(v) })
		wantError(t, fmt.Sprintf("SetLR(%v)", v), err, "LR", fmt.Sprint(v))
		if opt.LR() != DefaultAdam().LR {
			t.Errorf("SetLR(%v) failed but changed LR to %v", v, opt.LR())
		}
	}
	for _, i := range []int{-1, 2, 3, math.MaxInt} {
		var err error
		noPanic(t, "State", func() { _, err = opt.State(i) })
		wantError(t, fmt.Sprintf("State(%d)", i), err, fmt.Sprintf("index %d", i), "[0, 2)")
	}
	if err := opt.SetSteps(-1); err == nil || !strings.Contains(err.Error(), "-1") {
		t.Errorf("SetSteps(-1): %v, want an error mentioning -1", err)
	}
	if opt.Steps() != 0 {
		t.Errorf("failed SetSteps changed Steps to %d", opt.Steps())
	}
	for _, step := range []int64{0, -1, math.MinInt64} {
		var err error
		noPanic(t, "Coefficients", func() { _, _, err = Coefficients[float64](DefaultAdam(), step) })
		wantError(t, fmt.Sprintf("Coefficients(step %d)", step), err, "step", fmt.Sprint(step))
	}
}

// TestStatelessErrors covers the validated layer in package kernels: lengths,
// overlap, nil coefficients, nil sets and invalid variants, on every
// supported set, with nothing written on error.
func TestStatelessErrors(t *testing.T) {
	for _, set := range SupportedSets() {
		t.Run(set.Name(), func(t *testing.T) { testStatelessErrors(t, set) })
	}
}

func testStatelessErrors(t *testing.T, set *kernels.Set) {
	mem := make([]float32, 64)
	for i := range mem {
		mem[i] = float32(i) + 0.5
	}
	before := append([]float32(nil), mem...)
	c, v := generic.AdamCoeffs[float32](1e-3, 0.9, 0.999, 1e-8, 0, true, false, false, 1)
	cs, vs := generic.SGDCoeffs[float32](0.1, 0.9, 0, 0, false, false, false)
	ca, va := generic.AdagradCoeffs[float32](0.1, 0, 0, 1e-10, false, 1)
	cr, vr := generic.RMSPropCoeffs[float32](0.1, 0.9, 1e-8, 0, 0.9, true, false)
	p, g, m, sq, mx := mem[0:4], mem[8:12], mem[16:20], mem[24:28], mem[32:36]
	cases := []struct {
		name string
		run  func() error
		want []string
	}{
		{"Adam short g", func() error { return kernels.Adam(set, v, &c, p, g[:3], m, sq, mx) }, []string{"Adam", "len(g) = 3", "len(p) = 4"}},
		{"Adam long m", func() error { return kernels.Adam(set, v, &c, p, g, mem[16:21], sq, mx) }, []string{"len(state 0) = 5"}},
		{"Adam short sq", func() error { return kernels.Adam(set, v, &c, p, g, m, sq[:1], mx) }, []string{"len(state 1) = 1"}},
		{"Adam AMSGrad nil max", func() error { return kernels.Adam(set, v, &c, p, g, m, sq, nil) }, []string{"len(state 2) = 0"}},
		{"Adam p and g overlap", func() error { return kernels.Adam(set, v, &c, p, mem[2:6], m, sq, mx) }, []string{"p and g overlap"}},
		{"Adam g and max overlap", func() error { return kernels.Adam(set, v, &c, p, g, m, sq, mem[11:15]) }, []string{"g and state 2 overlap"}},
		{"Adam m is sq", func() error { return kernels.Adam(set, v, &c, p, g, m, m, mx) }, []string{"state 0 and state 1 overlap"}},
		{"Adam nil coeffs", func() error { return kernels.Adam[float32](set, v, nil, p, g, m, sq, mx) }, []string{"Adam", "nil coefficients"}},
		{"Adam nil set", func() error { return kernels.Adam(nil, v, &c, p, g, m, sq, mx) }, []string{"nil kernel set"}},
		{"Adam bad variant", func() error { return kernels.Adam(set, generic.VarCount, &c, p, g, m, sq, mx) }, []string{"invalid variant", fmt.Sprintf("%#x", uint32(generic.VarCount))}},
		{"SGD short buf", func() error { return kernels.SGD(set, vs, &cs, p, g, m[:2]) }, []string{"SGD", "len(state 0) = 2"}},
		{"SGD buf is p", func() error { return kernels.SGD(set, vs, &cs, p, g, p) }, []string{"p and state 0 overlap"}},
		{"SGD nil coeffs", func() error { return kernels.SGD[float32](set, vs, nil, p, g, m) }, []string{"nil coefficients"}},
		{"Adagrad long sum", func() error { return kernels.Adagrad(set, va, &ca, p, g, mem[16:22]) }, []string{"Adagrad", "len(state 0) = 6"}},
		{"Adagrad sum overlaps g", func() error { return kernels.Adagrad(set, va, &ca, p, g, mem[10:14]) }, []string{"g and state 0 overlap"}},
		{"RMSProp short gavg", func() error { return kernels.RMSProp(set, vr, &cr, p, g, m, sq[:3], mx) }, []string{"RMSProp", "len(state 1) = 3"}},
		{"RMSProp buf overlaps sq", func() error { return kernels.RMSProp(set, vr, &cr, p, g, m, sq, mem[18:22]) }, []string{"state 0 and state 2 overlap"}},
		{"RMSProp nil coeffs", func() error { return kernels.RMSProp[float32](set, vr, nil, p, g, m, sq, mx) }, []string{"nil coefficients"}},
	}
	for _, tc := range cases {
		var err error
		noPanic(t, tc.name, func() { err = tc.run() })
		wantError(t, tc.name, err, tc.want...)
		if i := firstDiff(mem, before); i >= 0 {
			t.Fatalf("%s: memory changed at %d on error", tc.name, i)
		}
	}
	// Unused state slices may be anything: nil, short, or aliasing.
	_, vNoAMS := generic.AdamCoeffs[float32](1e-3, 0.9, 0.999, 1e-8, 0, false, false, false, 1)
	if err := kernels.Adam(set, vNoAMS, &c, p, g, m, sq, p[:1]); err != nil {
		t.Errorf("Adam without AMSGrad rejected an unused maxSq: %v", err)
	}
	_, vPlain := generic.SGDCoeffs[float32](0.1, 0, 0, 0, false, false, false)
	if err := kernels.SGD(set, vPlain, &cs, p, g, nil); err != nil {
		t.Errorf("SGD without momentum rejected a nil buffer: %v", err)
	}
	if err := kernels.SGD(set, vPlain, &cs, nil, nil, nil); err != nil {
		t.Errorf("SGD on empty slices: %v", err)
	}
}
