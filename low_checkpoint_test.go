package optim

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/simdoptim/optim/internal/safetensors"
)

// lowFingerprint is everything a LowOptimizer's checkpoint holds: its
// groups' rules, the values they hold, step counts, created state, scalar
// states and every state slice, bit for bit.
func lowFingerprint[H BFloat16 | Float16](o *LowOptimizer[H]) string {
	var b strings.Builder
	for gi := range o.groups {
		fmt.Fprintf(&b, "%#v;", o.groups[gi].rule)
	}
	for gi := range o.groups {
		if h := o.heldOf(gi); h != nil && h.any() {
			fmt.Fprintf(&b, "held %d: %v %v %v %v %s;", gi, h.hasLR, h.lr, h.hasMomentum, h.momentum, h.by)
		}
	}
	fmt.Fprintf(&b, "|%v|%v|%v|", o.steps, o.created, o.scalars)
	for i := range o.params {
		fmt.Fprintf(&b, "%d:%v:", i, o.state16[i])
		for _, s := range o.state32[i] {
			if s == nil {
				b.WriteString("nil,")
				continue
			}
			for _, x := range s {
				fmt.Fprintf(&b, "%08x,", rawBits(x))
			}
			b.WriteString(";")
		}
	}
	return b.String()
}

// lowCkRules are the rules of the round trips: every kind of state (a
// moment and its square, SGD's lazily created buffer, Adagrad's initial
// value, NAdam's scalar state, Rprop's step sizes and previous gradient).
var lowCkRules = []struct {
	name string
	rule Rule
}{
	{"adam", Adam{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, AMSGrad: true}},
	{"sgd-momentum", SGD{LR: 0.01, Momentum: 0.9, Dampening: 0.1}},
	{"adagrad", Adagrad{LR: 0.01, InitialAccumulatorValue: 0.1, Eps: 1e-10}},
	{"nadam", DefaultNAdam()},
	{"rprop", DefaultRprop()},
}

// lowCkOptions are the storage and rounding choices of the round trips.
var lowCkOptions = []struct {
	name string
	opts LowOptions
}{
	{"param-state", LowOptions{}},
	{"float32-state", LowOptions{StateFloat32: true}},
	{"stochastic", LowOptions{Stochastic: true, Seed: 9}},
	{"stochastic-float32-state", LowOptions{StateFloat32: true, Stochastic: true, Seed: 5}},
}

// lowCkSizes are the parameters' lengths: the third has no gradient until
// the last steps, the fourth is empty.
var lowCkSizes = []int{37, 5, 11, 0}

// lowCkRun makes an optimizer of rule over fresh parameters (a second
// group of SGD without momentum over the last two), the same for the same
// seed.
func lowCkRun[H BFloat16 | Float16](t testing.TB, rule Rule, opts LowOptions) (*LowOptimizer[H], [][]H) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	params := make([][]H, len(lowCkSizes))
	for i, n := range lowCkSizes {
		params[i] = lowValues[H](rng, n, 1)
	}
	o, err := NewLowGroups(opts, LowGroup[H]{Rule: rule, Params: params[:2]}, LowGroup[H]{Rule: SGD{LR: 0.1}, Params: params[2:]})
	if err != nil {
		t.Fatal(err)
	}
	return o, params
}

// lowCkStep takes step s of the run: deterministic gradients, none for the
// third parameter before step 4.
func lowCkStep[H BFloat16 | Float16](t testing.TB, o *LowOptimizer[H], params [][]H, s int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(s), 77))
	grads := make([][]H, len(params))
	for i, p := range params {
		if i == 2 && s < 4 {
			continue
		}
		grads[i] = lowValues[H](rng, len(p), 0.1)
	}
	if err := o.Step(grads...); err != nil {
		t.Fatal(err)
	}
}

// lowCheckpoint is a small LowOptimizer after 3 steps, and its file.
func lowCheckpoint[H BFloat16 | Float16](t testing.TB, rule Rule, opts LowOptions) (*LowOptimizer[H], [][]H, []byte) {
	t.Helper()
	o, params := lowCkRun[H](t, rule, opts)
	for s := range 3 {
		lowCkStep(t, o, params, s)
	}
	var buf bytes.Buffer
	if err := o.Save(&buf); err != nil {
		t.Fatal(err)
	}
	return o, params, buf.Bytes()
}

