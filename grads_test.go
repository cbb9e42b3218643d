package optim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/safetensors"
)

// Optimizer-owned gradients (torch's p.grad), parameter names (torch's
// named_parameters), and the fused accumulation.

// namedAdam is an AdamW optimizer over three named params of lengths 5, 33
// and 64, in two groups.
func namedAdam[T testFloat](t *testing.T) (*Optimizer[T], [][]T) {
	t.Helper()
	p, _ := apiInputs[T](3, 0)
	params := [][]T{p[0], p[2], p[4]}
	o, err := NewGroups(
		Group[T]{Rule: DefaultAdamW(), Params: params[:2], Names: []string{"emb.weight", "fc.weight"}},
		Group[T]{Rule: DefaultAdam(), Params: params[2:], Names: []string{"fc.bias"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return o, params
}

// TestOwnedGradsStepAsPassedGrads: Step() over the owned buffers, filled
// through Grad, is bit for bit Step(grads...) with the same values; an
// unset buffer (never asked for, or not since ZeroGrad) is a nil gradient.
func TestOwnedGradsStepAsPassedGrads(t *testing.T) {
	testOwnedGradsStepAsPassedGrads[float32](t)
	testOwnedGradsStepAsPassedGrads[float64](t)
}

func testOwnedGradsStepAsPassedGrads[T testFloat](t *testing.T) {
	for _, c := range caseConfigs() {
		params, grads := skipInputs[T](7)
		copies := clone2(params)
		owned, err := New(c.rule, params...)
		if err != nil {
			t.Fatal(err)
		}
		passed, err := New(c.rule, copies...)
		if err != nil {
			t.Fatal(err)
		}
		for s, gs := range grads {
			owned.ZeroGrad()
			for i, g := range gs {
				if g == nil {
					continue
				}
				buf, err := owned.Grad(i)
				if err != nil {
					t.Fatal(err)
				}
				for j := range buf {
					if buf[j] != 0 {
						t.Fatalf("step %d: Grad(%d) after ZeroGrad is not zero at [%d]", s, i, j)
					}
				}
				copy(buf, g)
			}
			if err := owned.Step(); err != nil {
				t.Fatal(err)
			}
			if err := passed.Step(gs...); err != nil {
				t.Fatal(err)
			}
		}
		for i := range params {
			if j := firstDiff(params[i], copies[i]); j >= 0 {
				t.Errorf("%#v: param %d [%d]: owned gradients give %v, passed ones %v", c.rule, i, j, params[i][j], copies[i][j])
			}
			a, _ := owned.State(i)
			b, _ := passed.State(i)
			if a.Step != b.Step {
				t.Errorf("%#v: param %d: %d steps with owned gradients, %d with passed ones", c.rule, i, a.Step, b.Step)
			}
		}
	}
}

// TestGradKeepsItsValuesUntilZeroGrad: a buffer keeps what was written
// into it across Grad calls and steps (accumulation is adding into it);
// ZeroGrad unsets it, and the next Grad returns it zeroed, the same memory.
func TestGradKeepsItsValuesUntilZeroGrad(t *testing.T) {
	o, _ := namedAdam[float32](t)
	gradKeepsValues(t, o, 7, func(i int) int64 { st, _ := o.State(i); return st.Step })
}

// TestAccumulateGradIsTheReference: AccumulateGrad adds s·g into the owned
// buffer with generic.Accumulate's bits, on every kernel set; into an unset
// buffer, it starts from zero. Accumulate does the same for the caller's
// buffers.
func TestAccumulateGradIsTheReference(t *testing.T) {
	for _, set := range SupportedSets() {
		t.Run(set.Name(), func(t *testing.T) {
			withKernelSet(t, set)
			testAccumulateGradIsTheReference(t)
		})
	}
}

func testAccumulateGradIsTheReference(t *testing.T) {
	o, _ := namedAdam[float32](t)
	_, grads := apiInputs[float32](5, 3)
	want := make([]float32, 33)
	o.ZeroGrad()
	for s := range grads {
		scale := float32(1) / 3
		generic.Accumulate(want, grads[s][2], scale)
		if err := o.AccumulateGrad(1, grads[s][2], scale); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := o.Grad(1)
	if j := firstDiff(got, want); j >= 0 {
		t.Errorf("AccumulateGrad [%d] = %v, generic.Accumulate %v", j, got[j], want[j])
	}
	mine := make([]float32, 33)
	for s := range grads {
		if err := Accumulate(mine, grads[s][2], float32(1)/3); err != nil {
			t.Fatal(err)
		}
	}
	if j := firstDiff(mine, want); j >= 0 {
		t.Errorf("Accumulate [%d] = %v, generic.Accumulate %v", j, mine[j], want[j])
	}
	// The exact alias is elementwise, as torch's g.add_(g, alpha=s).
	if err := Accumulate(mine, mine, 1); err != nil {
		t.Errorf("Accumulate(acc, acc, 1): %v", err)
	}
	for _, c := range []struct {
		name string
		err  error
		want []string
	}{
		{"short g", o.AccumulateGrad(1, make([]float32, 5), 1), []string{"AccumulateGrad", "has length 5", `"fc.weight"`, "33"}},
		{"nil g", o.AccumulateGrad(1, nil, 1), []string{"has length 0"}},
		{"index", o.AccumulateGrad(3, make([]float32, 5), 1), []string{"param index 3 out of range"}},
		{"overlap", Accumulate(mine[:10], mine[5:15], 1), []string{"overlap"}},
		{"lengths", Accumulate(mine[:10], mine[10:15], 1), []string{"g has length 5", "acc has length 10"}},
	} {
		wantError(t, c.name, c.err, c.want...)
	}
}

// TestStepAllocatesNothingWithOwnedGrads: Step() over owned buffers, and
// Step(grads...) with nil gradients, allocate nothing.
func TestStepAllocatesNothingWithOwnedGrads(t *testing.T) {
	o, params := namedAdam[float32](t)
	for i := range params {
		if _, err := o.Grad(i); err != nil {
			t.Fatal(err)
		}
	}
	g0 := make([]float32, 5)
	ownedAllocs(t, "", o, func() error { return o.AccumulateGrad(0, g0, 0.5) }, false)
	if n := testing.AllocsPerRun(20, func() {
		if err := o.Step(g0, nil, nil); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Step with nil gradients allocates %v times", n)
	}
}

// ownedAllocs checks that Step() over o's owned buffers, and ZeroGrad,
// accumulate, ClipGradNorm and Step() together, allocate nothing (what
// says which o; raceAllocs excuses allocations under the race detector).
func ownedAllocs[E comparable](t *testing.T, what string, o ownedOptimizer[E], accumulate func() error, raceAllocs bool) {
	t.Helper()
	excused := raceAllocs && underRace
	if n := testing.AllocsPerRun(20, func() {
		if err := o.Step(); err != nil {
			t.Fatal(err)
		}
	}); n != 0 && !excused {
		t.Errorf("%sStep() allocates %v times", what, n)
	}
	if n := testing.AllocsPerRun(20, func() {
		o.ZeroGrad()
		if err := accumulate(); err != nil {
			t.Fatal(err)
		}
		if _, err := o.ClipGradNorm(1, 2, false); err != nil {
			t.Fatal(err)
		}
		if err := o.Step(); err != nil {
			t.Fatal(err)
		}
	}); n != 0 && !excused {
		t.Errorf("%sZeroGrad, AccumulateGrad, ClipGradNorm and Step allocate %v times", what, n)
	}
}

// TestOwnedGradsCannotBeSwapped (trap: gradients matched by position
// only): buffers reached by name belong to their parameter whatever the
// order they are filled in, and an owned buffer passed at another
// parameter's position is refused.
func TestOwnedGradsCannotBeSwapped(t *testing.T) {
	o, params := namedAdam[float64](t)
	ref, refParams := namedAdam[float64](t)
	_, grads := apiInputs[float64](9, 1)
	values := map[string][]float64{"emb.weight": grads[0][0], "fc.weight": grads[0][2], "fc.bias": grads[0][4]}
	stepByName(t, o, ref, values)
	for i := range params {
		if j := firstDiff(params[i], refParams[i]); j >= 0 {
			t.Errorf("param %d (%s) [%d] differs from the positional step", i, o.Name(i), j)
		}
	}
	// Two owned buffers of equal length, swapped in a positional step.
	p := [][]float32{make([]float32, 8), make([]float32, 8)}
	two, err := New(DefaultSGD(), p...)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := two.Grad(0)
	b, _ := two.Grad(1)
	err = two.Step(b, a)
	var oe *OverlapError
	if !errors.As(err, &oe) {
		t.Fatalf("Step with the owned gradients swapped: %v, want an *OverlapError", err)
	}
	wantError(t, "swapped owned gradients", err, "grad 0", "gradient buffer of param 1")
	if st, _ := two.State(0); st.Step != 0 {
		t.Errorf("a refused step stepped")
	}
	if _, err := two.GradOf("w"); err == nil {
		t.Error("GradOf on an unnamed optimizer: no error")
	}
	var ne *NameError
	if _, err := o.GradOf("fc.weights"); !errors.As(err, &ne) || !strings.Contains(err.Error(), `"fc.weights"`) {
		t.Errorf("GradOf of an unknown name: %v, want a *NameError naming it", err)
	}
}

// TestNames: Name and Index, and every way names are refused (before
// anything changes).
func TestNames(t *testing.T) {
	o, _ := namedAdam[float32](t)
	wantNames(t, o, "emb.weight", "fc.weight", "fc.bias")
	refusedNames(t, func(spec []nameGroup) error {
		groups := make([]Group[float32], len(spec))
		for gi, g := range spec {
			groups[gi] = Group[float32]{Rule: DefaultSGD(), Params: make2[float32](g.params, 3), Names: g.names}
		}
		_, err := NewGroups(groups...)
		return err
	})
	p := func(n int) [][]float32 { return make2[float32](n, 3) }
	// AddGroup: a name taken, an unnamed group; nothing changes.
	before := o.Len()
	err := o.AddGroup(Group[float32]{Rule: DefaultSGD(), Params: p(1), Names: []string{"fc.bias"}})
	wantError(t, "AddGroup with a taken name", err, `"fc.bias"`, "param 2 and param 3")
	err = o.AddGroup(Group[float32]{Rule: DefaultSGD(), Params: p(1)})
	wantError(t, "AddGroup without names", err, "every group")
	if o.Len() != before || o.Groups() != 2 {
		t.Errorf("a refused AddGroup changed the optimizer: %d params, %d groups", o.Len(), o.Groups())
	}
	if err := o.AddGroup(Group[float32]{Rule: DefaultSGD(), Params: p(1), Names: []string{"head"}}); err != nil {
		t.Fatal(err)
	}
	if i, ok := o.Index("head"); !ok || i != 3 {
		t.Errorf(`Index("head") = %d, %v after AddGroup`, i, ok)
	}
}

// nameGroup is a group of nameCases: its number of params (of 3 elements
// each) and their names.
type nameGroup struct {
	params int
	names  []string
}

// nameCases are names that NewGroups and NewLowGroups refuse with a
// *NameError, and what the message must say.
var nameCases = []struct {
	name   string
	groups []nameGroup
	want   []string
}{
	{"empty name", []nameGroup{{2, []string{"a", ""}}}, []string{"param 1", "empty"}},
	{"too few names", []nameGroup{{2, []string{"a"}}}, []string{"1 names for 2 params"}},
	{"too many names", []nameGroup{{1, []string{"a", "b"}}}, []string{"2 names for 1 params"}},
	{"duplicate", []nameGroup{{2, []string{"a", "a"}}}, []string{`"a"`, "param 0 and param 1"}},
	{"duplicate across groups", []nameGroup{{1, []string{"a"}}, {1, []string{"a"}}}, []string{`"a"`, "group 1", "param 0 and param 1"}},
	{"some groups named", []nameGroup{{1, []string{"a"}}, {1, nil}}, []string{"group 1", "every group"}},
	{"not UTF-8", []nameGroup{{1, []string{"\xff"}}}, []string{"UTF-8"}},
}

// refusedNames checks that newGroups, which makes an optimizer of groups
// of SGD as spec says, refuses every one of nameCases with a *NameError.
func refusedNames(t *testing.T, newGroups func(spec []nameGroup) error) {
	t.Helper()
	for _, c := range nameCases {
		err := newGroups(c.groups)
		var ne *NameError
		if !errors.As(err, &ne) {
			t.Errorf("%s: %v, want a *NameError", c.name, err)
			continue
		}
		wantError(t, c.name, err, c.want...)
	}
}

// make2 returns n slices of m zeros.
func make2[E any](n, m int) [][]E {
	out := make([][]E, n)
	for i := range out {
		out[i] = make([]E, m)
	}
	return out
}

// TestNamesInErrors: errors about a named parameter name it.
func TestNamesInErrors(t *testing.T) {
	o, params := namedAdam[float32](t)
	g := [][]float32{make([]float32, 5), make([]float32, 33), make([]float32, 64)}
	wantError(t, "short grad", o.Step(g[0], g[1][:3], g[2]), `param 1 ("fc.weight") has length 33`)
	wantError(t, "grad overlapping a param", o.Step(g[0], params[1], g[2]), `grad 1 ("fc.weight") overlaps param 1 ("fc.weight")`)
	wantError(t, "SetState", o.SetState(2, State[float32]{ExpAvg: make([]float32, 2), ExpAvgSq: make([]float32, 64)}), `"fc.bias"`)
}

// TestNamesInCheckpoint: Save records the names in param_groups as torch
// 2.x does (param_names); Load refuses a checkpoint whose names differ from
// the optimizer's, and accepts one without names.
func TestNamesInCheckpoint(t *testing.T) {
	o, _ := namedAdam[float32](t)
	if err := o.Step(make([]float32, 5), nil, make([]float32, 64)); err != nil {
		t.Fatal(err)
	}
	file, _ := saveHeader(t, o)
	same, _ := namedAdam[float32](t)
	p, _ := apiInputs[float32](3, 0)
	unnamed, err := NewGroups(
		Group[float32]{Rule: DefaultAdamW(), Params: [][]float32{p[0], p[2]}},
		Group[float32]{Rule: DefaultAdam(), Params: [][]float32{p[4]}},
	)
	if err != nil {
		t.Fatal(err)
	}
	namesOptional(t, file, same, unnamed)
	other, _ := apiInputs[float32](3, 0)
	renamed, err := NewGroups(
		Group[float32]{Rule: DefaultAdamW(), Params: [][]float32{other[0], other[2]}, Names: []string{"emb.weight", "fc.w"}},
		Group[float32]{Rule: DefaultAdam(), Params: [][]float32{other[4]}, Names: []string{"fc.bias"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, renamed)
	err = renamed.Load(bytes.NewReader(file))
	var ce *CheckpointError
	if !errors.As(err, &ce) {
		t.Fatalf("Load of a checkpoint of other names: %v, want a *CheckpointError", err)
	}
	wantError(t, "other names", err, `"fc.weight"`, `"fc.w"`, "param 1")
	if !sameSnapshot(before, snapshot(t, renamed)) {
		t.Error("a refused Load changed the optimizer")
	}
}

// TestGradErrors: Grad and GradOf refuse what does not exist.
func TestGradErrors(t *testing.T) {
	o, _ := namedAdam[float32](t)
	var ie *IndexError
	if _, err := o.Grad(3); !errors.As(err, &ie) {
		t.Errorf("Grad(3): %v, want an *IndexError", err)
	}
	if _, err := o.Grad(-1); !errors.As(err, &ie) {
		t.Errorf("Grad(-1): %v, want an *IndexError", err)
	}
	if !utf8.ValidString(o.Name(0)) {
		t.Error("a name that is not UTF-8")
	}
}

// TestReductionsSkipNilGrads: norms, clipping and the non-finite checks
// treat a nil gradient as absent (torch's list of grads that are not
// None): the same bits as without it, and nothing written for it.
func TestReductionsSkipNilGrads(t *testing.T) {
	_, grads := apiInputs[float64](21, 1)
	a, b := grads[0][0], grads[0][2]
	for _, p := range []float64{1, 2, 3, math.Inf(1)} {
		with, _ := GradNorm(p, a, nil, b, nil)
		without, _ := GradNorm(p, a, b)
		if math.Float64bits(with) != math.Float64bits(without) {
			t.Errorf("GradNorm(%v) with nil gradients %v, without %v", p, with, without)
		}
	}
	a2, b2 := append([]float64(nil), a...), append([]float64(nil), b...)
	n1, err1 := ClipGradNorm(0.5, 2, false, a, nil, b)
	n2, err2 := ClipGradNorm(0.5, 2, false, a2, b2)
	if err1 != nil || err2 != nil || n1 != n2 || firstDiff(a, a2) >= 0 || firstDiff(b, b2) >= 0 {
		t.Errorf("ClipGradNorm with a nil gradient differs: %v %v, %v %v", n1, err1, n2, err2)
	}
	if err := ClipGradValue(0.1, a, nil); err != nil {
		t.Errorf("ClipGradValue with a nil gradient: %v", err)
	}
	// The optimizer's forms, with owned buffers: unset ones are skipped.
	o, _ := namedAdam[float64](t)
	g0, _ := o.Grad(0)
	g2, _ := o.Grad(2)
	copy(g0, a[:5])
	copy(g2, b[:33])
	g2[40] = math.Inf(1)
	owned, _ := o.GradNorm(2)
	passed, _ := GradNorm(2, g0, g2)
	if math.Float64bits(owned) != math.Float64bits(passed) {
		t.Errorf("o.GradNorm() over owned buffers %v, GradNorm of the set ones %v", owned, passed)
	}
	if !o.NonFinite() {
		t.Error("o.NonFinite() misses the Inf in an owned buffer")
	}
	if skipped, err := o.StepIfFinite(); err != nil || !skipped {
		t.Errorf("StepIfFinite() over an Inf: skipped %v, %v", skipped, err)
	}
	g2[40] = 0
	if skipped, err := o.StepIfFinite(); err != nil || skipped {
		t.Errorf("StepIfFinite() over finite buffers: skipped %v, %v", skipped, err)
	}
	if st, _ := o.State(1); st.Step != 0 || st.ExpAvg != nil {
		t.Errorf("an unset buffer's param stepped: %+v", st)
	}
	if err := o.ClipGradValue(1e-3); err != nil {
		t.Fatal(err)
	}
	if math.Abs(g0[0]) > 1e-3 {
		t.Errorf("o.ClipGradValue() did not clip an owned buffer: %v", g0[0])
	}
	// The scaler: Unscale and ScaledStep with no grads use the owned ones.
	s, err := NewGradScaler(DefaultGradScalerConfig())
	if err != nil {
		t.Fatal(err)
	}
	before := g0[0]
	if _, err := Unscale(s, o); err != nil {
		t.Fatal(err)
	}
	if g0[0] != before*float64(float32(1/s.Scale())) {
		t.Errorf("Unscale(s, o) did not unscale the owned buffer: %v from %v", g0[0], before)
	}
	s2, _ := NewGradScaler(DefaultGradScalerConfig())
	if found, err := Unscale(s2, o, g0, nil, g2); err != nil || found {
		t.Errorf("Unscale with a nil gradient: %v, %v", found, err)
	}
	if skipped, err := ScaledStep(s, o, g0, nil, g2); err != nil || skipped {
		t.Errorf("ScaledStep with a nil gradient: %v, %v", skipped, err)
	}
	s.Update()
	if st, _ := o.State(1); st.Step != 0 {
		t.Errorf("ScaledStep stepped a param with a nil gradient")
	}
}

// TestOwnedGradsAreTheOptimizersOwnMemory: the buffers overlap no param
// and no state, and a param added later must not overlap them.
func TestOwnedGradsAreTheOptimizersOwnMemory(t *testing.T) {
	o, params := namedAdam[float32](t)
	if err := o.Step(make([]float32, 5), make([]float32, 33), make([]float32, 64)); err != nil {
		t.Fatal(err)
	}
	for i := range params {
		g, _ := o.Grad(i)
		if s, ok := o.owned.overlapping(base(g), byteLen(g)); ok {
			t.Errorf("Grad(%d) overlaps %v", i, s)
		}
	}
	g, _ := o.Grad(1)
	err := o.AddGroup(Group[float32]{Rule: DefaultSGD(), Params: [][]float32{g[2:9]}, Names: []string{"head"}})
	var oe *OverlapError
	if !errors.As(err, &oe) {
		t.Fatalf("AddGroup of a param inside an owned gradient: %v, want an *OverlapError", err)
	}
	wantError(t, "param inside an owned gradient", err, `param 3 ("head")`, `the gradient buffer of param 1 ("fc.weight")`)
}

// TestNamesInTorchCheckpoint: a file in torch 2.x's layout with
// param_names loads when they are the optimizer's, and is refused when not.
func TestNamesInTorchCheckpoint(t *testing.T) {
	group := func(names string) string {
		return `[{"param_names": ` + names + `, "lr": 0.01, "betas": [0.9, 0.99], "eps": 1e-08, "weight_decay": 0, "amsgrad": false, "maximize": false, "foreach": null, "capturable": false, "differentiable": false, "fused": false, "params": [0, 1]}]`
	}
	tensors := []torchTensor{
		{"state.0.exp_avg", "F32", []int64{2, 2}, f32s(1, 2, 3, 4)},
		{"state.0.exp_avg_sq", "F32", []int64{4}, f32s(1, 2, 3, 4)},
		{"state.0.step", "F32", []int64{}, f32s(7)},
	}
	mk := func() *Optimizer[float32] {
		o, err := NewGroups(Group[float32]{Rule: DefaultAdam(), Params: [][]float32{make([]float32, 4), make([]float32, 1)}, Names: []string{"w", "b"}})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	o := mk()
	file := torchFile(map[string]string{"param_groups": group(`["w", "b"]`), "optimizer": "Adam"}, tensors)
	if err := o.Load(bytes.NewReader(file)); err != nil {
		t.Fatalf("torch's file with the optimizer's names: %v", err)
	}
	if st, _ := o.State(1); st.ExpAvg != nil {
		t.Errorf("param 1, without state in torch's file, has %+v", st)
	}
	o = mk()
	loadFails(t, "other names", o, torchFile(map[string]string{"param_groups": group(`["w", "bias"]`)}, tensors), `param_names[1] is "bias"`, `param 1 is named "b"`)
	loadFails(t, "names of another count", o, torchFile(map[string]string{"param_groups": group(`["w"]`)}, tensors), "1 names for the group's 2 params")
	loadFails(t, "names not strings", o, torchFile(map[string]string{"param_groups": group(`[1, 2]`)}, tensors), "not a list of names")
}

// ownedOptimizer is what Optimizer and LowOptimizer share of names and
// owned gradients, for the tests of both.
type ownedOptimizer[E comparable] interface {
	Name(i int) string
	Index(name string) (int, bool)
	Grad(i int) ([]E, error)
	GradOf(name string) ([]E, error)
	ZeroGrad()
	Step(grads ...[]E) error
	ClipGradNorm(maxNorm, normType float64, errorIfNonfinite bool, grads ...[]E) (float64, error)
}

// wantNames checks o's Name and Index against its params' names.
func wantNames[E comparable](t *testing.T, o ownedOptimizer[E], names ...string) {
	t.Helper()
	for i, want := range names {
		if o.Name(i) != want {
			t.Errorf("Name(%d) = %q, want %q", i, o.Name(i), want)
		}
		if j, ok := o.Index(want); !ok || j != i {
			t.Errorf("Index(%q) = %d, %v", want, j, ok)
		}
	}
	if _, ok := o.Index("nope"); ok {
		t.Error(`Index("nope") found something`)
	}
	if o.Name(-1) != "" || o.Name(len(names)) != "" {
		t.Error("Name out of range is not empty")
	}
}

// stepByName fills o's buffers by name, in another order than the
// parameters', steps on them, and steps ref on the same values passed by
// position: emb.weight, fc.weight, fc.bias.
func stepByName[E comparable](t *testing.T, o, ref ownedOptimizer[E], values map[string][]E) {
	t.Helper()
	for _, name := range []string{"fc.bias", "emb.weight", "fc.weight"} {
		g, err := o.GradOf(name)
		if err != nil {
			t.Fatal(err)
		}
		copy(g, values[name])
	}
	if err := o.Step(); err != nil {
		t.Fatal(err)
	}
	if err := ref.Step(values["emb.weight"], values["fc.weight"], values["fc.bias"]); err != nil {
		t.Fatal(err)
	}
}

// gradKeepsValues: parameter 1's buffer keeps the value seven written
// into it across Grad calls and steps; ZeroGrad unsets it (Step() skips
// its parameter: steps(1) stays 1), and the next Grad returns it zeroed,
// the same memory.
func gradKeepsValues[E comparable](t *testing.T, o ownedOptimizer[E], seven E, steps func(i int) int64) {
	t.Helper()
	g, err := o.Grad(1)
	if err != nil {
		t.Fatal(err)
	}
	g[3] = seven
	again, _ := o.Grad(1)
	if &again[0] != &g[0] || again[3] != seven {
		t.Fatalf("a second Grad(1) returned other memory or lost the value written")
	}
	if err := o.Step(); err != nil {
		t.Fatal(err)
	}
	if again, _ = o.Grad(1); again[3] != seven {
		t.Errorf("Step changed the owned gradient: %v", again[3])
	}
	o.ZeroGrad()
	if err := o.Step(); err != nil {
		t.Fatal(err)
	}
	if n := steps(1); n != 1 {
		t.Errorf("a step after ZeroGrad stepped param 1 (step count %d, want 1)", n)
	}
	after, _ := o.Grad(1)
	var zero E
	if &after[0] != &g[0] || after[3] != zero {
		t.Errorf("Grad after ZeroGrad: other memory, or not zeroed (%v)", after[3])
	}
}

// checkpointer saves and loads checkpoints: Optimizer and LowOptimizer.
type checkpointer interface {
	Save(w io.Writer) error
	Load(r io.Reader) error
}

// namesOptional checks a checkpoint, file, of namedAdam's or namedLow's
// names: its param_groups hold them (param_names), it loads into same, an
// optimizer of the same names, and into unnamed, whose own checkpoint has
// no names and loads into same.
func namesOptional(t *testing.T, file []byte, same, unnamed checkpointer) {
	t.Helper()
	h, err := safetensors.ReadHeader(bytes.NewReader(file), safetensors.Unlimited(1<<20), nil)
	if err != nil {
		t.Fatal(err)
	}
	var groups []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(h.Metadata["param_groups"]), &groups); err != nil {
		t.Fatal(err)
	}
	for gi, want := range []string{`["emb.weight","fc.weight"]`, `["fc.bias"]`} {
		if got := string(groups[gi]["param_names"]); got != want {
			t.Errorf("param_groups[%d].param_names = %s, want %s", gi, got, want)
		}
	}
	if err := same.Load(bytes.NewReader(file)); err != nil {
		t.Fatalf("Load into an optimizer of the same names: %v", err)
	}
	if err := unnamed.Load(bytes.NewReader(file)); err != nil {
		t.Errorf("Load of a named checkpoint into an unnamed optimizer: %v", err)
	}
	var plain bytes.Buffer
	if err := unnamed.Save(&plain); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "param_names") {
		t.Error("an unnamed optimizer's checkpoint has param_names")
	}
	if err := same.Load(bytes.NewReader(plain.Bytes())); err != nil {
		t.Errorf("Load of an unnamed checkpoint into a named optimizer: %v", err)
	}
}
