package optim

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/simdoptim/optim/schedule"
)

// lowTrainingFixture is a small training run of a 16-bit model with every
// component of a LowTraining: an nn.Linear(4, 3) whose weight Muon steps
// and an nn.LayerNorm(3) with the Linear's bias under AdamW, every
// parameter named, StepLR and OneCycleLR on the optimizer, a gradient
// scaler, an EMA of the model, an epoch counter as Extra and a teacher's
// bias as ExtraTensors.
type lowTrainingFixture[H BFloat16 | Float16] struct {
	model   []Tensor[H]
	opt     *LowOptimizer[H]
	lr      *schedule.Scheduler
	decay   *schedule.Scheduler
	scaler  *GradScaler
	ema     *Averaged[H]
	epoch   int
	teacher []H
	tr      *LowTraining[H]
}

// newLowTrainingFixture builds the run at its start, with weights from
// seed and the rates scaled by lr: a resumed run is built with other ones,
// which Load must replace.
func newLowTrainingFixture[H BFloat16 | Float16](t testing.TB, opts LowOptions, seed int, lr float64) *lowTrainingFixture[H] {
	t.Helper()
	f := &lowTrainingFixture[H]{teacher: make([]H, 3)}
	shapes := []struct {
		name  string
		shape []int
	}{{"fc.weight", []int{3, 4}}, {"fc.bias", []int{3}}, {"norm.weight", []int{3}}, {"norm.bias", []int{3}}}
	for ti, s := range shapes {
		n := 1
		for _, d := range s.shape {
			n *= d
		}
		data := make([]H, n)
		for i := range data {
			data[i] = lowFrom[H](float32((i*7+ti*3+seed)%11)/8 - 0.6)
		}
		f.model = append(f.model, Tensor[H]{Name: s.name, Data: data, Shape: s.shape})
	}
	muon := DefaultMuon()
	muon.LR *= lr
	adamw := DefaultAdamW()
	adamw.LR *= lr
	var err error
	f.opt, err = NewLowGroups(opts,
		LowGroup[H]{Rule: muon, Params: [][]H{f.model[0].Data}, Shapes: []Shape{{3, 4}}, Names: []string{"fc.weight"}},
		LowGroup[H]{Rule: adamw, Params: [][]H{f.model[1].Data, f.model[2].Data, f.model[3].Data}, Names: []string{"fc.bias", "norm.weight", "norm.bias"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	f.ema, err = NewAveragedModel(EMA(0.75), Model[H]{
		Params: [][]H{f.model[0].Data, f.model[1].Data, f.model[2].Data}, Names: []string{"fc.weight", "fc.bias", "norm.weight"},
		Buffers: [][]H{f.model[3].Data}, BufferNames: []string{"norm.bias"},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.lr, err = schedule.New(f.opt, schedule.OneCycleLR{MaxLR: []float64{0.02, 0.01}, TotalSteps: 30, PctStart: 0.3,
		AnnealStrategy: "cos", DivFactor: 25, FinalDivFactor: 1e4})
	if err != nil {
		t.Fatal(err)
	}
	if f.decay, err = schedule.New(f.opt, schedule.StepLR{StepSize: 3, Gamma: 0.5}); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultGradScalerConfig()
	cfg.GrowthInterval = 2
	cfg.InitScale = 256
	if f.scaler, err = NewGradScaler(cfg); err != nil {
		t.Fatal(err)
	}
	f.tr = &LowTraining[H]{
		Optimizer:    f.opt, // the model: the optimizer's named parameters
		Schedulers:   map[string]Stateful{"lr": f.lr, "decay": f.decay},
		Scaler:       f.scaler,
		Averaged:     f.ema,
		Extra:        map[string]any{"epoch": &f.epoch},
		ExtraTensors: []Tensor[H]{{Name: "teacher.fc.bias", Data: f.teacher, Shape: []int{1, 3}}},
	}
	if seed%2 == 1 { // the same model, given with its shapes
		f.tr.Model = f.model
	}
	return f
}

// step runs training step k: scaled gradients (infinite at some steps, so
// that the scaler skips and backs off), ScaledStepLow, Update, both
// schedules, the caller's own state.
func (f *lowTrainingFixture[H]) step(t testing.TB, k int) {
	t.Helper()
	s := float32(f.scaler.Scale())
	var grads [][]H
	for mi, m := range f.model {
		g := make([]H, len(m.Data))
		for i := range g {
			g[i] = lowFrom[H](s * (lowWiden(m.Data[i])*0.1 + float32((i+k+mi)%5) - 2) / 64)
		}
		grads = append(grads, g)
	}
	if k%5 == 3 {
		grads[2][1] = lowFrom[H](float32(math.Inf(1)))
	}
	if _, err := ScaledStepLow(f.scaler, f.opt, grads...); err != nil {
		t.Fatal(err)
	}
	f.scaler.Update()
	if err := f.ema.Update(); err != nil {
		t.Fatal(err)
	}
	if err := f.lr.Step(); err != nil {
		t.Fatal(err)
	}
	if err := f.decay.Step(); err != nil {
		t.Fatal(err)
	}
	f.epoch++
	for i := range f.teacher {
		f.teacher[i] = lowFrom[H](lowWiden(f.teacher[i])*0.5 + lowWiden(f.model[1].Data[i]))
	}
}

// snapshot is everything Load may change, bit for bit.
func (f *lowTrainingFixture[H]) snapshot(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	for _, m := range f.model {
		fmt.Fprintf(&b, "%s:%x|", m.Name, asBytes(m.Data))
	}
	fmt.Fprintf(&b, "%s|", lowFingerprint(f.opt))
	for _, s := range []*schedule.Scheduler{f.lr, f.decay} {
		js, err := json.Marshal(s.State())
		if err != nil {
			t.Fatal(err)
		}
		b.Write(js)
	}
	fmt.Fprintf(&b, "|%+v|%d|%x|%d", f.scaler.State(), f.epoch, asBytes(f.teacher), f.ema.NAveraged())
	for _, s := range append(f.ema.Params(), f.ema.Buffers()...) {
		fmt.Fprintf(&b, "|%x", asBytes(s))
	}
	return b.String()
}

func (f *lowTrainingFixture[H]) save(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := f.tr.Save(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// lowTrainingOptions are the storage and rounding choices a LowTraining
// file must carry a run through.
var lowTrainingOptions = []struct {
	name string
	opts LowOptions
}{
	{"state-param", LowOptions{}},
	{"state-float32", LowOptions{StateFloat32: true}},
	{"stochastic", LowOptions{Stochastic: true, Seed: 7}},
}

// TestLowTrainingResume: a 16-bit run saved halfway and resumed from the
// file in fresh objects (built with other weights and rates) ends with the
// bits of the uninterrupted run, Muon's and AdamW's state, the schedules,
// the scaler, the EMA and the extras included, and its final file is
// byte-identical; a file loaded and saved again gives the same bytes.
func TestLowTrainingResume(t *testing.T) {
	for _, c := range lowTrainingOptions {
		t.Run("bfloat16/"+c.name, func(t *testing.T) { testLowTrainingResume[BFloat16](t, c.opts) })
		t.Run("float16/"+c.name, func(t *testing.T) { testLowTrainingResume[Float16](t, c.opts) })
	}
}

func testLowTrainingResume[H BFloat16 | Float16](t *testing.T, opts LowOptions) {
	const steps = 12
	dir := t.TempDir()
	whole := newLowTrainingFixture[H](t, opts, 0, 1)
	for k := range steps {
		whole.step(t, k)
	}
	wholeFile := whole.save(t)
	for _, at := range []int{1, 6} {
		path := filepath.Join(dir, fmt.Sprintf("at%d.safetensors", at))
		first := newLowTrainingFixture[H](t, opts, 0, 1)
		for k := range at {
			first.step(t, k)
		}
		if err := first.tr.SaveFile(path); err != nil {
			t.Fatal(err)
		}
		for _, seed := range []int{4, 5} { // the model from the optimizer, and given
			resumed := newLowTrainingFixture[H](t, opts, seed, 0.1)
			if err := resumed.tr.LoadFile(path); err != nil {
				t.Fatal(err)
			}
			if a, b := resumed.snapshot(t), first.snapshot(t); a != b {
				t.Fatalf("at %d: the loaded state differs:\n%s\n%s", at, a, b)
			}
			if !bytes.Equal(resumed.save(t), readFile(t, path)) {
				t.Fatalf("at %d: saving the loaded state gives other bytes", at)
			}
			for k := at; k < steps; k++ {
				resumed.step(t, k)
			}
			if a, b := resumed.snapshot(t), whole.snapshot(t); a != b {
				t.Fatalf("resumed at %d: the state differs from the uninterrupted run's:\n%s\n%s", at, a, b)
			}
			if !bytes.Equal(resumed.save(t), wholeFile) {
				t.Fatalf("resumed at %d: the final file differs from the uninterrupted run's", at)
			}
		}
	}
}

// lowTrainingLoadFails checks that loading data into f fails with a
// *TrainingError that mentions each of want, and changes nothing.
func lowTrainingLoadFails[H BFloat16 | Float16](t *testing.T, what string, f *lowTrainingFixture[H], data []byte, want ...string) {
	t.Helper()
	before := f.snapshot(t)
	var err error
	noPanic(t, what, func() { err = f.tr.Load(bytes.NewReader(data)) })
	var te *TrainingError
	if !errors.As(err, &te) {
		t.Fatalf("%s: %T %v, want a *TrainingError", what, err, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %q does not mention %q", what, err, w)
		}
	}
	if f.snapshot(t) != before {
		t.Fatalf("%s: the failed Load changed the training state (%v)", what, err)
	}
}

// TestLowTrainingRefuses: a file of another storage, format or element
// type, a damaged file and a truncated one are errors that name the cause
// and change nothing, both ways between Training and LowTraining.
func TestLowTrainingRefuses(t *testing.T) {
	bf := newLowTrainingFixture[BFloat16](t, LowOptions{}, 0, 1)
	bf32 := newLowTrainingFixture[BFloat16](t, LowOptions{StateFloat32: true}, 0, 1)
	f16 := newLowTrainingFixture[Float16](t, LowOptions{}, 0, 1)
	for k := range 3 {
		bf.step(t, k)
		bf32.step(t, k)
		f16.step(t, k)
	}
	target := newLowTrainingFixture[BFloat16](t, LowOptions{}, 2, 0.5)
	lowTrainingLoadFails(t, "float32 state", target, bf32.save(t), "optimizer.state_storage", `"float32"`)
	lowTrainingLoadFails(t, "param state", newLowTrainingFixture[BFloat16](t, LowOptions{StateFloat32: true}, 2, 0.5), bf.save(t), "optimizer.state_storage", `"param"`)
	lowTrainingLoadFails(t, "float16", target, f16.save(t), "F16", "BF16")
	// A float32 model of the same names.
	var f32 Training[float32]
	for _, m := range bf.model {
		f32.Model = append(f32.Model, Tensor[float32]{Name: m.Name, Data: make([]float32, len(m.Data)), Shape: m.Shape})
	}
	var f32File bytes.Buffer
	if err := f32.Save(&f32File); err != nil {
		t.Fatal(err)
	}
	modelOnly := newLowTrainingFixture[BFloat16](t, LowOptions{}, 1, 1)
	modelOnly.tr = &LowTraining[BFloat16]{Model: modelOnly.model}
	lowTrainingLoadFails(t, "float32 Training", modelOnly, f32File.Bytes(), "F32", "BF16")
	trainingLoadFails(t, "bfloat16 LowTraining", newTrainingFixture[float32](t, 1, 1), bf.save(t), "BF16", "F32")

	data := bf.save(t)
	for _, at := range []int{20, len(data) / 2, len(data) - 1} {
		bad := bytes.Clone(data)
		bad[at] ^= 0x10
		lowTrainingLoadFails(t, fmt.Sprintf("bit flipped at %d", at), target, bad)
	}
	for _, n := range []int{0, 9, len(data) / 3, len(data) - 1} {
		lowTrainingLoadFails(t, fmt.Sprintf("first %d bytes", n), target, data[:n])
	}
	// The model given beside a named optimizer must be its very slices.
	other := newLowTrainingFixture[BFloat16](t, LowOptions{}, 1, 1)
	other.tr.Model = append([]Tensor[BFloat16]{}, other.model...)
	other.tr.Model[1].Data = append([]BFloat16{}, other.model[1].Data...)
	var te *TrainingError
	if err := other.tr.Save(&bytes.Buffer{}); !errors.As(err, &te) || te.Op != "LowTraining.Save" || te.Name != "fc.bias" {
		t.Errorf("Save with a copy of a parameter as its Model tensor: %v, want LowTraining.Save's error naming fc.bias", err)
	}
}

// TestLowTrainingFileLayout: a LowTraining file holds the model, averaged
// and extra tensors in the model's dtype with their shapes, the
// optimizer's state in its storage's dtype, and records the storage.
func TestLowTrainingFileLayout(t *testing.T) {
	for _, c := range lowTrainingOptions[:2] {
		f := newLowTrainingFixture[BFloat16](t, c.opts, 1, 1)
		for k := range 2 {
			f.step(t, k)
		}
		h, meta := readHeaderOf(t, f.save(t))
		state := "BF16"
		if c.opts.StateFloat32 {
			state = "F32"
		}
		for name, want := range map[string]string{
			"fc.weight": "BF16 [3 4]", "norm.bias": "BF16 [3]", "averaged.module.fc.weight": "BF16 [3 4]",
			"averaged.n_averaged": "I64 []", "extra.teacher.fc.bias": "BF16 [1 3]",
			"optimizer.state.0.momentum_buffer": state + " [3 4]", "optimizer.state.1.exp_avg": state + " [3]",
			"optimizer.state.1.step": "F32 []",
		} {
			if got := h[name]; got != want {
				t.Errorf("%s: %s: %q, want %q", c.name, name, got, want)
			}
		}
		storage := map[bool]string{false: "param", true: "float32"}[c.opts.StateFloat32]
		if meta["optim.dtype"] != "BF16" || meta["optimizer.state_storage"] != storage {
			t.Errorf("%s: optim.dtype %q, optimizer.state_storage %q", c.name, meta["optim.dtype"], meta["optimizer.state_storage"])
		}
	}
}

// readHeaderOf returns the tensors of a safetensors file as "DTYPE
// [shape]" by name, and its metadata.
func readHeaderOf(t *testing.T, data []byte) (map[string]string, map[string]string) {
	t.Helper()
	var header map[string]json.RawMessage
	if len(data) < 8 || json.Unmarshal(data[8:8+binary.LittleEndian.Uint64(data)], &header) != nil {
		t.Fatal("not a safetensors file")
	}
	var meta map[string]string
	if err := json.Unmarshal(header["__metadata__"], &meta); err != nil {
		t.Fatal(err)
	}
	delete(header, "__metadata__")
	tensors := map[string]string{}
	for name, raw := range header {
		var e struct {
			DType string  `json:"dtype"`
			Shape []int64 `json:"shape"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		tensors[name] = fmt.Sprintf("%s %v", e.DType, e.Shape)
	}
	return tensors, meta
}

// FuzzLoadLowTraining: LowTraining.Load of an edited file (a bfloat16 run
// with its state in the model's format, which%2 0, or in float32, 1; patch
// written over it at at or, for which/2 odd, inserted there; cut bytes
// cut off its end) never panics, allocates within the bound of a
// Training's Load, changes nothing when it fails, and what it accepts
// saves to a file that loads back the same.
func FuzzLoadLowTraining(f *testing.F) {
	var files [2][]byte
	for k := range files {
		r := newLowTrainingFixture[BFloat16](f, lowTrainingOptions[k].opts, 0, 1)
		for s := range 3 {
			r.step(f, s)
		}
		files[k] = r.save(f)
	}
	for which := range uint8(4) {
		f.Add(which, uint16(0), []byte(nil), uint16(0))
	}
	f.Add(uint8(0), uint16(bytes.Index(files[0], []byte(`"optimizer.state_storage"`))+26), []byte(`"float32"`), uint16(0))
	f.Add(uint8(1), uint16(bytes.Index(files[1], []byte(`"dtype":"F32"`))+9), []byte(`BF16"`), uint16(0))
	f.Add(uint8(0), uint16(bytes.Index(files[0], []byte(`"dtype":"BF16"`))+9), []byte(`F16"`), uint16(0))
	f.Add(uint8(2), uint16(bytes.Index(files[0], []byte(`"fc.weight"`))), []byte(`"fc.w":{"dtype":"BF16","shape":[0],"data_offsets":[0,0]},`), uint16(0))
	f.Add(uint8(1), uint16(len(files[1])-6), []byte{0xC0, 0x7F}, uint16(0))
	f.Fuzz(func(t *testing.T, which uint8, at uint16, patch []byte, cut uint16) {
		k := int(which % 2)
		data := slices.Clone(files[k])
		patch = patch[:min(len(patch), 1<<16)]
		pos := min(int(at), len(data))
		if which/2%2 == 1 {
			data = slices.Insert(data, pos, patch...)
		} else {
			data = append(data[:pos], append(patch, data[min(pos+len(patch), len(data)):]...)...)
		}
		data = data[:len(data)-min(int(cut), len(data))]
		opts := lowTrainingOptions[k].opts
		r := newLowTrainingFixture[BFloat16](t, opts, 3, 0.5)
		defer r.opt.Close()
		before := r.snapshot(t)
		used, err := allocsOf(func() error { return r.tr.Load(bytes.NewReader(data)) })
		// The model and extra tensors, 2 bytes each, and at most three
		// slots of 4 bytes per element besides the scalars, each twice.
		elems := len(r.teacher)
		for _, m := range r.model {
			elems += len(m.Data)
		}
		if bound := 3*uint64(len(data)) + 2*uint64(14*elems+256*r.opt.Len()) + 8<<20; used > bound {
			t.Fatalf("Load allocated %d bytes, more than %d", used, bound)
		}
		if err != nil {
			if r.snapshot(t) != before {
				t.Fatalf("the failed Load changed the training state: %v", err)
			}
			return
		}
		again := newLowTrainingFixture[BFloat16](t, opts, 5, 0.1)
		defer again.opt.Close()
		if err := again.tr.Load(bytes.NewReader(r.save(t))); err != nil {
			t.Fatalf("what Load accepted saves to a file it rejects: %v", err)
		}
		if again.snapshot(t) != r.snapshot(t) {
			t.Fatal("what Load accepted does not load back the same")
		}
	})
}