// TestLowCheckpointRoundTrip: for both formats, both storages, both
// roundings and rules of every kind of state, a checkpoint loads into a
// fresh optimizer the state saved (saving it again gives the same bytes),
// and both continue bit for bit.
func TestLowCheckpointRoundTrip(t *testing.T) {
	t.Run("bfloat16", func(t *testing.T) { lowRoundTrip[BFloat16](t) })
	t.Run("float16", func(t *testing.T) { lowRoundTrip[Float16](t) })
}

// eachLowCkCase runs body as a subtest for every rule and storage of the
// round trips.
func eachLowCkCase(t *testing.T, body func(t *testing.T, rule Rule, opts LowOptions)) {
	for _, r := range lowCkRules {
		for _, c := range lowCkOptions {
			t.Run(r.name+"/"+c.name, func(t *testing.T) { body(t, r.rule, c.opts) })
		}
	}
}

func lowRoundTrip[H BFloat16 | Float16](t *testing.T) {
	eachLowCkCase(t, func(t *testing.T, rule Rule, opts LowOptions) {
		// Group 1 holds a rate that a scheduler wrote.
		o, params := lowCkRun[H](t, rule, opts)
		for s := range 3 {
			lowCkStep(t, o, params, s)
		}
		if err := o.HoldGroupLR(1, -0.5, "OneCycleLR"); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := o.Save(&buf); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		fresh, freshParams := lowCkRun[H](t, rule, opts)
		for i := range params {
			copy(freshParams[i], params[i])
		}
		if err := fresh.Load(bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if a, b := lowFingerprint(fresh), lowFingerprint(o); a != b {
			t.Fatalf("loaded state differs:\n%s\n%s", a, b)
		}
		var again bytes.Buffer
		if err := fresh.Save(&again); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.Bytes(), data) {
			t.Fatal("saving the loaded state gives other bytes")
		}
		for _, x := range []*LowOptimizer[H]{o, fresh} {
			if err := x.SetGroupLR(1, 0.1); err != nil {
				t.Fatal(err)
			}
		}
		lowResumesAlike(t, o, params, fresh, freshParams)
	})
}

// lowResumesAlike takes steps 3 to 5 of the run on o and on fresh, which
// resumed it, and fails unless both end with the same parameters and
// state, bit for bit.
func lowResumesAlike[H BFloat16 | Float16](t *testing.T, o *LowOptimizer[H], params [][]H, fresh *LowOptimizer[H], freshParams [][]H) {
	t.Helper()
	for s := 3; s < 6; s++ {
		lowCkStep(t, o, params, s)
		lowCkStep(t, fresh, freshParams, s)
	}
	for i := range params {
		if !slices.Equal(params[i], freshParams[i]) {
			t.Fatalf("param %d: the resumed run differs", i)
		}
	}
	if lowFingerprint(fresh) != lowFingerprint(o) {
		t.Fatal("the resumed run's state differs")
	}
}

