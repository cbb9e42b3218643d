package optim_test

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
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

// TestStateKeptWhileUnusedSurvivesRoundTrips: a state slice that the rule
// stops using (SGD's momentum_buffer when Momentum goes to 0, Adam's
// max_exp_avg_sq when AMSGrad is turned off, RMSProp's grad_avg when it
// stops being centered) is kept, as torch keeps it, and used again when the
// option comes back. Save and Load, and State and SetState, carry it, so
// that toggling the option off, saving, loading and toggling it on again
// ends bit for bit where the uninterrupted run does.
func TestStateKeptWhileUnusedSurvivesRoundTrips(t *testing.T) {
	sgdOn := optim.SGD{LR: 0.1, Momentum: 0.9}
	sgdOff := sgdOn
	sgdOff.Momentum = 0
	amsOn := optim.DefaultAdam()
	amsOn.AMSGrad = true
	amsOff := optim.DefaultAdam()
	centered := optim.DefaultRMSProp()
	centered.Centered = true
	plain := optim.DefaultRMSProp()
	// Large early gradients, so that AMSGrad's maximum differs from the
	// square average it would restart from.
	grad := func(s int) []float32 {
		scale := float32(1)
		if s < 3 {
			scale = 10
		}
		return []float32{scale * (float32(s%3) - 1), scale * 0.5 / float32(s+1), float32(s) * 0.25}
	}
	for _, c := range []struct {
		name    string
		on, off optim.Rule
	}{{"SGD momentum", sgdOn, sgdOff}, {"Adam AMSGrad", amsOn, amsOff}, {"RMSProp centered", centered, plain}} {
		// run steps: 3 with the option on, 2 with it off, then mid (a
		// round trip through it) and 3 more with it on.
		run := func(t *testing.T, mid func(o *optim.Optimizer[float32], p []float32) *optim.Optimizer[float32]) []float32 {
			p := []float32{1, -2, 3}
			o, err := optim.New(c.on, p)
			if err != nil {
				t.Fatal(err)
			}
			for s := range 5 {
				if s == 3 {
					if err := o.SetGroupRule(0, c.off); err != nil {
						t.Fatal(err)
					}
				}
				if err := o.Step(grad(s)); err != nil {
					t.Fatal(err)
				}
			}
			o = mid(o, p)
			if err := o.SetGroupRule(0, c.on); err != nil {
				t.Fatal(err)
			}
			for s := 5; s < 8; s++ {
				if err := o.Step(grad(s)); err != nil {
					t.Fatal(err)
				}
			}
			st, _ := o.State(0)
			return slices.Concat(p, st.MomentumBuffer, st.MaxExpAvgSq, st.GradAvg)
		}
		t.Run(c.name, func(t *testing.T) {
			want := run(t, func(o *optim.Optimizer[float32], _ []float32) *optim.Optimizer[float32] { return o })
			fresh := func(t *testing.T, p []float32) *optim.Optimizer[float32] {
				n, err := optim.New(c.off, p)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			saved := run(t, func(o *optim.Optimizer[float32], p []float32) *optim.Optimizer[float32] {
				var buf bytes.Buffer
				if err := o.Save(&buf); err != nil {
					t.Fatal(err)
				}
				n := fresh(t, p)
				if err := n.Load(&buf); err != nil {
					t.Fatal(err)
				}
				return n
			})
			set := run(t, func(o *optim.Optimizer[float32], p []float32) *optim.Optimizer[float32] {
				st, err := o.State(0)
				if err != nil {
					t.Fatal(err)
				}
				n := fresh(t, p)
				if err := n.SetState(0, st); err != nil {
					t.Fatal(err)
				}
				return n
			})
			for name, got := range map[string][]float32{"Save/Load": saved, "State/SetState": set} {
				if !slices.Equal(got, want) {
					t.Errorf("%s: params and kept state %v, uninterrupted %v", name, got, want)
				}
			}
		})
	}
}

// TestKeptStateDroppedWhenAbsent: loading a file without a kept slice, or
// SetState with it nil, drops it: the optimizer then equals the file.
func TestKeptStateDroppedWhenAbsent(t *testing.T) {
	on := optim.SGD{LR: 0.1, Momentum: 0.9}
	off := on
	off.Momentum = 0
	kept := func(t *testing.T) *optim.Optimizer[float32] {
		o, err := optim.New(on, []float32{1, 2})
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Step([]float32{1, 1}); err != nil {
			t.Fatal(err)
		}
		if err := o.SetGroupRule(0, off); err != nil {
			t.Fatal(err)
		}
		if st, _ := o.State(0); st.MomentumBuffer == nil {
			t.Fatal("the buffer was not kept")
		}
		return o
	}
	plain, err := optim.New(off, []float32{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := plain.Save(&buf); err != nil {
		t.Fatal(err)
	}
	o := kept(t)
	if err := o.Load(&buf); err != nil {
		t.Fatal(err)
	}
	if st, _ := o.State(0); st.MomentumBuffer != nil {
		t.Errorf("Load of a file without the buffer kept it: %v", st.MomentumBuffer)
	}
	o = kept(t)
	if err := o.SetState(0, optim.State[float32]{}); err != nil {
		t.Fatal(err)
	}
	if st, _ := o.State(0); st.MomentumBuffer != nil {
		t.Errorf("SetState with a nil buffer kept it: %v", st.MomentumBuffer)
	}
	// The dropped memory is no longer the optimizer's: a gradient there is
	// not an overlap.
	if err := o.Step([]float32{1, 1}); err != nil {
		t.Fatal(err)
	}
}
