package optim

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fingerprint is everything Load may change: state (the unused slots
// included), step counts, the existence of lazily created state, scalar
// state and rules, not the params. Two optimizers with the same
// fingerprint step alike.
func fingerprint[T testFloat](t testing.TB, o *Optimizer[T]) string {
	t.Helper()
	var b strings.Builder
	for i := range o.Len() {
		st, err := o.State(i)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stateSlices(st) {
			fmt.Fprintf(&b, "%v:%x|", s == nil, asBytes(s))
		}
		fmt.Fprintf(&b, "%x %x %x|", math.Float32bits(st.MuProduct), math.Float32bits(st.Eta), math.Float32bits(st.Mu))
		// Slots the rule does not use must be zero, as in a new optimizer.
		for _, s := range o.state[i] {
			fmt.Fprintf(&b, "%x|", asBytes(s))
		}
	}
	fmt.Fprintf(&b, "%v %v %v", o.steps, o.created, o.scalars)
	for gi := range o.groups {
		fmt.Fprintf(&b, " %#v", o.groups[gi].rule)
	}
	return b.String()
}

// ckConfig is an optimizer layout: one group per rule over apiLens-sized
// params (cycled), and whether a later group is added by AddGroup after
// some steps, so that step counts differ between parameters.
type ckConfig struct {
	rules    []Rule
	addGroup bool
}

// ckConfigs are every config of ruleCases alone, every rule's default side
// by side, every rule's last config side by side with the last group
// added later (SGD's: its momentum buffer, created at the first step, does
// not exist at the checkpoint taken at step 0), and each rule's first and
// last config with the last added later.
func ckConfigs() []ckConfig {
	var cs []ckConfig
	for _, c := range caseConfigs() {
		cs = append(cs, ckConfig{rules: []Rule{c.rule}})
	}
	var defaults, lasts []Rule
	for _, c := range ruleCases() {
		for _, cl := range c.classes {
			defaults = append(defaults, cl.constructor)
		}
		last := c.configs[len(c.configs)-1].rule
		lasts = append([]Rule{last}, lasts...)
		cs = append(cs, ckConfig{rules: []Rule{c.configs[0].rule, last}, addGroup: true})
	}
	return append(cs, ckConfig{rules: defaults}, ckConfig{rules: lasts, addGroup: true})
}

// ckInputs returns distinct params for every group of c and gradients.
func ckInputs[T testFloat](c ckConfig, steps int) ([][]T, [][][]T) {
	var params [][]T
	var grads [][][]T
	for range c.rules {
		p, g := apiInputs[T](uint64(len(params)+5), steps)
		params = append(params, p[0], p[2]) // lengths 5 and 33
		for s := range g {
			if len(grads) <= s {
				grads = append(grads, nil)
			}
			grads[s] = append(grads[s], g[s][0], g[s][2])
		}
	}
	return params, grads
}

// ckRun builds an optimizer for c over params, groups of two params each.
// With addGroup, the last group is added after addAt steps of the others.
func ckBuild[T testFloat](t *testing.T, c ckConfig, params [][]T) *Optimizer[T] {
	t.Helper()
	var gs []Group[T]
	for k, r := range c.rules {
		gs = append(gs, Group[T]{Rule: r, Params: params[2*k : 2*k+2]})
	}
	if c.addGroup {
		gs = gs[:len(gs)-1]
	}
	o, err := NewGroups(gs...)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// ckStep takes step s (0-based) of config c, adding the last group at
// step addAt when c.addGroup.
func ckStep[T testFloat](t *testing.T, c ckConfig, o *Optimizer[T], params [][]T, grads [][][]T, s int) {
	t.Helper()
	const addAt = 2
	if c.addGroup && s == addAt && o.Groups() < len(c.rules) {
		k := len(c.rules) - 1
		if err := o.AddGroup(Group[T]{Rule: c.rules[k], Params: params[2*k : 2*k+2]}); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Step(grads[s][:o.Len()]...); err != nil {
		t.Fatal(err)
	}
}

// ckFresh builds, as a new process would, an optimizer of c's final
// layout over new params, with other hyperparameters than c's (Load must
// bring the file's).
func ckFresh[T testFloat](t *testing.T, c ckConfig, params [][]T) *Optimizer[T] {
	t.Helper()
	var gs []Group[T]
	for k, r := range c.rules {
		gs = append(gs, Group[T]{Rule: withField(r, "LR", reflectLR(r)*3), Params: params[2*k : 2*k+2]})
	}
	o, err := NewGroups(gs...)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestCheckpointResumeBitExact: a run saved at step k and resumed in a new
// optimizer over new slices produces exactly the uninterrupted run's bits,
// for every rule, mixed groups and groups added later, at several k
// (k = 0: SGD has no momentum buffer yet), under the dispatched kernels.
func TestCheckpointResumeBitExact(t *testing.T) {
	for ci, c := range ckConfigs() {
		for _, at := range []int{0, 1, 4} {
			t.Run(fmt.Sprintf("config%d/at%d", ci, at), func(t *testing.T) {
				testResume[float32](t, c, at)
				testResume[float64](t, c, at)
			})
		}
	}
}

func testResume[T testFloat](t *testing.T, c ckConfig, at int) {
	const steps = 7
	params, grads := ckInputs[T](c, steps)
	whole := ckBuild(t, c, params)
	for s := range steps {
		ckStep(t, c, whole, params, grads, s)
	}

	first, _ := ckInputs[T](c, steps)
	o := ckBuild(t, c, first)
	for s := range at {
		ckStep(t, c, o, first, grads, s)
	}
	for c.addGroup && o.Groups() < len(c.rules) {
		// The resumed process is built with every group: run on until the
		// last group has been added.
		ckStep(t, c, o, first, grads, at)
		at++
	}
	extra := map[string]json.RawMessage{"schedule": json.RawMessage(`{"epoch": 3}`)}
	var buf bytes.Buffer
	path := filepath.Join(t.TempDir(), "ck.safetensors")
	if err := o.SaveWith(&buf, extra); err != nil {
		t.Fatal(err)
	}
	if err := o.SaveFileWith(path, extra); err != nil {
		t.Fatal(err)
	}

	for _, fromFile := range []bool{false, true} {
		resumed := clone2(first) // new slices: a new process
		r := ckFresh(t, c, resumed)
		var got map[string]json.RawMessage
		accept := func(e map[string]json.RawMessage) error { got = e; return nil }
		var err error
		if fromFile {
			err = r.LoadFileWith(path, accept)
		} else {
			err = r.LoadWith(bytes.NewReader(buf.Bytes()), accept)
		}
		if err != nil {
			t.Fatal(err)
		}
		if string(got["schedule"]) != `{"epoch":3}` || len(got) != 1 {
			t.Fatalf("extra entries came back as %q", got)
		}
		if fingerprint(t, r) != fingerprint(t, o) {
			t.Fatalf("%T: the loaded optimizer differs from the saved one", T(0))
		}
		for s := at; s < steps; s++ {
			ckStep(t, c, r, resumed, grads, s)
		}
		for i := range params {
			if j := firstDiff(resumed[i], params[i]); j >= 0 {
				t.Fatalf("%T resumed at %d: param %d [%d] = %v, uninterrupted %v", T(0), at, i, j, resumed[i][j], params[i][j])
			}
		}
		if fingerprint(t, r) != fingerprint(t, whole) {
			t.Fatalf("%T resumed at %d: state differs from the uninterrupted run's", T(0), at)
		}
	}
}

// smallCheckpoint returns an optimizer with every kind of state after two
// steps, and its checkpoint.
func smallCheckpoint(t testing.TB) (*Optimizer[float32], []byte) {
	t.Helper()
	o, err := NewGroups(
		Group[float32]{Rule: Adam{LR: 0.01, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, AMSGrad: true, Decoupled: true, WeightDecay: 0.1}, Params: [][]float32{{1, 2, 3}}},
		Group[float32]{Rule: SGD{LR: 0.1, Momentum: 0.9, Nesterov: true}, Params: [][]float32{{4, 5}, {}}},
		Group[float32]{Rule: RMSProp{LR: 0.01, Alpha: 0.9, Eps: 1e-8, Momentum: 0.5, Centered: true}, Params: [][]float32{{6}}},
		Group[float32]{Rule: Adagrad{LR: 0.1, Eps: 1e-10, InitialAccumulatorValue: 0.5}, Params: [][]float32{{7, 8}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	for s := range 2 {
		v := float32(s + 1)
		if err := o.Step([]float32{v, -v, 0.5}, []float32{v, 2}, []float32{}, []float32{-v}, []float32{v, v}); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := o.Save(&buf); err != nil {
		t.Fatal(err)
	}
	return o, buf.Bytes()
}

// freshSmall is smallCheckpoint's layout, unstepped, over new slices.
func freshSmall(t testing.TB) *Optimizer[float32] {
	t.Helper()
	o, err := NewGroups(
		Group[float32]{Rule: DefaultAdamW(), Params: [][]float32{make([]float32, 3)}},
		Group[float32]{Rule: SGD{LR: 0.1}, Params: [][]float32{make([]float32, 2), {}}},
		Group[float32]{Rule: DefaultRMSProp(), Params: [][]float32{make([]float32, 1)}},
		Group[float32]{Rule: DefaultAdagrad(), Params: [][]float32{make([]float32, 2)}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// loadFails checks that loading data into o fails and changes nothing.
func loadFails[T testFloat](t *testing.T, what string, o *Optimizer[T], data []byte, want ...string) error {
	t.Helper()
	before := fingerprint(t, o)
	var err error
	noPanic(t, what, func() { err = o.Load(bytes.NewReader(data)) })
	if err == nil {
		t.Fatalf("%s: loaded without an error", what)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %q does not mention %q", what, err, w)
		}
	}
	if fingerprint(t, o) != before {
		t.Fatalf("%s: the failed Load changed the optimizer (%v)", what, err)
	}
	return err
}

func TestCheckpointSmallRoundTrip(t *testing.T) {
	o, data := smallCheckpoint(t)
	r := freshSmall(t)
	if err := r.Load(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if a, b := fingerprint(t, r), fingerprint(t, o); a != b {
		t.Fatalf("loaded state differs:\n%q\n%q", a, b)
	}
	// Save is deterministic: the same state gives the same bytes.
	var again bytes.Buffer
	if err := r.Save(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), data) {
		t.Fatal("saving the loaded state gives other bytes")
	}
}

// TestCheckpointTruncated: every prefix of a checkpoint is an error.
func TestCheckpointTruncated(t *testing.T) {
	_, data := smallCheckpoint(t)
	r := freshSmall(t)
	for n := range len(data) {
		loadFails(t, fmt.Sprintf("truncated to %d of %d bytes", n, len(data)), r, data[:n])
	}
	loadFails(t, "a byte appended", r, append(slices.Clone(data), 0), "beyond the last tensor")
}

// TestCheckpointBitFlips: every single flipped bit of a checkpoint, the
// checksum's included, is an error.
func TestCheckpointBitFlips(t *testing.T) {
	_, data := smallCheckpoint(t)
	r := freshSmall(t)
	before := fingerprint(t, r)
	// -short (the race detector's run) tries every 7th bit.
	stride := 1
	if testing.Short() {
		stride = 7
	}
	bad := slices.Clone(data)
	for bit := 0; bit < 8*len(data); bit += stride {
		bad[bit/8] ^= 1 << (bit % 8)
		err := r.Load(bytes.NewReader(bad))
		bad[bit/8] ^= 1 << (bit % 8)
		if err == nil {
			t.Fatalf("bit %d (byte %d %q) flipped: loaded without an error", bit, bit/8, data[bit/8])
		}
		if bit%16 != 0 {
			continue // the fingerprint costs more than the Load
		}
		if fingerprint(t, r) != before {
			t.Fatalf("bit %d flipped: the failed Load changed the optimizer", bit)
		}
	}
}

// reseal recomputes the checksum of one of our files after an edit, so
// that the checks behind the checksum are reached.
func reseal(t *testing.T, data []byte) []byte {
	t.Helper()
	data = slices.Clone(data)
	at := 8 + len(checksumAt)
	copy(data[at:], checksumPlaceholder)
	copy(data[at:], hex8(crc32.Checksum(data, castagnoli)))
	return data
}

// editHeader replaces old by new in the JSON header (keeping its length by
// padding or trimming spaces) and reseals the file if it is ours.
func editHeader(t *testing.T, data []byte, old, new string) []byte {
	t.Helper()
	n := binary.LittleEndian.Uint64(data)
	js := string(data[8 : 8+n])
	if !strings.Contains(js, old) {
		t.Fatalf("header has no %q", old)
	}
	js = strings.Replace(js, old, new, 1)
	js = strings.TrimRight(js, " ")
	for len(js)%8 != 0 {
		js += " "
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(js)))
	out = append(out, js...)
	out = append(out, data[8+n:]...)
	if strings.HasPrefix(js, checksumAt) {
		out = reseal(t, out)
	}
	return out
}

// TestCheckpointBadHeaders: each is an error, and nothing changes.
func TestCheckpointBadHeaders(t *testing.T) {
	_, data := smallCheckpoint(t)
	r := freshSmall(t)
	length := func(n uint64) []byte {
		b := slices.Clone(data)
		binary.LittleEndian.PutUint64(b, n)
		return b
	}
	loadFails(t, "header length beyond the file", r, length(uint64(len(data))), "header")
	loadFails(t, "absurd header length", r, length(1<<62), "exceeds the limit")
	loadFails(t, "header length 2^64-1", r, length(^uint64(0)), "exceeds the limit")
	loadFails(t, "header length 0", r, length(0), "header")
	cases := []struct{ name, old, new, want string }{
		{"malformed JSON", `"shape":[3]`, `"shape":[3`, "malformed"},
		{"unknown dtype", `"state.0.exp_avg":{"dtype":"F32"`, `"state.0.exp_avg":{"dtype":"Q32"`, "unknown dtype"},
		{"wrong dtype", `"state.0.exp_avg":{"dtype":"F32","shape":[3]`, `"state.0.exp_avg":{"dtype":"I64","shape":[3]`, ""},
		{"wrong shape", `"state.0.exp_avg":{"dtype":"F32","shape":[3]`, `"state.0.exp_avg":{"dtype":"F32","shape":[1,3]`, ""},
		{"shape against bytes", `"state.0.exp_avg":{"dtype":"F32","shape":[3]`, `"state.0.exp_avg":{"dtype":"F32","shape":[4]`, "needs 16"},
		{"overlapping offsets", `"data_offsets":[12,24]`, `"data_offsets":[8,20]`, "overlap or leave a gap"},
		{"duplicate tensor", `"state.0.exp_avg_sq":`, `"state.0.exp_avg":`, "duplicate key"},
		{"unknown tensor", `"state.0.exp_avg_sq":`, `"state.0.exp_avg_sqq":`, "not a state of this optimizer"},
		{"unknown metadata", `"optim.format":`, `"optim.formats":`, ""},
		{"damaged marker", `"optim.format":"github`, `"optim.format":"githuc`, "damaged or foreign"},
		{"version", `"optim.version":"1"`, `"optim.version":"2"`, "version"},
		{"dtype", `"optim.dtype":"F32"`, `"optim.dtype":"F64"`, "element type"},
		{"rule type", `[\"AdamW\",\"SGD\"`, `[\"Adam\",\"SGD\"`, "rule type"},
		{"negative step", `"optim.steps":"[2,`, `"optim.steps":"[-2,`, "step count -2"},
		{"overflowing step", `"optim.steps":"[2,`, `"optim.steps":"[9223372036854775808,`, "int64"},
		{"step tensor disagrees", `"optim.steps":"[2,`, `"optim.steps":"[3,`, "disagrees"},
		{"negative lr", `{\"lr\":0.01`, `{\"lr\":-0.01`, "LR = -0.01"},
		{"NaN hyperparameter", `{\"lr\":0.01`, `{\"lr\":NaN`, "param_groups"},
		{"beta out of range", `\"betas\":[0.9,`, `\"betas\":[1.9,`, "Beta1"},
		{"group count", `\"params\":[4]}]`, `\"params\":[4]},{}]`, "5 parameter groups"},
		{"param count", `\"params\":[4]}]`, `\"params\":[4,5]}]`, "params of group 3"},
		{"null hyperparameter", `{\"lr\":0.01`, `{\"lr\":null`, `"lr"`},
		{"checksum moved", `{"__metadata__":{"optim.checksum"`, `{"__metadata__" :{"optim.checksum"`, "first entry"},
	}
	for _, c := range cases {
		bad := editHeader(t, data, c.old, c.new)
		if c.want == "" {
			loadFails(t, c.name, r, bad)
		} else {
			loadFails(t, c.name, r, bad, c.want)
		}
	}
	// A missing tensor: drop state.4.sum from the header and its bytes
	// from the data (it is last but one: state.4.step follows it).
	missing := editHeader(t, data, `"state.4.sum":{"dtype":"F32","shape":[2],"data_offsets":`, `"state.4.sux":{"dtype":"F32","shape":[2],"data_offsets":`)
	loadFails(t, "missing tensor", r, missing, "not a state")

	// The wrong optimizer: other lengths, other group count, other rule.
	other := func(gs ...Group[float32]) *Optimizer[float32] {
		o, err := NewGroups(gs...)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	p := func(n int) [][]float32 { return [][]float32{make([]float32, n)} }
	loadFails(t, "param length", other(
		Group[float32]{Rule: DefaultAdamW(), Params: p(4)},
		Group[float32]{Rule: SGD{LR: 0.1}, Params: [][]float32{make([]float32, 2), {}}},
		Group[float32]{Rule: DefaultRMSProp(), Params: p(1)},
		Group[float32]{Rule: DefaultAdagrad(), Params: p(2)}), data, "length")
	loadFails(t, "group count", other(Group[float32]{Rule: DefaultAdamW(), Params: p(3)}), data, "parameter groups")
	loadFails(t, "Adam for AdamW", other(
		Group[float32]{Rule: DefaultAdam(), Params: p(3)},
		Group[float32]{Rule: SGD{LR: 0.1}, Params: [][]float32{make([]float32, 2), {}}},
		Group[float32]{Rule: DefaultRMSProp(), Params: p(1)},
		Group[float32]{Rule: DefaultAdagrad(), Params: p(2)}), data, "AdamW", "Adam")
	o64, err := New(DefaultAdamW(), make([]float64, 3))
	if err != nil {
		t.Fatal(err)
	}
	loadFails(t, "float64 optimizer", o64, data)
}

// torchFile writes a file in torch's layout (no marker): the tensors
// given, with data, in order.
type torchTensor struct {
	name, dtype string
	shape       []int64
	data        []byte
}

func torchFile(meta map[string]string, tensors []torchTensor) []byte {
	var js strings.Builder
	js.WriteString("{")
	if meta != nil {
		m, _ := json.Marshal(meta)
		fmt.Fprintf(&js, `"__metadata__":%s`, m)
	}
	off := 0
	for k, t := range tensors {
		if k > 0 || meta != nil {
			js.WriteString(",")
		}
		sh, _ := json.Marshal(t.shape)
		fmt.Fprintf(&js, `%q:{"dtype":%q,"shape":%s,"data_offsets":[%d,%d]}`, t.name, t.dtype, sh, off, off+len(t.data))
		off += len(t.data)
	}
	js.WriteString("}")
	out := binary.LittleEndian.AppendUint64(nil, uint64(js.Len()))
	out = append(out, js.String()...)
	for _, t := range tensors {
		out = append(out, t.data...)
	}
	return out
}

func f32s(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// TestCheckpointTorchLayout: files without the marker load only in
// exactly torch's layout.
func TestCheckpointTorchLayout(t *testing.T) {
	groups := `[{"lr": 0.01, "betas": [0.9, 0.99], "eps": 1e-08, "weight_decay": 0, "amsgrad": false, "maximize": false, "foreach": null, "capturable": false, "differentiable": false, "fused": false, "initial_lr": 0.02, "params": [0, 1]}]`
	meta := map[string]string{"param_groups": groups, "optimizer": "Adam", "torch": "2.5"}
	good := []torchTensor{
		{"state.0.exp_avg", "F32", []int64{2, 2}, f32s(1, 2, 3, 4)},
		{"state.0.exp_avg_sq", "F32", []int64{4}, f32s(1, 2, 3, 4)},
		{"state.0.step", "F32", []int64{}, f32s(7)},
	}
	mk := func() *Optimizer[float32] {
		o, err := New(DefaultAdam(), make([]float32, 4), make([]float32, 1))
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	o := mk()
	if err := o.Load(bytes.NewReader(torchFile(meta, good))); err != nil {
		t.Fatal(err)
	}
	st0, _ := o.State(0)
	st1, _ := o.State(1)
	if st0.Step != 7 || st0.ExpAvgSq[3] != 4 || st1.Step != 0 || st1.ExpAvg != nil || o.LR() != 0.01 { // param 1 has no state, as in the file
		t.Fatalf("loaded %+v, %+v, lr %v", st0, st1, o.LR())
	}

	o = mk()
	with := func(k, v string) map[string]string {
		m := maps.Clone(meta)
		m[k] = v
		return m
	}
	loadFails(t, "unknown metadata key", o, torchFile(with("note", "x"), good), `"note"`)
	loadFails(t, "one of our keys without the marker", o, torchFile(with("optim.steps", "[7,0]"), good), "damaged or foreign")
	loadFails(t, "AdamW class", o, torchFile(with("optimizer", "AdamW"), good), "rule type")
	loadFails(t, "unknown group key", o, torchFile(with("param_groups", strings.Replace(groups, `"fused"`, `"nesterov"`, 1)), good), `"nesterov"`)
	loadFails(t, "missing group key", o, torchFile(with("param_groups", strings.Replace(groups, `"eps": 1e-08, `, "", 1)), good), `"eps"`)
	loadFails(t, "no param_groups", o, torchFile(map[string]string{"optimizer": "Adam"}, good), "param_groups")
	loadFails(t, "missing tensor of a param", o, torchFile(meta, good[1:]), "missing")
	loadFails(t, "extra tensor", o, torchFile(meta, append(slices.Clone(good), torchTensor{"state.1.foo", "F32", []int64{1}, f32s(1)})), "state.1.foo")
	loadFails(t, "wrong shape", o, torchFile(meta, []torchTensor{good[0], {"state.0.exp_avg_sq", "F32", []int64{2}, f32s(1, 2)}, good[2]}), "exp_avg_sq")
	loadFails(t, "wrong dtype", o, torchFile(meta, []torchTensor{good[0], {"state.0.exp_avg_sq", "F64", []int64{2}, f32s(1, 2, 3, 4)}, good[2]}), "dtype F64")
	loadFails(t, "step not 0-d", o, torchFile(meta, []torchTensor{good[0], good[1], {"state.0.step", "F32", []int64{1}, f32s(7)}}), "0-d")
	for _, step := range []torchTensor{
		{"state.0.step", "F32", []int64{}, f32s(-1)},
		{"state.0.step", "F32", []int64{}, f32s(1e30)},
		{"state.0.step", "F32", []int64{}, f32s(2.5)},
		{"state.0.step", "F32", []int64{}, f32s(float32(math.NaN()))},
		{"state.0.step", "I64", []int64{}, binary.LittleEndian.AppendUint64(nil, 1<<63)},
	} {
		loadFails(t, fmt.Sprintf("step %x", step.data), o, torchFile(meta, []torchTensor{good[0], good[1], step}), "step")
	}
	loadFails(t, "gap", o, func() []byte {
		b := torchFile(meta, good)
		return editHeader(t, b, `"data_offsets":[16,32]`, `"data_offsets":[20,36]`)
	}(), "gap")
}

// TestCheckpointAcceptRejects: an error from LoadWith's accept leaves the
// optimizer unchanged.
func TestCheckpointAcceptRejects(t *testing.T) {
	o, _ := smallCheckpoint(t)
	var buf bytes.Buffer
	if err := o.SaveWith(&buf, map[string]json.RawMessage{"scaler": json.RawMessage(`{"scale": 65536}`)}); err != nil {
		t.Fatal(err)
	}
	r := freshSmall(t)
	before := fingerprint(t, r)
	stop := errors.New("scaler state rejected")
	if err := r.LoadWith(bytes.NewReader(buf.Bytes()), func(e map[string]json.RawMessage) error { return stop }); err != stop {
		t.Fatalf("LoadWith returned %v, want the accept error", err)
	}
	if fingerprint(t, r) != before {
		t.Fatal("a rejected LoadWith changed the optimizer")
	}
	if err := o.SaveWith(&buf, map[string]json.RawMessage{"bad": json.RawMessage(`{`)}); err == nil {
		t.Fatal("SaveWith accepted invalid JSON")
	}
	if err := o.SaveWith(&buf, map[string]json.RawMessage{"big": json.RawMessage(`"` + strings.Repeat("x", maxExtra) + `"`)}); err == nil {
		t.Fatal("SaveWith accepted more than maxExtra")
	}
}

// TestCheckpointByteOrderPath runs the conversion path of big-endian
// machines (chunked little-endian encoding) on this one: the same bytes
// are written and the same state is read.
func TestCheckpointByteOrderPath(t *testing.T) {
	o, data := smallCheckpoint(t)
	if !littleEndian {
		t.Skip("this machine takes the conversion path anyway")
	}
	littleEndian = false
	defer func() { littleEndian = true }()
	var buf bytes.Buffer
	if err := o.Save(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Fatal("the conversion path writes other bytes")
	}
	r := freshSmall(t)
	if err := r.Load(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if fingerprint(t, r) != fingerprint(t, o) {
		t.Fatal("the conversion path reads another state")
	}
	// Slices longer than the conversion buffer.
	big := make([]float64, 20000)
	for i := range big {
		big[i] = float64(i) * 1.5
	}
	ob, err := New(DefaultAdam(), big)
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Step(slices.Clone(big)); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if err := ob.Save(&buf); err != nil {
		t.Fatal(err)
	}
	littleEndian = true
	var native bytes.Buffer
	if err := ob.Save(&native); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), native.Bytes()) {
		t.Fatal("the conversion path writes other bytes for a long slice")
	}
	littleEndian = false
	rb, err := New(DefaultAdam(), make([]float64, len(big)))
	if err != nil {
		t.Fatal(err)
	}
	if err := rb.Load(&buf); err != nil {
		t.Fatal(err)
	}
	if fingerprint(t, rb) != fingerprint(t, ob) {
		t.Fatal("the conversion path reads another state for a long slice")
	}
}

// TestCheckpointZeroOptimizer: the zero Optimizer saves and loads its empty
// state, and refuses a checkpoint with groups.
func TestCheckpointZeroOptimizer(t *testing.T) {
	var o Optimizer[float64]
	var buf bytes.Buffer
	if err := o.Save(&buf); err != nil {
		t.Fatal(err)
	}
	var r Optimizer[float64]
	if err := r.Load(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	_, data := smallCheckpoint(t)
	if err := r.Load(bytes.NewReader(data)); err == nil {
		t.Fatal("the zero Optimizer loaded a checkpoint with groups")
	}
}

// TestCheckpointMultiDimensionalShape: a file of ours holds state flat; a
// tensor with the right number of elements in two dimensions is refused
// with a message that says the shape is what differs (it read "has length
// 2, param 4 has length 2").
func TestCheckpointMultiDimensionalShape(t *testing.T) {
	_, data := smallCheckpoint(t)
	bad := editHeader(t, data, `"state.4.sum":{"dtype":"F32","shape":[2]`, `"state.4.sum":{"dtype":"F32","shape":[1,2]`)
	err := loadFails(t, "2-d state", freshSmall(t), bad, "state.4.sum", "2 dimensions, want the shape [2]")
	var ce *CheckpointError
	if !errors.As(err, &ce) {
		t.Errorf("error %v is not a *CheckpointError", err)
	}
}