// TestLowCheckpointFileTypes: the metadata records the parameters' format
// and the state's storage, the state tensors have the storage's dtype, and
// a file of another format, storage or optimizer type is refused without
// a change.
func TestLowCheckpointFileTypes(t *testing.T) {
	adam := DefaultAdam()
	_, _, bf := lowCheckpoint[BFloat16](t, adam, LowOptions{})
	_, _, bf32 := lowCheckpoint[BFloat16](t, adam, LowOptions{StateFloat32: true})
	_, _, f16 := lowCheckpoint[Float16](t, adam, LowOptions{})
	for _, c := range []struct {
		data           []byte
		dtype, storage string
		state          safetensors.DType
	}{
		{bf, "BF16", "param", safetensors.BF16},
		{bf32, "BF16", "float32", safetensors.F32},
		{f16, "F16", "param", safetensors.F16},
	} {
		h, err := safetensors.ReadHeader(bytes.NewReader(c.data), safetensors.Unlimited(1<<20), nil)
		if err != nil {
			t.Fatal(err)
		}
		if h.Metadata[dtypeKey] != c.dtype || h.Metadata[storageKey] != c.storage {
			t.Errorf("metadata %s %q, %s %q; want %q, %q", dtypeKey, h.Metadata[dtypeKey], storageKey, h.Metadata[storageKey], c.dtype, c.storage)
		}
		for _, x := range h.Tensors {
			want := c.state
			if strings.HasSuffix(x.Name, ".step") {
				want = safetensors.F32
			}
			if x.DType != want {
				t.Errorf("%s file: tensor %s has dtype %s, want %s", c.dtype, x.Name, x.DType, want)
			}
		}
	}

	bfOpt, _ := lowCkRun[BFloat16](t, adam, LowOptions{})
	bf32Opt, _ := lowCkRun[BFloat16](t, adam, LowOptions{StateFloat32: true})
	f16Opt, _ := lowCkRun[Float16](t, adam, LowOptions{})
	lowLoadFails(t, "float32 state into bf16 state", bfOpt, bf32, `optim.state_storage is "float32"`)
	lowLoadFails(t, "bf16 state into float32 state", bf32Opt, bf, `optim.state_storage is "param"`)
	lowLoadFails(t, "bf16 into f16", f16Opt, bf, `optim.dtype is "BF16"`)
	lowLoadFails(t, "f16 into bf16", bfOpt, f16, `optim.dtype is "F16"`)
	lowLoadFails(t, "no storage entry", bfOpt, dropMeta(t, bf, storageKey), "optim.state_storage is missing")
	// The other storage's dtype under this storage's entry.
	lowLoadFails(t, "F32 tensors in a param-storage file", bfOpt, editHeader(t, bf32, `"optim.state_storage":"float32"`, `"optim.state_storage":"param"`), "dtype F32, want BF16")

	// Optimizer's files and LowOptimizer's do not mix.
	o32, err := New(adam, make([]float32, 37), make([]float32, 5))
	if err != nil {
		t.Fatal(err)
	}
	if err := o32.AddGroup(Group[float32]{Rule: SGD{LR: 0.1}, Params: [][]float32{make([]float32, 11), nil}}); err != nil {
		t.Fatal(err)
	}
	var f32 bytes.Buffer
	if err := o32.Save(&f32); err != nil {
		t.Fatal(err)
	}
	lowLoadFails(t, "an Optimizer[float32] file", bf32Opt, f32.Bytes(), `optim.dtype is "F32"`)
	loadFails(t, "a LowOptimizer file into Optimizer[float32]", o32, bf32, `unknown metadata key "optim.state_storage"`)
	loadFails(t, "a storage entry in an Optimizer file", o32, editHeader(t, f32.Bytes(), `"optim.dtype":"F32"`, `"optim.dtype":"F32","optim.state_storage":"param"`), `unknown metadata key "optim.state_storage"`)

	// torch's layout: the state in the parameters' format.
	if err := bfOpt.Load(bytes.NewReader(toTorchLayout(t, bf))); err != nil {
		t.Fatalf("torch's layout: %v", err)
	}
	lowLoadFails(t, "torch's bf16 state into float32 state", bf32Opt, toTorchLayout(t, bf), "dtype BF16, want F32")
}

// dropMeta removes metadata key from one of our files, resealed.
func dropMeta(t *testing.T, data []byte, key string) []byte {
	t.Helper()
	h, err := safetensors.ReadHeader(bytes.NewReader(data), safetensors.Unlimited(1<<20), nil)
	if err != nil {
		t.Fatal(err)
	}
	v := h.Metadata[key]
	js, _ := json.Marshal(v)
	return editHeader(t, data, fmt.Sprintf(",%q:%s", key, js), "")
}

// lowLoadFails checks that loading data into o fails, without a panic or
// a change, with an error of type *CheckpointError that mentions want.
func lowLoadFails[H BFloat16 | Float16](t *testing.T, what string, o *LowOptimizer[H], data []byte, want ...string) error {
	t.Helper()
	before := lowFingerprint(o)
	var err error
	noPanic(t, what, func() { err = o.Load(bytes.NewReader(data)) })
	if err == nil {
		t.Fatalf("%s: loaded without an error", what)
	}
	var ce *CheckpointError
	var se *ShapeError
	var re *RuleError
	if !errors.As(err, &ce) && !errors.As(err, &se) && !errors.As(err, &re) {
		t.Errorf("%s: error %T %v, want a *CheckpointError", what, err, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %q does not mention %q", what, err, w)
		}
	}
	if lowFingerprint(o) != before {
		t.Fatalf("%s: the failed Load changed the optimizer (%v)", what, err)
	}
	return err
}

