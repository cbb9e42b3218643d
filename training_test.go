package optim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simdoptim/optim/schedule"
)

// trainingFixture is a small training run with every component of a
// Training: a model of an nn.Linear(4, 3) and an nn.LayerNorm(4), AdamW
// over the Linear and SGD with Nesterov momentum over the LayerNorm, two
// schedulers on the optimizer (OneCycleLR cycling the rate and momentum,
// and StepLR), a gradient scaler, an epoch counter and a data order as
// Extra, and a teacher's weights as ExtraTensors.
type trainingFixture[T testFloat] struct {
	model   []Tensor[T]
	opt     *Optimizer[T]
	lr      *schedule.Scheduler
	decay   *schedule.Scheduler
	scaler  *GradScaler
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
		Group[T]{Rule: adamw, Params: [][]T{f.model[0].Data, f.model[1].Data}},
		Group[T]{Rule: sgd, Params: [][]T{f.model[2].Data, f.model[3].Data}},
	)
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
	fmt.Fprintf(&b, "|%+v|%d %v|%x", f.scaler.State(), f.epoch, f.order, asBytes(f.teacher))
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
