package optim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/simdoptim/optim/linalg"
)

// The matrix rules (Muon, Adafactor) have no row in ruleCases: the table's
// tests run every rule on flat parameters of every length (Muon refuses a
// parameter without two dimensions) and through the raw elementwise
// kernels, which these rules do not have. Their tests are here and in
// muon_test.go and adafactor_test.go: the golden replays, the digest of
// their trajectories, validation, State, checkpoints, workers and
// allocations.

// matrixCase is one parameter group of the matrix tests.
type matrixCase struct {
	name  string
	rule  Rule
	shape Shape
}

// matrixCases covers both rules' options and shapes: Muon wide, tall and
// square, Nesterov or not, each rate adjustment, addmm, bfloat16; Adafactor
// factored, batched and flat, each eps1, weight decay, maximize, clipping.
func matrixCases() []matrixCase {
	m := DefaultMuon()
	m.LR = 0.02
	plain := m
	plain.Nesterov, plain.Momentum, plain.WeightDecay, plain.AdjustLR = false, 0.9, 0, "match_rms_adamw"
	addmm := m
	addmm.UseAddmm, addmm.NSSteps = true, 3
	bf := m
	bf.NSBFloat16 = true
	bfAddmm := addmm
	bfAddmm.NSBFloat16 = true
	a := DefaultAdafactor()
	aw := a
	aw.LR, aw.WeightDecay, aw.Eps1, aw.MachineEps1, aw.D, aw.Maximize = 0.05, 0.01, 1e-20, false, 2, true
	clip := a
	clip.LR, clip.D, clip.Beta2Decay = 0.5, 1, -0.5
	return []matrixCase{
		{"muon/wide", m, Shape{5, 7}},
		{"muon/tall", plain, Shape{9, 4}},
		{"muon/big", m, Shape{48, 80}},
		{"muon/addmm", addmm, Shape{6, 6}},
		{"muon/bf16", bf, Shape{12, 20}},
		{"muon/bf16-tall-addmm", bfAddmm, Shape{20, 12}},
		{"adafactor/matrix", a, Shape{6, 10}},
		{"adafactor/batched", aw, Shape{2, 3, 5}},
		{"adafactor/vector", aw, nil},
		{"adafactor/vector-1d", clip, Shape{37}},
		{"adafactor/column", clip, Shape{9, 1}},
	}
}

// matrixInputs returns the initial params and every step's grads of the
// cases, exact values (PCG integers times powers of two), as digestInputs.
func matrixInputs[T testFloat](steps int) (params [][]T, grads [][][]T) {
	r := rand.New(rand.NewPCG(23, 0x5eed))
	val := func(bits int, scale float64) T { return T(float64(r.IntN(1<<bits)-1<<(bits-1)) * scale) }
	for _, c := range matrixCases() {
		n := 37
		if c.shape != nil {
			n, _ = c.shape.Elems()
		}
		p := make([]T, n)
		for i := range p {
			p[i] = val(12, 0x1p-10)
		}
		params = append(params, p)
	}
	for range steps {
		var gs [][]T
		for _, p := range params {
			g := make([]T, len(p))
			for i := range g {
				g[i] = val(20, 0x1p-18)
			}
			gs = append(gs, g)
		}
		grads = append(grads, gs)
	}
	return params, grads
}