// TestLowCheckpointDamage: every prefix of a checkpoint, every flipped bit
// (every 7th with -short) and state that no step makes (NaN, a negative
// square) is refused, and nothing changes.
func TestLowCheckpointDamage(t *testing.T) {
	stride := 1
	if testing.Short() {
		stride = 7
	}
	for _, c := range lowCkOptions[:2] {
		t.Run(c.name, func(t *testing.T) {
			_, _, data := lowCheckpoint[BFloat16](t, DefaultAdam(), c.opts)
			r, _ := lowCkRun[BFloat16](t, DefaultAdam(), c.opts)
			for n := 0; n < len(data); n += stride {
				lowLoadFails(t, fmt.Sprintf("truncated to %d of %d bytes", n, len(data)), r, data[:n])
			}
			lowLoadFails(t, "a byte appended", r, append(slices.Clone(data), 0), "beyond the last tensor")
			before := lowFingerprint(r)
			bad := slices.Clone(data)
			for bit := 0; bit < 8*len(data); bit += stride {
				bad[bit/8] ^= 1 << (bit % 8)
				err := r.Load(bytes.NewReader(bad))
				bad[bit/8] ^= 1 << (bit % 8)
				if err == nil {
					t.Fatalf("bit %d (byte %d %q) flipped: loaded without an error", bit, bit/8, data[bit/8])
				}
				if bit%16 == 0 && lowFingerprint(r) != before {
					t.Fatalf("bit %d flipped: the failed Load changed the optimizer", bit)
				}
			}
			// Past the checksum (resealed): state no step makes.
			for _, e := range []struct {
				tensor string
				bits   uint32 // a float32, or a bfloat16 in the low half
				want   string
			}{
				{"state.0.exp_avg", 0x7FC0_7FC0, "element 3 is NaN, want a number"},
				{"state.1.exp_avg_sq", 0xBF80_BF80, "element 3 is -1, want a number >= 0"},
			} {
				v := e.bits
				if c.opts.StateFloat32 {
					v &= 0xFFFF0000 // the float32 of the bfloat16
				}
				lowLoadFails(t, e.tensor, r, setLowElem(t, data, e.tensor, 3, v, c.opts.StateFloat32), e.want)
			}
		})
	}
}

