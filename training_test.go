package optim

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/simdoptim/optim/internal/safetensors"
	"github.com/simdoptim/optim/schedule"
)

// trainingFixture is a small training run with every component of a
// Training: a model of an nn.Linear(4, 3) and an nn.LayerNorm(4), AdamW
// over the Linear and SGD with Nesterov momentum over the LayerNorm (its
// parameters named as the model's tensors), two schedulers on the
// optimizer (OneCycleLR cycling the rate and momentum, and StepLR), a
// gradient scaler, an EMA of the model, an epoch counter and a data order
// as Extra, and a teacher's weights as ExtraTensors.
type trainingFixture[T testFloat] struct {
	model   []Tensor[T]
	opt     *Optimizer[T]
	lr      *schedule.Scheduler
	decay   *schedule.Scheduler
	scaler  *GradScaler
	ema     *Averaged[T]
	epoch   int
	order   []int
	teacher []T
	tr      *Training[T]
}

// newTrainingFixture builds the run at its start, with weights from seed
// and the rules' rates scaled by lr: a resumed run is built with other
// ones, which Load must replace.
func newTrainingFixture[T testFloat](t testing.TB, seed int, lr float64) *trainingFixture[T] {
	t.Helper()
	f := &trainingFixture[T]{order: []int{3, 1, 4, 1, 5}, teacher: make([]T, 6)}
	shapes := []struct {
		name  string
		shape []int
	}{{"fc.weight", []int{3, 4}}, {"fc.bias", []int{3}}, {"norm.weight", []int{4}}, {"norm.bias", []int{4}}}
	for ti, s := range shapes {
		n := 1
		for _, d := range s.shape {
			n *= d
		}
		data := make([]T, n)
		for i := range data {
			data[i] = T(float64((i*7+ti*3+seed)%11)/8 - 0.6)
		}
		f.model = append(f.model, Tensor[T]{Name: s.name, Data: data, Shape: s.shape})
	}
	adamw := DefaultAdamW()
	adamw.LR *= lr
	sgd := SGD{LR: 0.05 * lr, Momentum: 0.9, Nesterov: true, WeightDecay: 1e-4}
	var err error
	f.opt, err = NewGroups(
		Group[T]{Rule: adamw, Params: [][]T{f.model[0].Data, f.model[1].Data}, Names: []string{"fc.weight", "fc.bias"}},
		Group[T]{Rule: sgd, Params: [][]T{f.model[2].Data, f.model[3].Data}, Names: []string{"norm.weight", "norm.bias"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	// An EMA of the Linear and the LayerNorm's weight, the LayerNorm's
	// bias copied as a buffer.
	f.ema, err = NewAveragedModel(EMA(0.75), Model[T]{
		Params: [][]T{f.model[0].Data, f.model[1].Data, f.model[2].Data}, Names: []string{"fc.weight", "fc.bias", "norm.weight"},
		Buffers: [][]T{f.model[3].Data}, BufferNames: []string{"norm.bias"},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.lr, err = schedule.New(f.opt, schedule.OneCycleLR{MaxLR: []float64{0.01, 0.1}, TotalSteps: 30, PctStart: 0.3,
		AnnealStrategy: "cos", CycleMomentum: true, BaseMomentum: []float64{0.85}, MaxMomentum: []float64{0.95}, DivFactor: 25, FinalDivFactor: 1e4})
	if err != nil {
		t.Fatal(err)
	}
	f.decay, err = schedule.New(f.opt, schedule.StepLR{StepSize: 3, Gamma: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultGradScalerConfig()
	cfg.GrowthInterval = 2
	if f.scaler, err = NewGradScaler(cfg); err != nil {
		t.Fatal(err)
	}
	f.tr = &Training[T]{
		Model:        f.model,
		Optimizer:    f.opt,
		Schedulers:   map[string]Stateful{"lr": f.lr, "decay": f.decay},
		Scaler:       f.scaler,
		Averaged:     f.ema,
		Extra:        map[string]any{"epoch": &f.epoch, "order": &f.order},
		ExtraTensors: []Tensor[T]{{Name: "teacher.fc.bias", Data: f.teacher[:3]}, {Name: "teacher.norm.bias", Data: f.teacher[3:], Shape: []int{1, 3}}},
	}
	return f
}

// step runs training step k: scaled gradients (infinite at some steps, so
// that the scaler skips and backs off), ScaledStep, Update, both
// schedules, the caller's own state.
func (f *trainingFixture[T]) step(t testing.TB, k int) {
	t.Helper()
	s := T(f.scaler.Scale())
	var grads [][]T
	for mi, m := range f.model {
		g := make([]T, len(m.Data))
		for i := range g {
			g[i] = s * (m.Data[i]*T(0.1) + T((i+k+mi)%5) - 2)
		}
		grads = append(grads, g)
	}
	if k%5 == 3 {
		grads[2][1] = T(math.Inf(1))
	}
	if _, err := ScaledStep(f.scaler, f.opt, grads...); err != nil {
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
	f.order = append(f.order[1:], f.order[0]+k)
	for i := range f.teacher {
		f.teacher[i] = f.teacher[i]*T(0.5) + f.model[0].Data[i]
	}
}

// snapshot is everything Load may change, bit for bit.
func (f *trainingFixture[T]) snapshot(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	for _, m := range f.model {
		fmt.Fprintf(&b, "%s:%x|", m.Name, asBytes(m.Data))
	}
	fmt.Fprintf(&b, "%s|", fingerprint(t, f.opt))
	for gi := range f.opt.Groups() {
		m, _ := f.opt.GroupMomentum(gi)
		fmt.Fprintf(&b, "%x %x|", math.Float64bits(f.opt.GroupLR(gi)), math.Float64bits(m))
	}
	for _, s := range []*schedule.Scheduler{f.lr, f.decay} {
		js, err := json.Marshal(s.State())
		if err != nil {
			t.Fatal(err)
		}
		b.Write(js)
	}
	fmt.Fprintf(&b, "|%+v|%d %v|%x|%d", f.scaler.State(), f.epoch, f.order, asBytes(f.teacher), f.ema.NAveraged())
	for _, s := range append(f.ema.Params(), f.ema.Buffers()...) {
		fmt.Fprintf(&b, "|%x", asBytes(s))
	}
	return b.String()
}

func (f *trainingFixture[T]) save(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := f.tr.Save(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// trainedFixture is a fixture after steps steps, and its file.
func trainedFixture[T testFloat](t testing.TB, steps int) (*trainingFixture[T], []byte) {
	t.Helper()
	f := newTrainingFixture[T](t, 0, 1)
	for k := range steps {
		f.step(t, k)
	}
	return f, f.save(t)
}

// trainingLoadFails checks that loading data into f fails, with an error
// that mentions each of want, and changes nothing.
func trainingLoadFails[T testFloat](t *testing.T, what string, f *trainingFixture[T], data []byte, want ...string) *TrainingError {
	t.Helper()
	before := f.snapshot(t)
	var err error
	noPanic(t, what, func() { err = f.tr.Load(bytes.NewReader(data)) })
	if err == nil {
		t.Fatalf("%s: loaded without an error", what)
	}
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
	return te
}

func TestTrainingRoundTrip(t *testing.T) {
	t.Run("float32", testTrainingRoundTrip[float32])
	t.Run("float64", testTrainingRoundTrip[float64])
}

// testTrainingRoundTrip: a file loads every component, bit for bit, into a
// run built with other weights and rates, and saving that gives the same
// bytes.
func testTrainingRoundTrip[T testFloat](t *testing.T) {
	f, data := trainedFixture[T](t, 5)
	r := newTrainingFixture[T](t, 3, 0.5)
	if err := r.tr.Load(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if a, b := r.snapshot(t), f.snapshot(t); a != b {
		t.Fatalf("loaded state differs:\n%s\n%s", a, b)
	}
	if again := r.save(t); !bytes.Equal(again, data) {
		t.Fatal("saving the loaded state gives other bytes")
	}
}

// TestTrainingResume: a run saved halfway and resumed from the file in
// fresh objects (as a new process would build them) ends with the bits of
// the uninterrupted run, and its final file is byte-identical.
func TestTrainingResume(t *testing.T) {
	t.Run("float32", testTrainingResume[float32])
	t.Run("float64", testTrainingResume[float64])
}

func testTrainingResume[T testFloat](t *testing.T) {
	const steps = 14
	dir := t.TempDir()
	whole := newTrainingFixture[T](t, 0, 1)
	for k := range steps {
		whole.step(t, k)
	}
	wholePath := filepath.Join(dir, "whole.safetensors")
	if err := whole.tr.SaveFile(wholePath); err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{1, 7, 13} {
		path := filepath.Join(dir, fmt.Sprintf("at%d.safetensors", at))
		first := newTrainingFixture[T](t, 0, 1)
		for k := range at {
			first.step(t, k)
		}
		if err := first.tr.SaveFile(path); err != nil {
			t.Fatal(err)
		}
		resumed := newTrainingFixture[T](t, 5, 0.1)
		if err := resumed.tr.LoadFile(path); err != nil {
			t.Fatal(err)
		}
		for k := at; k < steps; k++ {
			resumed.step(t, k)
		}
		if a, b := resumed.snapshot(t), whole.snapshot(t); a != b {
			t.Fatalf("resumed at %d: the state differs from the uninterrupted run's:\n%s\n%s", at, a, b)
		}
		end := filepath.Join(dir, fmt.Sprintf("end%d.safetensors", at))
		if err := resumed.tr.SaveFile(end); err != nil {
			t.Fatal(err)
		}
		if a, b := readFile(t, end), readFile(t, wholePath); !bytes.Equal(a, b) {
			t.Fatalf("resumed at %d: the final file differs from the uninterrupted run's", at)
		}
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTrainingTruncated: every prefix of a training file is an error that
// changes nothing, and so is a byte appended.
func TestTrainingTruncated(t *testing.T) {
	_, data := trainedFixture[float32](t, 3)
	r := newTrainingFixture[float32](t, 3, 0.5)
	stride := 1
	if testing.Short() {
		stride = 7
	}
	for n := 0; n < len(data); n += stride {
		trainingLoadFails(t, fmt.Sprintf("truncated to %d of %d bytes", n, len(data)), r, data[:n])
	}
	trainingLoadFails(t, "a byte appended", r, append(slices.Clone(data), 0), "file: data beyond the last tensor")
}

// TestTrainingBitFlips: a flipped bit anywhere in a training file is a
// *TrainingError, and nothing changes: every bit of the header (its
// length, JSON and padding, the checksum's digits included), where each
// is parsed, and a bit of every byte of the data, which only the checksum
// covers.
func TestTrainingBitFlips(t *testing.T) {
	_, data := trainedFixture[float32](t, 3)
	r := newTrainingFixture[float32](t, 3, 0.5)
	before := r.snapshot(t)
	header := 8 * (safetensors.PrefixLen + int(binary.LittleEndian.Uint64(data)))
	stride := 1
	if testing.Short() {
		stride = 7
	}
	bad := slices.Clone(data)
	for bit := 0; bit < 8*len(data); bit += stride {
		if bit >= header && bit%8 != bit/8%8 {
			continue // one bit of each data byte, in every position in turn
		}
		bad[bit/8] ^= 1 << (bit % 8)
		err := r.tr.Load(bytes.NewReader(bad))
		bad[bit/8] ^= 1 << (bit % 8)
		var te *TrainingError
		if !errors.As(err, &te) {
			t.Fatalf("bit %d (byte %d %q) flipped: %v, want a *TrainingError", bit, bit/8, data[bit/8], err)
		}
		if bit%64 != 0 {
			continue // the snapshot costs more than the Load
		}
		if r.snapshot(t) != before {
			t.Fatalf("bit %d flipped: the failed Load changed the training state", bit)
		}
	}
}

// TestTrainingAligned: in a float64 file, every tensor's data starts at a
// multiple of its element size, as safetensors' own writer lays it out.
func TestTrainingAligned(t *testing.T) {
	_, data := trainedFixture[float64](t, 3)
	h, err := safetensors.ReadHeader(bytes.NewReader(data), safetensors.Unlimited(1<<20), nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.Len%8 != 0 {
		t.Fatalf("the data starts at %d", h.Len)
	}
	f32 := 0
	for _, ts := range h.Tensors {
		if ts.Begin%ts.DType.Size() != 0 {
			t.Errorf("tensor %q (%s) starts at %d", ts.Name, ts.DType, ts.Begin)
		}
		if ts.DType == safetensors.F32 {
			f32++
		}
	}
	if f32 == 0 {
		t.Fatal("no F32 tensor (step) in the file: the test tests nothing")
	}
}

// withTraining returns a copy of f's Training, changed by edit.
func withTraining[T testFloat](f *trainingFixture[T], edit func(tr *Training[T])) *Training[T] {
	tr := *f.tr
	tr.Model = slices.Clone(tr.Model)
	tr.ExtraTensors = slices.Clone(tr.ExtraTensors)
	tr.Schedulers = maps.Clone(tr.Schedulers)
	tr.Extra = maps.Clone(tr.Extra)
	edit(&tr)
	return &tr
}

// TestTrainingComponentsMismatch: a file whose components, tensors or
// element type are not the Training's is refused, naming the component,
// and nothing changes; so is a scheduler that refuses its state, after
// the schedulers restored before it are put back.
func TestTrainingComponentsMismatch(t *testing.T) {
	f, data := trainedFixture[float32](t, 4)
	save := func(edit func(tr *Training[float32])) []byte {
		var buf bytes.Buffer
		if err := withTraining(f, edit).Save(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	_, data64 := trainedFixture[float64](t, 2)
	var optFile bytes.Buffer
	if err := f.opt.Save(&optFile); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		file      []byte
		edit      func(r *trainingFixture[float32], tr *Training[float32])
		component string
		want      string
	}{
		{"model tensor missing from the file", data, func(r *trainingFixture[float32], tr *Training[float32]) {
			tr.Model = append(tr.Model, Tensor[float32]{Name: "head.weight", Data: make([]float32, 2)})
		}, "model", `model "head.weight": tensor "head.weight" is missing from the file`},
		{"file tensor not in the model", save(func(tr *Training[float32]) {
			tr.Model = append(tr.Model, Tensor[float32]{Name: "head.weight", Data: make([]float32, 2)})
		}), nil, "model", `tensor "head.weight" is in the file, not in the Model`},
		{"another shape", data, func(r *trainingFixture[float32], tr *Training[float32]) {
			tr.Model[0].Shape = []int{4, 3}
		}, "model", `model "fc.weight": shape [3 4], want [4 3]`},
		{"another length", save(func(tr *Training[float32]) {
			tr.Optimizer = nil
			tr.Model[1] = Tensor[float32]{Name: "fc.bias", Data: make([]float32, 4)}
		}), func(r *trainingFixture[float32], tr *Training[float32]) {
			tr.Model[1].Shape = nil
		}, "model", `model "fc.bias": shape [4]: 4 elements, want 3`},
		{"a model tensor that copies an optimizer parameter", data, func(r *trainingFixture[float32], tr *Training[float32]) {
			tr.Model[1].Data = slices.Clone(tr.Model[1].Data)
		}, "model", `model "fc.bias": the tensor's Data is not the optimizer's parameter 1 of this name`},
		{"an optimizer parameter not in the model", data, func(r *trainingFixture[float32], tr *Training[float32]) {
			tr.Model = tr.Model[:3]
		}, "model", `model "norm.bias": the optimizer's parameter 3 has this name, no Model tensor has it`},
		{"averaged model missing from the file", save(func(tr *Training[float32]) { tr.Averaged = nil }), nil,
			"averaged", `tensor "averaged.module.fc.weight" is missing from the file`},
		{"averaged model not in the Training", data, func(r *trainingFixture[float32], tr *Training[float32]) {
			tr.Averaged = nil
		}, "averaged", `the Training has no Averaged`},
		{"averaged model of other names", data, func(r *trainingFixture[float32], tr *Training[float32]) {
			a, err := NewAveraged(EMA(0.75), r.model[0].Data, r.model[1].Data, r.model[2].Data, r.model[3].Data)
			if err != nil {
				t.Fatal(err)
			}
			tr.Averaged = a
		}, "averaged", `tensor "averaged.module.fc.weight" is in the file, not in the Averaged`},
		{"no Optimizer in the Training", data, func(r *trainingFixture[float32], tr *Training[float32]) {
			tr.Optimizer = nil
		}, "optimizer", "the Training has none"},
		{"no optimizer in the file", save(func(tr *Training[float32]) { tr.Optimizer = nil }), nil,
			"optimizer", `metadata "optimizer.param_groups" is missing`},
		{"another optimizer", data, func(r *trainingFixture[float32], tr *Training[float32]) {
			o, err := New(DefaultAdamW(), r.model[0].Data, r.model[1].Data, r.model[2].Data, r.model[3].Data)
			if err != nil {
				t.Fatal(err)
			}
			tr.Optimizer = o
		}, "optimizer", "the checkpoint has 2 parameter groups, the optimizer 1"},
		{"scheduler missing from the file", save(func(tr *Training[float32]) { delete(tr.Schedulers, "decay") }), nil,
			"scheduler", `scheduler "decay": missing from the file`},
		{"scheduler not in the Training", data, func(r *trainingFixture[float32], tr *Training[float32]) {
			delete(tr.Schedulers, "decay")
		}, "scheduler", `scheduler "decay": in the file, not in the Training's Schedulers`},
		{"a scheduler refuses its state", data, func(r *trainingFixture[float32], tr *Training[float32]) {
			// "decay" is restored first; "lr", a StepLR here, refuses
			// OneCycleLR's state, and "decay" is put back.
			other, err := schedule.New(r.opt, schedule.StepLR{StepSize: 3, Gamma: 0.5})
			if err != nil {
				t.Fatal(err)
			}
			tr.Schedulers["lr"] = other
		}, "scheduler", `scheduler "lr": schedule: state is for "OneCycleLR"`},
		{"scaler missing from the file", save(func(tr *Training[float32]) { tr.Scaler = nil }), nil, "scaler", "scaler: missing from the file"},
		{"scaler not in the Training", data, func(r *trainingFixture[float32], tr *Training[float32]) {
			tr.Scaler = nil
		}, "scaler", "in the file, the Training has no Scaler"},
		{"extra value missing from the file", save(func(tr *Training[float32]) { delete(tr.Extra, "order") }), nil,
			"extra", `extra "order": missing from the file`},
		{"extra value not in the Training", data, func(r *trainingFixture[float32], tr *Training[float32]) {
			delete(tr.Extra, "order")
		}, "extra", `extra "order": in the file, not in the Training's Extra`},
		{"extra value of another type", data, func(r *trainingFixture[float32], tr *Training[float32]) {
			tr.Extra["order"] = new(string)
		}, "extra", `extra "order": json: cannot unmarshal array`},
		{"extra value not a pointer", data, func(r *trainingFixture[float32], tr *Training[float32]) {
			tr.Extra["epoch"] = 3
		}, "extra", "Load decodes into a non-nil pointer, not a int"},
		{"extra tensor missing from the file", data, func(r *trainingFixture[float32], tr *Training[float32]) {
			tr.ExtraTensors = append(tr.ExtraTensors, Tensor[float32]{Name: "ema", Data: make([]float32, 1)})
		}, "extra", `tensor "extra.ema" is missing from the file`},
		{"extra tensor not in the Training", data, func(r *trainingFixture[float32], tr *Training[float32]) {
			tr.ExtraTensors = tr.ExtraTensors[:1]
		}, "extra", `tensor "extra.teacher.norm.bias" is in the file, not in ExtraTensors`},
		{"extra tensor of another shape", data, func(r *trainingFixture[float32], tr *Training[float32]) {
			tr.ExtraTensors[1].Shape = []int{3, 1}
		}, "extra", `extra "teacher.norm.bias": shape [1 3], want [3 1]`},
		{"float64 file", data64, nil, "file", `optim.dtype is "F64", the Training's element type is F32`},
		{"optimizer checkpoint", optFile.Bytes(), nil, "file", `metadata key "optim.rules" is an optimizer checkpoint's`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newTrainingFixture[float32](t, 3, 0.5)
			if c.edit != nil {
				r.tr = withTraining(r, func(tr *Training[float32]) { c.edit(r, tr) })
			}
			te := trainingLoadFails(t, c.name, r, c.file, c.want)
			if te.Component != c.component {
				t.Errorf("component %q, want %q", te.Component, c.component)
			}
		})
	}
	// And the other way round: an optimizer's Load names the training file.
	err := freshSmall(t).Load(bytes.NewReader(data))
	if err == nil || !strings.Contains(err.Error(), "Training.Load reads it") {
		t.Errorf("Optimizer.Load of a training file: %v, want an error that names Training.Load", err)
	}
}

// TestTrainingSaveRefuses: a Training that no file can hold, or whose
// state cannot be encoded, is an error naming the component, and nothing
// is written.
func TestTrainingSaveRefuses(t *testing.T) {
	w := []float32{1, 2, 3, 4}
	for _, c := range []struct {
		name      string
		tr        Training[float32]
		component string
		want      string
	}{
		{"reserved name", Training[float32]{Model: []Tensor[float32]{{Name: "optimizer.w", Data: w}}}, "model", `may not start with "optimizer."`},
		{"reserved extra name", Training[float32]{Model: []Tensor[float32]{{Name: "extra.w", Data: w}}}, "model", `may not start with "extra."`},
		{"two of a name", Training[float32]{Model: []Tensor[float32]{{Name: "w", Data: w}, {Name: "w", Data: w}}}, "model", "two tensors of that name"},
		{"no name", Training[float32]{ExtraTensors: []Tensor[float32]{{Data: w}}}, "extra", "a tensor needs a name"},
		{"shape of other size", Training[float32]{Model: []Tensor[float32]{{Name: "w", Data: w, Shape: []int{3, 2}}}}, "model", "Shape [3 2] for 4 elements"},
		{"negative shape", Training[float32]{Model: []Tensor[float32]{{Name: "w", Data: w, Shape: []int{-2, -2}}}}, "model", "Shape [-2 -2]"},
		{"nil scheduler", Training[float32]{Schedulers: map[string]Stateful{"lr": (*schedule.Scheduler)(nil)}}, "scheduler", "a non-nil value"},
		{"unusable scheduler", Training[float32]{Schedulers: map[string]Stateful{"lr": new(schedule.Scheduler)}}, "scheduler", "not made by New"},
		{"extra that JSON cannot hold", Training[float32]{Extra: map[string]any{"ch": make(chan int)}}, "extra", "unsupported type"},
	} {
		var buf bytes.Buffer
		err := c.tr.Save(&buf)
		var te *TrainingError
		if !errors.As(err, &te) || te.Component != c.component || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a *TrainingError of component %s that mentions %q", c.name, err, c.component, c.want)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: %d bytes written", c.name, buf.Len())
		}
	}
	if err := (&Training[float32]{}).SaveFile(t.TempDir()); err == nil || !strings.Contains(err.Error(), "file: ") || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("SaveFile to a directory: %v", err)
	}
}

// TestTrainingTorchLayout: a file without our metadata, as safetensors'
// save_file writes a torch model's state_dict (with the metadata
// save_model adds, or none), loads the model by name, whatever its
// tensors' order; with torch's optimizer state_dict under optimizer., the
// optimizer too. Such a file cannot hold the components saved as JSON.
func TestTrainingTorchLayout(t *testing.T) {
	w, b := []float32{1, 2, 3, 4, 5, 6}, []float32{-1, -2}
	file := func(meta map[string]string, extra ...torchTensor) []byte {
		return torchFile(meta, append([]torchTensor{
			{"lin.bias", "F32", []int64{2}, f32s(b...)},
			{"lin.weight", "F32", []int64{2, 3}, f32s(w...)},
		}, extra...))
	}
	model := func() []Tensor[float32] {
		return []Tensor[float32]{{Name: "lin.weight", Data: make([]float32, 6), Shape: []int{2, 3}}, {Name: "lin.bias", Data: make([]float32, 2)}}
	}
	for _, meta := range []map[string]string{nil, {"format": "pt"}} {
		tr := Training[float32]{Model: model()}
		if err := tr.Load(bytes.NewReader(file(meta))); err != nil {
			t.Fatalf("metadata %v: %v", meta, err)
		}
		if !slices.Equal(tr.Model[0].Data, w) || !slices.Equal(tr.Model[1].Data, b) {
			t.Fatalf("metadata %v: loaded %v", meta, tr.Model)
		}
	}
	// The optimizer's state_dict, as torch's SGD with momentum saves it.
	groups := `[{"lr":0.1,"momentum":0.9,"dampening":0,"weight_decay":0,"nesterov":false,"maximize":false,"foreach":null,"differentiable":false,"params":[0,1]}]`
	withOpt := file(map[string]string{"optimizer.param_groups": groups},
		torchTensor{"optimizer.state.0.momentum_buffer", "F32", []int64{2, 3}, f32s(6, 5, 4, 3, 2, 1)},
		torchTensor{"optimizer.state.1.momentum_buffer", "F32", []int64{2}, f32s(7, 8)})
	tr := Training[float32]{Model: model()}
	if tr.Optimizer, _ = New(SGD{LR: 0.5, Momentum: 0.5}, tr.Model[0].Data, tr.Model[1].Data); tr.Optimizer == nil {
		t.Fatal("New failed")
	}
	if err := tr.Load(bytes.NewReader(withOpt)); err != nil {
		t.Fatal(err)
	}
	st, err := tr.Optimizer.State(0)
	if err != nil || !slices.Equal(st.MomentumBuffer, []float32{6, 5, 4, 3, 2, 1}) || tr.Optimizer.GroupLR(0) != 0.1 {
		t.Fatalf("optimizer state %v, lr %v (%v)", st.MomentumBuffer, tr.Optimizer.GroupLR(0), err)
	}

	scaler, err := NewGradScaler(DefaultGradScalerConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		tr   Training[float32]
		file []byte
		want string
	}{
		{"a scaler", Training[float32]{Model: model(), Scaler: scaler}, file(nil), "scaler: the file has none"},
		{"a float64 tensor", Training[float32]{Model: model()}, torchFile(nil, []torchTensor{{"lin.bias", "F64", []int64{2}, make([]byte, 16)}, {"lin.weight", "F32", []int64{2, 3}, f32s(w...)}}), `model "lin.bias": dtype F64, want F32`},
		{"other metadata", Training[float32]{Model: model()}, file(map[string]string{"epoch": "3"}), `unknown metadata key "epoch"`},
		{"our optimizer keys", Training[float32]{Model: model(), Optimizer: tr.Optimizer}, file(map[string]string{"optimizer.param_groups": groups, "optimizer.rules": `["SGD"]`}), `a file without the optim.format marker may only have torch's`},
	} {
		err := c.tr.Load(bytes.NewReader(c.file))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error that mentions %q", c.name, err, c.want)
		}
	}
}

// TestTrainingNamedOptimizerModel: with no Model, a named optimizer's
// parameters are the model, saved under their names and loaded back into
// the parameters; an unnamed Averaged's tensors are named by index.
func TestTrainingNamedOptimizerModel(t *testing.T) {
	build := func(w, b []float32) *Training[float32] {
		o, err := NewGroups(Group[float32]{Rule: SGD{LR: 0.1, Momentum: 0.9}, Params: [][]float32{w, b}, Names: []string{"lin.weight", "lin.bias"}})
		if err != nil {
			t.Fatal(err)
		}
		a, err := NewAveraged(SWA(), w, b)
		if err != nil {
			t.Fatal(err)
		}
		return &Training[float32]{Optimizer: o, Averaged: a}
	}
	w, b := []float32{1, 2, 3}, []float32{4}
	saved := build(w, b)
	for range 2 {
		if err := saved.Optimizer.Step([]float32{0.5, -1, 2}, []float32{1}); err != nil {
			t.Fatal(err)
		}
		if err := saved.Averaged.Update(); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := saved.Save(&buf); err != nil {
		t.Fatal(err)
	}
	h, err := safetensors.ReadHeader(bytes.NewReader(buf.Bytes()), safetensors.Unlimited(1<<20), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ts := range h.Tensors {
		names = append(names, ts.Name)
	}
	slices.Sort(names)
	want := []string{"averaged.module.0", "averaged.module.1", "averaged.n_averaged", "lin.bias", "lin.weight",
		"optimizer.state.0.momentum_buffer", "optimizer.state.1.momentum_buffer"}
	if !slices.Equal(names, want) {
		t.Fatalf("tensors %v, want %v", names, want)
	}
	w2, b2 := make([]float32, 3), make([]float32, 1)
	loaded := build(w2, b2)
	if err := loaded.Load(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(w2, w) || !slices.Equal(b2, b) || fingerprint(t, loaded.Optimizer) != fingerprint(t, saved.Optimizer) ||
		loaded.Averaged.NAveraged() != 2 || !slices.Equal(loaded.Averaged.Params()[0], saved.Averaged.Params()[0]) {
		t.Fatal("the state did not round-trip")
	}
}

// TestTrainingAveragedRefused: an averaged model whose count is not one
// Averaged accepts, or whose n_averaged is not a 0-d int64 tensor, is
// refused, and nothing changes.
func TestTrainingAveragedRefused(t *testing.T) {
	for _, c := range []struct {
		name  string
		count torchTensor
		want  string
	}{
		{"negative", torchTensor{"averaged.n_averaged", "I64", []int64{}, binary.LittleEndian.AppendUint64(nil, 1<<63)}, "n_averaged = -9223372036854775808"},
		{"the largest", torchTensor{"averaged.n_averaged", "I64", []int64{}, binary.LittleEndian.AppendUint64(nil, math.MaxInt64)}, "want a count in"},
		{"float", torchTensor{"averaged.n_averaged", "F64", []int64{}, make([]byte, 8)}, "dtype F64, shape [], want a 0-d I64 tensor"},
		{"1-d", torchTensor{"averaged.n_averaged", "I64", []int64{1}, make([]byte, 8)}, "dtype I64, shape [1], want a 0-d I64 tensor"},
	} {
		w := []float32{1, 2}
		a, err := NewAveragedModel(SWA(), Model[float32]{Params: [][]float32{w}, Names: []string{"w"}})
		if err != nil {
			t.Fatal(err)
		}
		tr := Training[float32]{Model: []Tensor[float32]{{Name: "w", Data: w}}, Averaged: a}
		file := torchFile(nil, []torchTensor{c.count, {"averaged.module.w", "F32", []int64{2}, f32s(5, 6)}, {"w", "F32", []int64{2}, f32s(7, 8)}})
		err = tr.Load(bytes.NewReader(file))
		var te *TrainingError
		if !errors.As(err, &te) || te.Component != "averaged" || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an averaged error that mentions %q", c.name, err, c.want)
		}
		if !slices.Equal(w, []float32{1, 2}) || a.NAveraged() != 0 || !slices.Equal(a.Params()[0], []float32{1, 2}) {
			t.Errorf("%s: the failed Load changed the model or the average", c.name)
		}
	}
}

// TestTrainingHeldRate: a OneCycleLR run to its end, whose last rate the
// optimizer holds (torch's extrapolation, which SGD refuses), saves and
// loads with the held rate: the file names it in optimizer.held, the
// loaded optimizer refuses a step as the saved one does, and saves the
// same file.
func TestTrainingHeldRate(t *testing.T) {
	build := func() (*Training[float32], *schedule.Scheduler) {
		o, err := NewGroups(Group[float32]{Rule: SGD{LR: 0.1, Momentum: 0.9}, Params: [][]float32{{1, 2, 3}}, Names: []string{"w"}})
		if err != nil {
			t.Fatal(err)
		}
		spec := schedule.DefaultOneCycleLR(0.1, 4)
		spec.AnnealStrategy = "linear"
		s, err := schedule.New(o, spec)
		if err != nil {
			t.Fatal(err)
		}
		return &Training[float32]{Optimizer: o, Schedulers: map[string]Stateful{"lr": s}}, s
	}
	saved, s := build()
	for range 4 {
		if err := saved.Optimizer.Step([]float32{0.5, 0.5, 0.5}); err != nil {
			t.Fatal(err)
		}
		if err := s.Step(); err != nil {
			t.Fatal(err)
		}
	}
	if saved.Optimizer.GroupLR(0) >= 0 {
		t.Fatalf("lr %v at the schedule's end: the test tests nothing", saved.Optimizer.GroupLR(0))
	}
	var buf bytes.Buffer
	if err := saved.Save(&buf); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	if !bytes.Contains(data, []byte(`"optimizer.held"`)) {
		t.Error("the file has no optimizer.held")
	}
	loaded, _ := build()
	if err := loaded.Load(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if a, b := loaded.Optimizer.GroupLR(0), saved.Optimizer.GroupLR(0); a != b {
		t.Errorf("loaded lr %v, saved %v", a, b)
	}
	e1, e2 := saved.Optimizer.Step([]float32{1, 1, 1}), loaded.Optimizer.Step([]float32{1, 1, 1})
	if e1 == nil || e2 == nil || e1.Error() != e2.Error() {
		t.Errorf("Step: %v, after Load: %v", e1, e2)
	}
	buf.Reset()
	if err := loaded.Save(&buf); err != nil || !bytes.Equal(buf.Bytes(), data) {
		t.Errorf("the loaded state saves another file (%v)", err)
	}
}