// newMatrixOptimizer makes one group per case over params, and an AdamW
// group over extra when it is not nil.
func newMatrixOptimizer[T testFloat](t testing.TB, params [][]T, extra [][]T) *Optimizer[T] {
	t.Helper()
	var groups []Group[T]
	for k, c := range matrixCases() {
		groups = append(groups, Group[T]{Rule: c.rule, Params: params[k : k+1], Shapes: []Shape{c.shape}})
	}
	if extra != nil {
		groups = append(groups, Group[T]{Rule: DefaultAdamW(), Params: extra})
	}
	o, err := NewGroups(groups...)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// matrixDigest is the FNV-64a hash of every parameter and state bit after
// each of matrixDigestSteps steps of matrixCases, float32 then float64. It
// must come out of every kernel set (OPTIM_ISA=generic, avx2, avx512,
// -tags noasm, GOAMD64=v3), on arm64 (qemu-aarch64) and for every worker
// count. Recorded from the logged value.
const matrixDigest uint64 = 0x52dd9fb4dbc5ca22

const matrixDigestSteps = 8

func matrixDigestRun[T testFloat](t *testing.T, d *digestWriter, workers int) {
	params, grads := matrixInputs[T](matrixDigestSteps)
	o := newMatrixOptimizer(t, params, nil)
	defer o.Close()
	if err := o.SetWorkers(workers); err != nil {
		t.Fatal(err)
	}
	for _, gs := range grads {
		if err := o.Step(gs...); err != nil {
			t.Fatal(err)
		}
		for i, p := range params {
			digestSlice(d, p)
			for _, s := range o.state[i] {
				digestSlice(d, s)
			}
		}
	}
}

// TestDigestMatrix checks matrixDigest through the public API with 1, 2
// and 3 workers (the split threshold lowered so that Muon's products are
// split between them).
func TestDigestMatrix(t *testing.T) {
	checkDigestWorkers(t, "matrix", matrixDigest, func(d *digestWriter, w int) {
		matrixDigestRun[float32](t, d, w)
		matrixDigestRun[float64](t, d, w)
	})
}

// checkDigestWorkers holds the digest that run writes with 1, 2 and 3
// workers to want, the split threshold lowered so that the workers share
// the work.
func checkDigestWorkers(t *testing.T, what string, want uint64, run func(d *digestWriter, workers int)) {
	lowParallelMin(t, 16)
	for _, w := range []int{1, 2, 3} {
		d := &digestWriter{h: fnv.New64a()}
		run(d, w)
		got := d.h.Sum64()
		if w == 1 {
			t.Logf("%s digest %#x (set %s, linalg %s)", what, got, ISA(), linalg.Kernel())
		}
		if got != want {
			t.Errorf("%s digest with %d workers = %#x, want %#x", what, w, got, want)
		}
	}
}

// TestMatrixMixedGroupsMatchSeparate: Muon, Adafactor and AdamW groups in
// one optimizer step each parameter exactly as an optimizer of its group
// alone, with any number of workers.
func TestMatrixMixedGroupsMatchSeparate(t *testing.T) {
	lowParallelMin(t, 16)
	params, grads := matrixInputs[float32](4)
	extra := [][]float32{make([]float32, 300), make([]float32, 5)}
	for i := range extra[0] {
		extra[0][i] = float32(i%17) / 16
	}
	all := append(clone2(params), clone2(extra)...)
	mixed := newMatrixOptimizer(t, all[:len(params)], all[len(params):])
	defer mixed.Close()
	if err := mixed.SetWorkers(3); err != nil {
		t.Fatal(err)
	}
	for _, gs := range grads {
		g := append(slicesClone(gs), make([]float32, 300), nil) // the bias has no gradient
		if err := mixed.Step(g...); err != nil {
			t.Fatal(err)
		}
	}
	for k, c := range matrixCases() {
		p := slicesClone(params[k : k+1])
		o, err := NewGroups(Group[float32]{Rule: c.rule, Params: p, Shapes: []Shape{c.shape}})
		if err != nil {
			t.Fatal(err)
		}
		for _, gs := range grads {
			if err := o.Step(gs[k]); err != nil {
				t.Fatal(err)
			}
		}
		if i := firstDiff(p[0], all[k]); i >= 0 {
			t.Errorf("%s: element %d differs in the mixed optimizer", c.name, i)
		}
	}
}

// TestMatrixNoAllocs: a step of every matrix case allocates nothing.
func TestMatrixNoAllocs(t *testing.T) {
	params, grads := matrixInputs[float32](1)
	o := newMatrixOptimizer(t, params, nil)
	defer o.Close()
	if err := o.SetWorkers(1); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(5, func() {
		if err := o.Step(grads[0]...); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("a step allocates %v times", n)
	}
	// Two workers, each stepping whole parameters with its own scratch.
	lowParallelMin(t, 16)
	if err := o.SetWorkers(2); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(5, func() {
		if err := o.Step(grads[0]...); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("a step on two workers allocates %v times", n)
	}
}

// TestMatrixCheckpointRoundTrip: a checkpoint of every case after a few
// steps loads into a new optimizer, whose next steps give the same bits;
// the state tensors are saved with torch's shapes.
func TestMatrixCheckpointRoundTrip(t *testing.T) {
	testMatrixCheckpointRoundTrip[float32](t)
	testMatrixCheckpointRoundTrip[float64](t)
}

func testMatrixCheckpointRoundTrip[T testFloat](t *testing.T) {
	params, grads := matrixInputs[T](6)
	a := newMatrixOptimizer(t, clone2(params), nil)
	for _, gs := range grads[:3] {
		if err := a.Step(gs...); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := a.Save(&buf); err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(buf.Bytes()[:8])
	header := strings.ReplaceAll(string(buf.Bytes()[8:8+n]), `\"`, `"`)
	dt := "F32"
	if dtypeName[T]() == "float64" {
		dt = "F64"
	}
	for _, want := range []string{`"state.1.momentum_buffer":{"dtype":"` + dt + `","shape":[9,4]`,
		`"state.7.row_var":{"dtype":"` + dt + `","shape":[2,3,1]`, `"state.8.variance":{"dtype":"` + dt + `","shape":[37]`,
		`"state.7.col_var":{"dtype":"` + dt + `","shape":[2,1,5]`, `"state.7.step":{"dtype":"F32","shape":[]`,
		`"ns_coefficients":[3.4445,-4.775,2.0315]`,
		`"eps":[null,0.001]`, `"adjust_lr_fn":null`, `"adjust_lr_fn":"match_rms_adamw"`} {
		if !strings.Contains(header, want) {
			t.Errorf("the checkpoint's header lacks %s", want)
		}
	}
	fresh := newMatrixOptimizer(t, clone2(params), nil)
	if err := fresh.Load(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	// fresh's params are still the initial ones: give it a's.
	for i := range params {
		copy(fresh.params[i], a.params[i])
	}
	if fingerprint(t, fresh) != fingerprint(t, a) {
		t.Fatal("the loaded state differs")
	}
	for _, gs := range grads[3:] {
		if err := a.Step(gs...); err != nil {
			t.Fatal(err)
		}
		if err := fresh.Step(gs...); err != nil {
			t.Fatal(err)
		}
	}
	if fingerprint(t, fresh) != fingerprint(t, a) {
		t.Error("the steps after Load differ")
	}
}

// TestMatrixTorchFileLoads: torch's state dicts of Muon and Adafactor, as
// torch writes them (the param's shape, Adafactor's row_var [R,1] and
// col_var [1,C], its float32 step), load; a tensor of another shape is
// refused.
func TestMatrixTorchFileLoads(t *testing.T) {
	muonGroups := `[{"lr": 0.02, "weight_decay": 0.1, "momentum": 0.95, "nesterov": true, "ns_coefficients": [3.4445, -4.775, 2.0315], "eps": 1e-07, "ns_steps": 5, "adjust_lr_fn": null, "use_addmm": false, "params": [0]}]`
	buf := torchTensor{"state.0.momentum_buffer", "F32", []int64{2, 3}, f32s(1, 2, 3, 4, 5, 6)}
	muon := func() *Optimizer[float32] {
		o, err := NewGroups(Group[float32]{Rule: DefaultMuon(), Params: [][]float32{make([]float32, 6)}, Shapes: []Shape{{2, 3}}})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	o := muon()
	if err := o.Load(bytes.NewReader(torchFile(map[string]string{"param_groups": muonGroups, "optimizer": "Muon"}, []torchTensor{buf}))); err != nil {
		t.Fatal(err)
	}
	st, _ := o.State(0)
	if st.MomentumBuffer[5] != 6 || o.GroupLR(0) != 0.02 {
		t.Fatalf("loaded %+v, lr %v", st, o.GroupLR(0))
	}
	r := o.GroupRule(0).(Muon)
	if r.NSB != -4.775 || r.NSSteps != 5 || r.AdjustLR != "" || r.NSBFloat16 {
		t.Errorf("loaded the rule %+v", r)
	}
	bad := torchTensor{"state.0.momentum_buffer", "F32", []int64{3, 2}, f32s(1, 2, 3, 4, 5, 6)}
	loadFails(t, "transposed buffer", muon(), torchFile(map[string]string{"param_groups": muonGroups, "optimizer": "Muon"}, []torchTensor{bad}), "shape [3 2]")

	afGroups := `[{"lr": 0.01, "beta2_decay": -0.8, "eps": [null, 0.001], "d": 1.0, "weight_decay": 0.0, "foreach": null, "maximize": false, "params": [0, 1]}]`
	tensors := []torchTensor{
		{"state.0.step", "F32", []int64{}, f32s(3)},
		{"state.0.row_var", "F32", []int64{2, 1}, f32s(1, 2)},
		{"state.0.col_var", "F32", []int64{1, 3}, f32s(3, 4, 5)},
		{"state.1.step", "F32", []int64{}, f32s(3)},
		{"state.1.variance", "F32", []int64{4}, f32s(6, 7, 8, 9)},
	}
	af, err := NewGroups(Group[float32]{Rule: DefaultAdafactor(), Params: [][]float32{make([]float32, 6), make([]float32, 4)}, Shapes: []Shape{{2, 3}, nil}})
	if err != nil {
		t.Fatal(err)
	}
	if err := af.Load(bytes.NewReader(torchFile(map[string]string{"param_groups": afGroups, "optimizer": "Adafactor"}, tensors))); err != nil {
		t.Fatal(err)
	}
	s0, _ := af.State(0)
	s1, _ := af.State(1)
	if s0.Step != 3 || s0.RowVar[1] != 2 || s0.ColVar[2] != 5 || s1.Variance[3] != 9 || s0.Variance != nil || s1.RowVar != nil {
		t.Errorf("loaded %+v and %+v", s0, s1)
	}
	if r := af.GroupRule(0).(Adafactor); !r.MachineEps1 || r.Eps2 != 0.001 {
		t.Errorf("loaded the rule %+v", r)
	}
}

// TestMatrixShapeErrors: shapes that do not fit are refused, naming the
// param, the shape and what was wrong, before anything changes.
func TestMatrixShapeErrors(t *testing.T) {
	p := [][]float32{make([]float32, 12), make([]float32, 4)}
	cases := []struct {
		name  string
		group Group[float32]
		want  string
	}{
		{"count", Group[float32]{Rule: DefaultAdam(), Params: p, Shapes: []Shape{{3, 4}}}, "1 shapes for 2 params"},
		{"elements", Group[float32]{Rule: DefaultAdam(), Params: p, Shapes: []Shape{{3, 5}, nil}}, "shape [3, 5] has 15 elements, the param has length 12"},
		{"negative", Group[float32]{Rule: DefaultAdam(), Params: p, Shapes: []Shape{{-3, -4}, nil}}, "not a shape"},
		{"muon flat", Group[float32]{Rule: DefaultMuon(), Params: p[:1]}, "no shape: Muon steps 2-D parameters only"},
		{"muon 3-d", Group[float32]{Rule: DefaultMuon(), Params: p[:1], Shapes: []Shape{{2, 2, 3}}}, "shape [2, 2, 3]: Muon steps 2-D"},
		{"muon vector", Group[float32]{Rule: DefaultMuon(), Params: p, Shapes: []Shape{{3, 4}, {4}}}, "param 1 has shape [4]"},
	}
	for _, c := range cases {
		_, err := NewGroups(c.group)
		var se *ParamShapeError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a *ParamShapeError saying %q", c.name, err, c.want)
		}
	}
	// Named params are named.
	_, err := NewGroups(Group[float32]{Rule: DefaultMuon(), Params: p[:1], Names: []string{"fc.weight"}})
	if err == nil || !strings.Contains(err.Error(), `"fc.weight"`) {
		t.Errorf("named: %v", err)
	}
	// AddGroup changes nothing on error.
	o, err := NewGroups(Group[float32]{Rule: DefaultAdam(), Params: p[1:], Shapes: []Shape{{2, 2}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.AddGroup(Group[float32]{Rule: DefaultMuon(), Params: p[:1]}); err == nil || o.Len() != 1 || o.Groups() != 1 {
		t.Errorf("AddGroup: %v, %d params", err, o.Len())
	}
	if s := o.Shape(0); len(s) != 2 || s[1] != 2 {
		t.Errorf("Shape(0) = %v", s)
	}
	if err := o.AddGroup(Group[float32]{Rule: DefaultMuon(), Params: p[:1], Shapes: []Shape{{4, 3}}}); err != nil {
		t.Fatal(err)
	}
	if s := o.Shape(1); s.String() != "[4, 3]" || o.Shape(2) != nil || o.Shape(-1) != nil {
		t.Errorf("Shape(1) = %v", s)
	}
}

// TestMatrixHyperparameterErrors: torch's ranges, and the values that
// would make NaN of finite parameters.
func TestMatrixHyperparameterErrors(t *testing.T) {
	m := DefaultMuon()
	a := DefaultAdafactor()
	cases := []struct {
		rule  Rule
		field string
	}{
		{func() Muon { r := m; r.LR = -1; return r }(), "LR"},
		{func() Muon { r := m; r.Eps = 0; return r }(), "Eps"},
		{func() Muon { r := m; r.NSSteps = 100; return r }(), "NSSteps"},
		{func() Muon { r := m; r.Momentum = -0.5; return r }(), "Momentum"},
		{func() Muon { r := m; r.NSB = nan64(); return r }(), "NSB"},
		{func() Muon { r := m; r.LR = 1e39; return r }(), "LR"}, // float32 overflows
		{func() Adafactor { r := a; r.Beta2Decay = 0.5; return r }(), "Beta2Decay"},
		{func() Adafactor { r := a; r.MachineEps1 = false; return r }(), "Eps1"},
		{func() Adafactor { r := a; r.D = 0.5; return r }(), "D"},
		{func() Adafactor { r := a; r.Eps2 = -1; return r }(), "Eps2"},
		{func() Adafactor { r := a; r.WeightDecay = -1; return r }(), "WeightDecay"},
	}
	for _, c := range cases {
		_, err := NewGroups(Group[float32]{Rule: c.rule, Params: [][]float32{make([]float32, 4)}, Shapes: []Shape{{2, 2}}})
		var he *HyperparameterError
		if !errors.As(err, &he) || he.Field != c.field {
			t.Errorf("%+v: %v, want a *HyperparameterError of %s", c.rule, err, c.field)
		}
	}
	r := m
	r.AdjustLR = "sqrt"
	if _, err := NewGroups(Group[float32]{Rule: r, Params: [][]float32{make([]float32, 4)}, Shapes: []Shape{{2, 2}}}); err == nil || !strings.Contains(err.Error(), "match_rms_adamw") {
		t.Errorf("AdjustLR: %v", err)
	}
}

// TestMatrixStateAndSchedules: State reports each rule's slots, SetState
// restores them and refuses another rule's or a wrong length, and the
// schedules' setters reach the rules.
func TestMatrixStateAndSchedules(t *testing.T) {
	params, grads := matrixInputs[float64](2)
	o := newMatrixOptimizer(t, params, nil)
	st, _ := o.State(0)
	if st.MomentumBuffer != nil || st.Step != 0 {
		t.Fatalf("state before a step: %+v", st)
	}
	if err := o.Step(grads[0]...); err != nil {
		t.Fatal(err)
	}
	st, _ = o.State(0)
	if len(st.MomentumBuffer) != 35 || st.Step != 1 {
		t.Fatalf("Muon state: %+v", st)
	}
	af, _ := o.State(7) // batched Adafactor: 2 × 3 × 5
	if len(af.RowVar) != 6 || len(af.ColVar) != 10 || af.Variance != nil || af.Step != 1 {
		t.Fatalf("Adafactor state: %+v", af)
	}
	saved := State[float64]{Step: af.Step, RowVar: append([]float64(nil), af.RowVar...), ColVar: append([]float64(nil), af.ColVar...)}
	if err := o.SetState(7, State[float64]{Step: 1, RowVar: make([]float64, 6)}); err == nil || !strings.Contains(err.Error(), "col_var is nil") {
		t.Errorf("partial: %v", err)
	}
	if err := o.SetState(7, State[float64]{Step: 1, RowVar: make([]float64, 5), ColVar: make([]float64, 10)}); err == nil {
		t.Error("a row_var of the wrong length was accepted")
	}
	if err := o.SetState(7, State[float64]{Step: 1, RowVar: make([]float64, 6), ColVar: make([]float64, 10), ExpAvg: make([]float64, 30)}); err == nil || !strings.Contains(err.Error(), "exp_avg") {
		t.Errorf("another rule's: %v", err)
	}
	if err := o.SetState(7, saved); err != nil {
		t.Fatal(err)
	}
	if err := o.SetLR(0.001); err != nil {
		t.Fatal(err)
	}
	if err := o.SetGroupMomentum(0, 0.9); err != nil {
		t.Fatal(err)
	}
	if err := o.SetGroupMomentum(7, 0.9); !errors.Is(err, ErrNoMomentum) {
		t.Errorf("Adafactor momentum: %v", err)
	}
	r := o.GroupRule(4).(Muon)
	r.NSBFloat16 = false
	if err := o.SetGroupRule(4, r); err != nil {
		t.Fatal(err)
	}
	if err := o.Step(grads[1]...); err != nil {
		t.Fatal(err)
	}
	if g := o.GroupRule(0).(Muon); g.LR != 0.001 || g.Momentum != 0.9 {
		t.Errorf("Muon after the setters: %+v", g)
	}
}

// slicesClone copies the outer slice only.
func slicesClone[T any](s []T) []T { return append([]T(nil), s...) }

func nan64() float64 {
	var z float64
	return z / z
}

// TestMatrixRulesHaveNoKernel: the stateless layer refuses the matrix
// rules, whose steps are not elementwise.
func TestMatrixRulesHaveNoKernel(t *testing.T) {
	for _, r := range []Rule{DefaultMuon(), DefaultAdafactor()} {
		var re *RuleError
		if _, err := KernelKind(r); !errors.As(err, &re) || !strings.Contains(err.Error(), "no elementwise kernel") {
			t.Errorf("KernelKind(%T): %v", r, err)
		}
		if _, _, err := Coefficients[float32](r, 1); !errors.As(err, &re) {
			t.Errorf("Coefficients(%T): %v", r, err)
		}
		if _, _, _, err := CoefficientsWith[float64](r, 1, true, Scalars{}); !errors.As(err, &re) {
			t.Errorf("CoefficientsWith(%T): %v", r, err)
		}
	}
}

// TestMatrixStepIfFiniteAndClipping: a non-finite gradient skips the
// matrix rules' step with everything else, and clipping scales their
// gradients as any other.
func TestMatrixStepIfFiniteAndClipping(t *testing.T) {
	params, grads := matrixInputs[float32](1)
	o := newMatrixOptimizer(t, params, nil)
	before := fingerprint(t, o)
	bad := clone2(grads[0])
	bad[3][2] = float32(nan64())
	if skipped, err := o.StepIfFinite(bad...); err != nil || !skipped {
		t.Fatalf("StepIfFinite: %v, %v", skipped, err)
	}
	if fingerprint(t, o) != before {
		t.Fatal("a skipped step changed the state")
	}
	g := clone2(grads[0])
	if _, err := o.ClipGradNorm(1e-3, 2, false, g...); err != nil {
		t.Fatal(err)
	}
	if skipped, err := o.StepIfFinite(g...); err != nil || skipped {
		t.Fatalf("StepIfFinite: %v, %v", skipped, err)
	}
	if st, _ := o.State(6); st.Step != 1 {
		t.Errorf("Adafactor's step count after a step: %d", st.Step)
	}
}

// TestShapedStateCheckpoint: an elementwise rule's state of a shaped
// parameter is saved with the parameter's shape, loads back, and a file
// whose tensor has another shape is refused.
func TestShapedStateCheckpoint(t *testing.T) {
	mk := func() *Optimizer[float32] {
		o, err := NewGroups(Group[float32]{Rule: DefaultAdam(), Params: [][]float32{make([]float32, 6)}, Shapes: []Shape{{2, 3}}})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	o := mk()
	if err := o.Step([]float32{1, 2, 3, 4, 5, 6}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := o.Save(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"state.0.exp_avg":{"dtype":"F32","shape":[2,3]`) {
		t.Error("exp_avg was not saved with the param's shape")
	}
	o2 := mk()
	if err := o2.Load(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if fingerprint(t, o2) != fingerprint(t, o) {
		t.Error("the loaded state differs")
	}
	groups := `[{"lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-08, "weight_decay": 0, "amsgrad": false, "foreach": null, "maximize": false, "capturable": false, "differentiable": false, "fused": null, "params": [0]}]`
	tensors := []torchTensor{
		{"state.0.step", "F32", []int64{}, f32s(1)},
		{"state.0.exp_avg", "F32", []int64{3, 2}, f32s(1, 2, 3, 4, 5, 6)},
		{"state.0.exp_avg_sq", "F32", []int64{2, 3}, f32s(1, 2, 3, 4, 5, 6)},
	}
	loadFails(t, "transposed", mk(), torchFile(map[string]string{"param_groups": groups, "optimizer": "Adam"}, tensors), "shape [3 2]", "[2, 3]")
	tensors[1].shape = []int64{2, 3}
	if err := mk().Load(bytes.NewReader(torchFile(map[string]string{"param_groups": groups, "optimizer": "Adam"}, tensors))); err != nil {
		t.Errorf("torch's file: %v", err)
	}
}

// TestMatrixLoadSizesScratch: a checkpoint whose Muon runs the bfloat16
// iteration loads into an optimizer made without it (and the other way),
// and the next step has the scratch that the loaded rule needs.
func TestMatrixLoadSizesScratch(t *testing.T) {
	for _, from := range []bool{true, false} {
		mk := func(bf bool) (*Optimizer[float32], []float32) {
			r := DefaultMuon()
			r.NSBFloat16 = bf
			p := make([]float32, 12*20)
			for i := range p {
				p[i] = float32(i%9) / 8
			}
			o, err := NewGroups(Group[float32]{Rule: r, Params: [][]float32{p}, Shapes: []Shape{{12, 20}}})
			if err != nil {
				t.Fatal(err)
			}
			return o, p
		}
		g := make([]float32, 12*20)
		for i := range g {
			g[i] = float32(i%5-2) / 16
		}
		a, _ := mk(from)
		if err := a.Step(g); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := a.Save(&buf); err != nil {
			t.Fatal(err)
		}
		b, _ := mk(!from)
		if err := b.Load(&buf); err != nil {
			t.Fatal(err)
		}
		if r := b.GroupRule(0).(Muon); r.NSBFloat16 != from {
			t.Fatalf("the loaded rule's NSBFloat16 is %v, want %v", r.NSBFloat16, from)
		}
		if err := b.Step(g); err != nil {
			t.Fatal(err)
		}
	}
}
