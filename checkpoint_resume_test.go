package optim_test

import (
	"encoding/json"
	"math"
	"path/filepath"
	"testing"

	"github.com/simdoptim/optim"
	"github.com/simdoptim/optim/schedule"
)

// trainingRun is a whole training state: an optimizer with two groups, a
// scheduler cycling the learning rate and β1, and a gradient scaler.
type trainingRun struct {
	params [][]float32
	opt    *optim.Optimizer[float32]
	sched  *schedule.Scheduler
	scaler *optim.GradScaler
}

func newTrainingRun(t *testing.T, lr float64) *trainingRun {
	t.Helper()
	r := &trainingRun{params: [][]float32{make([]float32, 50), make([]float32, 7)}}
	for i := range r.params[0] {
		r.params[0][i] = float32(i%9) - 4
	}
	decay := optim.DefaultAdamW()
	decay.LR = lr
	noDecay := decay
	noDecay.WeightDecay = 0
	var err error
	r.opt, err = optim.NewGroups(optim.Group[float32]{Rule: decay, Params: r.params[:1]}, optim.Group[float32]{Rule: noDecay, Params: r.params[1:]})
	if err != nil {
		t.Fatal(err)
	}
	r.sched, err = schedule.New(r.opt, schedule.OneCycleLR{MaxLR: []float64{0.05, 0.01}, TotalSteps: 20, PctStart: 0.3,
		AnnealStrategy: "cos", CycleMomentum: true, BaseMomentum: []float64{0.85}, MaxMomentum: []float64{0.95}, DivFactor: 25, FinalDivFactor: 1e4})
	if err != nil {
		t.Fatal(err)
	}
	cfg := optim.DefaultGradScalerConfig()
	cfg.GrowthInterval = 3
	r.scaler, err = optim.NewGradScaler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// step runs training step k: scaled gradients (infinite at some steps, so
// that the scaler skips and backs off), ScaledStep, Update, the schedule.
func (r *trainingRun) step(t *testing.T, k int) {
	t.Helper()
	s := float32(r.scaler.Scale())
	var grads [][]float32
	for pi, p := range r.params {
		g := make([]float32, len(p))
		for i := range g {
			g[i] = s * (p[i]*0.1 + float32((i+k+pi)%5) - 2)
		}
		grads = append(grads, g)
	}
	if k%7 == 4 {
		grads[1][2] = float32(math.Inf(1))
	}
	if _, err := optim.ScaledStep(r.scaler, r.opt, grads...); err != nil {
		t.Fatal(err)
	}
	r.scaler.Update()
	if err := r.sched.Step(); err != nil {
		t.Fatal(err)
	}
}

// save writes the optimizer with the scheduler's and the scaler's state in
// the same file.
func (r *trainingRun) save(t *testing.T, path string) {
	sched, err := json.Marshal(r.sched.State())
	if err != nil {
		t.Fatal(err)
	}
	scaler, err := json.Marshal(r.scaler.State())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.opt.SaveFileWith(path, map[string]json.RawMessage{"scheduler": sched, "scaler": scaler}); err != nil {
		t.Fatal(err)
	}
}

// load restores all three: the file is verified and the extras decoded
// before anything changes; the scheduler and scaler are restored after
// the optimizer.
func (r *trainingRun) load(t *testing.T, path string) {
	var sched schedule.State
	var scaler optim.GradScalerState
	err := r.opt.LoadFileWith(path, func(extra map[string]json.RawMessage) error {
		if err := json.Unmarshal(extra["scheduler"], &sched); err != nil {
			return err
		}
		return json.Unmarshal(extra["scaler"], &scaler)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.sched.Restore(sched); err != nil {
		t.Fatal(err)
	}
	if err := r.scaler.Restore(scaler); err != nil {
		t.Fatal(err)
	}
}

// TestResumeWholeTrainingState saves at step k and resumes in fresh
// objects (as a new process would, with another initial rate): every
// parameter, state, rate, momentum and scale continues with the bits of the
// uninterrupted run. make test runs it under every kernel set.
func TestResumeWholeTrainingState(t *testing.T) {
	const steps = 18
	whole := newTrainingRun(t, 1e-3)
	for k := range steps {
		whole.step(t, k)
	}
	for _, at := range []int{1, 5, 11} {
		path := filepath.Join(t.TempDir(), "ckpt.safetensors")
		first := newTrainingRun(t, 1e-3)
		for k := range at {
			first.step(t, k)
		}
		first.save(t, path)
		resumed := newTrainingRun(t, 0.5)
		for i := range resumed.params {
			copy(resumed.params[i], first.params[i]) // the model's own checkpoint
		}
		resumed.load(t, path)
		for k := at; k < steps; k++ {
			resumed.step(t, k)
		}
		for i := range whole.params {
			for j := range whole.params[i] {
				if math.Float32bits(resumed.params[i][j]) != math.Float32bits(whole.params[i][j]) {
					t.Fatalf("resumed at %d: param %d[%d] = %v, uninterrupted %v", at, i, j, resumed.params[i][j], whole.params[i][j])
				}
			}
			a, _ := resumed.opt.State(i)
			b, _ := whole.opt.State(i)
			if a.Step != b.Step {
				t.Fatalf("resumed at %d: step %d vs %d", at, a.Step, b.Step)
			}
			for j := range b.ExpAvgSq {
				if a.ExpAvg[j] != b.ExpAvg[j] || a.ExpAvgSq[j] != b.ExpAvgSq[j] {
					t.Fatalf("resumed at %d: state of param %d differs at %d", at, i, j)
				}
			}
		}
		for g := range 2 {
			ma, _ := resumed.opt.GroupMomentum(g)
			mb, _ := whole.opt.GroupMomentum(g)
			if resumed.opt.GroupLR(g) != whole.opt.GroupLR(g) || ma != mb {
				t.Fatalf("resumed at %d: group %d lr %v β1 %v, uninterrupted %v %v", at, g, resumed.opt.GroupLR(g), ma, whole.opt.GroupLR(g), mb)
			}
		}
		if resumed.scaler.Scale() != whole.scaler.Scale() || resumed.scaler.State() != whole.scaler.State() {
			t.Fatalf("resumed at %d: scaler %+v, uninterrupted %+v", at, resumed.scaler.State(), whole.scaler.State())
		}
	}
}