// setLowElem sets element k of tensor name of one of our files to the
// bits v (a float32's if wide, else v's low 16 bits) and reseals it.
func setLowElem(t *testing.T, data []byte, name string, k int, v uint32, wide bool) []byte {
	t.Helper()
	h, err := safetensors.ReadHeader(bytes.NewReader(data), safetensors.Unlimited(1<<20), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range h.Tensors {
		if x.Name == name {
			out := slices.Clone(data)
			at := int(h.Len) + int(x.Begin)
			if wide {
				binary.LittleEndian.PutUint32(out[at+4*k:], v)
			} else {
				binary.LittleEndian.PutUint16(out[at+2*k:], uint16(v))
			}
			return reseal(t, out)
		}
	}
	t.Fatalf("no tensor %s", name)
	return nil
}

// TestLowCheckpointFiles: SaveFileWith and LoadFileWith carry the caller's
// entries with the state; an entry the caller refuses changes nothing.
func TestLowCheckpointFiles(t *testing.T) {
	o, _, _ := lowCheckpoint[Float16](t, DefaultNAdam(), LowOptions{StateFloat32: true})
	path := filepath.Join(t.TempDir(), "low.safetensors")
	if err := o.SaveFileWith(path, map[string]json.RawMessage{"epoch": json.RawMessage("7")}); err != nil {
		t.Fatal(err)
	}
	r, _ := lowCkRun[Float16](t, DefaultNAdam(), LowOptions{StateFloat32: true})
	before := lowFingerprint(r)
	refused := errors.New("refused")
	if err := r.LoadFileWith(path, func(map[string]json.RawMessage) error { return refused }); err != refused {
		t.Fatalf("LoadFileWith: %v, want the callback's error", err)
	}
	if lowFingerprint(r) != before {
		t.Fatal("a refused LoadFileWith changed the optimizer")
	}
	var epoch int
	if err := r.LoadFileWith(path, func(extra map[string]json.RawMessage) error { return json.Unmarshal(extra["epoch"], &epoch) }); err != nil {
		t.Fatal(err)
	}
	if epoch != 7 || lowFingerprint(r) != lowFingerprint(o) {
		t.Fatalf("LoadFileWith: epoch %d, state equal %v", epoch, lowFingerprint(r) == lowFingerprint(o))
	}
	if err := o.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	if err := r.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := o.SaveWith(&buf, map[string]json.RawMessage{"bad": json.RawMessage("{")}); err == nil {
		t.Error("SaveWith took invalid JSON")
	}
	if err := r.LoadWith(bytes.NewReader(nil), nil); err == nil {
		t.Error("LoadWith of nothing")
	}
}

// TestLowCheckpointDropsKeptSlot: a slot kept from an earlier rule (SGD's
// buffer after its momentum went to 0) that the file lacks is dropped, and
// one the file keeps is created, as Optimizer.Load does.
func TestLowCheckpointDropsKeptSlot(t *testing.T) {
	sgd := SGD{LR: 0.1, Momentum: 0.9}
	_, _, withBuf := lowCheckpoint[BFloat16](t, sgd, LowOptions{})
	plain, _, noBuf := lowCheckpoint[BFloat16](t, SGD{LR: 0.1}, LowOptions{})
	r, _ := lowCkRun[BFloat16](t, sgd, LowOptions{})
	if err := r.Load(bytes.NewReader(noBuf)); err == nil {
		// The rule's class matches, momentum comes from the file: 0.
		if r.state16[0][0] != nil {
			t.Error("the momentum buffer the file lacks is kept")
		}
		if lowFingerprint(r) != lowFingerprint(plain) {
			t.Error("loaded state differs")
		}
	} else {
		t.Fatal(err)
	}
	if err := r.Load(bytes.NewReader(withBuf)); err != nil {
		t.Fatal(err)
	}
	if r.state16[0][0] == nil {
		t.Error("the file's momentum buffer is not loaded")
	}
	// The new buffer is guarded: a gradient over it is refused.
	grads := make([][]BFloat16, len(lowCkSizes))
	grads[0] = unsafeBF16(r.state16[0][0])
	if err := r.Step(grads...); err == nil {
		t.Error("a gradient over the loaded momentum buffer is accepted")
	}
}

// unsafeBF16 views bits as bfloat16 values: the same memory.
func unsafeBF16(s []uint16) []BFloat16 {
	return unsafe.Slice((*BFloat16)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// FuzzLoadLow: LowOptimizer.Load never panics, never changes anything when
// it fails, adds no more memory than the header, twice the state its rules
// can keep and 8 MiB, and what it accepts saves and loads back to the same
// state. The input is an edit of a valid file (which%3: bfloat16 state,
// float32 state, bfloat16 state in torch's layout): patch written over the
// file from offset at or, for which/3 odd, inserted there, then the file
// cut by cut bytes.
func FuzzLoadLow(f *testing.F) {
	_, _, bf := lowCheckpoint[BFloat16](f, DefaultNAdam(), LowOptions{})
	_, _, wide := lowCheckpoint[BFloat16](f, DefaultNAdam(), LowOptions{StateFloat32: true})
	// The fourth file holds the matrix rules' state (Muon's buffers,
	// Adafactor's factors with torch's shapes) beside AdamW's.
	matParams, matGrads := lowMatrixParams[BFloat16](2)
	mat := newLowMatrix(f, LowOptions{}, matParams)
	for _, gs := range matGrads {
		if err := mat.Step(gs...); err != nil {
			f.Fatal(err)
		}
	}
	var matFile bytes.Buffer
	if err := mat.Save(&matFile); err != nil {
		f.Fatal(err)
	}
	mat.Close()
	files := [][]byte{bf, wide, toTorchLayout(f, bf), matFile.Bytes()}
	// fresh makes the optimizer that file k loads into, and counts its
	// elements.
	fresh := func(t *testing.T, k int) (*LowOptimizer[BFloat16], int) {
		if k == 3 {
			params, _ := lowMatrixParams[BFloat16](0)
			elems := 0
			for _, p := range params {
				elems += len(p)
			}
			return newLowMatrix(t, LowOptions{}, params), elems
		}
		o, _ := lowCkRun[BFloat16](t, DefaultNAdam(), LowOptions{StateFloat32: k == 1})
		elems := 0
		for _, n := range lowCkSizes {
			elems += n
		}
		return o, elems
	}
	for which := range uint8(8) {
		f.Add(which, uint16(0), []byte(nil), uint16(0))
	}
	f.Add(uint8(0), uint16(bytes.Index(bf, []byte(`"optim.state_storage"`))+22), []byte(`"float32"`), uint16(0))
	f.Add(uint8(1), uint16(bytes.Index(wide, []byte(`"dtype":"F32"`))+9), []byte(`BF16"`), uint16(0))
	f.Add(uint8(2), uint16(bytes.Index(files[2], []byte(`"dtype":"BF16"`))+9), []byte(`F16"`), uint16(0))
	f.Add(uint8(3), uint16(len(bf)-4), []byte{0xC0, 0x7F}, uint16(0))
	f.Add(uint8(3), uint16(bytes.Index(files[3], []byte(`"shape":[6,1]`))+10), []byte(`2`), uint16(0))
	f.Fuzz(func(t *testing.T, which uint8, at uint16, patch []byte, cut uint16) {
		k := int(which % 4)
		data := slices.Clone(files[k])
		if len(patch) > 1<<16 {
			patch = patch[:1<<16]
		}
		pos := min(int(at), len(data))
		if which/4%2 == 1 {
			data = slices.Insert(data, pos, patch...)
		} else {
			data = append(data[:pos], append(patch, data[min(pos+len(patch), len(data)):]...)...)
		}
		data = data[:len(data)-min(int(cut), len(data))]
		o, elems := fresh(t, k)
		defer o.Close()
		before := lowFingerprint(o)
		used, err := allocsOf(func() error { return o.Load(bytes.NewReader(data)) })
		// Every rule here keeps at most three slots of at most 4 bytes per
		// element, besides its scalars.
		if bound := uint64(len(data)) + 2*uint64(3*4*elems+256*o.Len()) + 8<<20; used > bound {
			t.Fatalf("Load allocated %d bytes, more than %d", used, bound)
		}
		if err != nil {
			if lowFingerprint(o) != before {
				t.Fatalf("the failed Load changed the optimizer: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := o.Save(&buf); err != nil {
			t.Fatalf("saving an accepted state: %v", err)
		}
		again, _ := fresh(t, k)
		defer again.Close()
		if err := again.Load(&buf); err != nil {
			t.Fatalf("loading a saved accepted state: %v", err)
		}
		if lowFingerprint(again) != lowFingerprint(o) {
			t.Fatal("an accepted state does not load back the same")
		}
	})
}

var updateLowCheckpoint = flag.Bool("update-low-checkpoint", false,
	"write testdata/torch-lowp-checkpoint/go_adam_bf16.safetensors (then run make.py there)")

// TestLowCheckpointTorchFiles: checkpoints of bfloat16 Adam that torch
// 1.13.1 reads and wrote (testdata/torch-lowp-checkpoint, make.py). Go's
// file after 2 steps from inputs.json is exactly the one make.py loaded
// into torch.optim.Adam; torch's state_dict after its own 2 steps loads
// here with its values, and the next step is within a unit in the last
// place of torch's (whose 1.13 kernels compute bfloat16 Adam otherwise).
func TestLowCheckpointTorchFiles(t *testing.T) {
	dir := filepath.Join("testdata", "torch-lowp-checkpoint")
	var in struct {
		LR    float64
		Init  [][]BFloat16
		Grads [][][]BFloat16
	}
	var torch struct {
		Params      [][]BFloat16
		ExpAvg      [][]BFloat16 `json:"exp_avg"`
		ExpAvgSq    [][]BFloat16 `json:"exp_avg_sq"`
		ParamsAfter [][]BFloat16 `json:"params_after"`
	}
	for name, v := range map[string]any{"inputs.json": &in, "torch_adam_bf16.json": &torch} {
		js, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(js, v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	rule := Adam{LR: in.LR, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}

	o, err := NewLow(rule, LowOptions{}, in.Init...)
	if err != nil {
		t.Fatal(err)
	}
	for s := range 2 {
		if err := o.Step(in.Grads[s]...); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := o.Save(&buf); err != nil {
		t.Fatal(err)
	}
	goFile := filepath.Join(dir, "go_adam_bf16.safetensors")
	if *updateLowCheckpoint {
		if err := os.WriteFile(goFile, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want, err := os.ReadFile(goFile); err != nil || !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("Save writes other bytes than %s, which torch was shown to load (%v): run this test with -update-low-checkpoint, then make.py", goFile, err)
	}

	data, err := os.ReadFile(filepath.Join(dir, "torch_adam_bf16.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewLow(rule, LowOptions{}, torch.Params...)
	if err != nil {
		t.Fatal(err)
	}
	lowLoadFails(t, "torch's bfloat16 state into float32 state", must(NewLow(rule, LowOptions{StateFloat32: true}, make([]BFloat16, 7), make([]BFloat16, 3))), data, "dtype BF16, want F32")
	if err := r.Load(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	for i := range torch.Params {
		st, err := r.State(i)
		if err != nil {
			t.Fatal(err)
		}
		if st.Step != 2 {
			t.Errorf("param %d: step %d, want 2", i, st.Step)
		}
		for j := range torch.Params[i] {
			if st.ExpAvg[j] != torch.ExpAvg[i][j].Float32() || st.ExpAvgSq[j] != torch.ExpAvgSq[i][j].Float32() {
				t.Errorf("param %d element %d: exp_avg %v, exp_avg_sq %v; torch's %v, %v", i, j,
					st.ExpAvg[j], st.ExpAvgSq[j], torch.ExpAvg[i][j].Float32(), torch.ExpAvgSq[i][j].Float32())
			}
		}
	}
	if err := r.Step(in.Grads[2]...); err != nil {
		t.Fatal(err)
	}
	for i, p := range torch.Params {
		for j, h := range p {
			want := float64(torch.ParamsAfter[i][j].Float32())
			ulp := math.Abs(want) * 0x1p-7
			if d := math.Abs(float64(h.Float32()) - want); d > ulp {
				t.Errorf("param %d element %d after the step from torch's state: %v, torch %v", i, j, h.Float32(), want)
			}
		}
	}
}

func must[V any](v V, err error) V {
	if err != nil {
		panic(err)
	}
	return v
}

// TestLowLoadHostileHeaders: each of Optimizer's crafted headers
// (hostileHeaders) is refused by a LowOptimizer too, and Load adds at most
// the header's size, twice the state its rules can keep and 8 MiB while
// reading it.
func TestLowLoadHostileHeaders(t *testing.T) {
	many := func() *LowOptimizer[BFloat16] {
		params := make([][]BFloat16, 20_000)
		for i := range params {
			params[i] = make([]BFloat16, 1)
		}
		return must(NewLow(SGD{LR: 0.1}, LowOptions{}, params...))
	}
	o := many()
	before := lowFingerprint(o)
	// SGD keeps one slot; the optimizer's record of a parameter's state.
	record := unsafe.Sizeof(o.state16[0]) + unsafe.Sizeof(o.state32[0]) + unsafe.Sizeof(o.steps[0]) + unsafe.Sizeof(o.scalars[0]) + unsafe.Sizeof(o.created[0])
	capacity := uint64(len(o.params)) * uint64(2+record)
	sizes := []int{256 << 10}
	if !testing.Short() {
		sizes = append(sizes, 1<<20)
	}
	for _, size := range sizes {
		for _, h := range hostileHeaders(size, len(o.params)) {
			file := withLength(h.file)
			target := o
			if h.loads {
				target = many()
			}
			allocs, err := allocsOf(func() error { return target.Load(bytes.NewReader(file)) })
			if (err == nil) != h.loads {
				t.Errorf("%s: loaded %v, error %v", h.name, h.loads, err)
				continue
			}
			if bound := uint64(len(h.file)) + 2*capacity + 8<<20; allocs > bound {
				t.Errorf("%s: a header of %d bytes: Load allocated %d bytes, more than the bound %d", h.name, len(h.file), allocs, bound)
			}
		}
	}
	if lowFingerprint(o) != before {
		t.Fatal("a failed Load changed the optimizer")
	}
}
