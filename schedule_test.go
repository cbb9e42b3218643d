package optim

import (
	"hash/fnv"
	"strings"
	"testing"

	"github.com/simdoptim/optim/schedule"
)

// The schedulers of package schedule driving this package's optimizers.
// The tests of every rule under a schedule live here rather than in package
// schedule, because they iterate over ruleCases, which only this package's
// tests can see.

// wantScheduledDigest is the hash of runs whose learning rate (and
// momentum) a scheduler changes at every step: the rates come from
// internal/detmath, so they and every parameter bit must agree across
// architectures. It is checked natively, at GOAMD64=v3, with -tags noasm
// and on arm64 under qemu by make test.
const wantScheduledDigest = 0xfae82ceaac27a55a

// scheduledConfigs pairs rules with schedules that exercise cos, pow and
// exp, and momentum cycling.
func scheduledConfigs() []struct {
	rule Rule
	spec schedule.Spec
} {
	return []struct {
		rule Rule
		spec schedule.Spec
	}{
		{DefaultAdamW(), schedule.OneCycleLR{MaxLR: []float64{0.01}, TotalSteps: 40, PctStart: 0.3, AnnealStrategy: "cos",
			CycleMomentum: true, BaseMomentum: []float64{0.85}, MaxMomentum: []float64{0.95}, DivFactor: 25, FinalDivFactor: 1e4}},
		{SGD{LR: 0.01, Momentum: 0.9, Nesterov: true}, schedule.CyclicLR{BaseLR: []float64{0.001}, MaxLR: []float64{0.1}, StepSizeUp: 5,
			Mode: "exp_range", Gamma: 0.97, ScaleMode: "cycle", CycleMomentum: true, BaseMomentum: []float64{0.8}, MaxMomentum: []float64{0.9}}},
		{DefaultRMSProp(), schedule.CosineAnnealingWarmRestarts{T0: 5, TMult: 2, EtaMin: 1e-4}},
		{DefaultAdagrad(), schedule.ExponentialLR{Gamma: 0.9}},
		{DefaultAdam(), schedule.PolynomialLR{TotalIters: 20, Power: 1.7}},
		{DefaultAdamW(), schedule.SequentialLR{Schedulers: []schedule.Spec{
			schedule.LinearLR{StartFactor: 0.1, EndFactor: 1, TotalIters: 5}, schedule.CosineAnnealingLR{TMax: 19, EtaMin: 1e-5}},
			Milestones: []int{5}}},
	}
}

func TestScheduledDigest(t *testing.T) {
	d := &digestWriter{h: fnv.New64a()}
	for ci, c := range scheduledConfigs() {
		scheduledRun[float32](t, d, ci, c.rule, c.spec)
		scheduledRun[float64](t, d, ci, c.rule, c.spec)
	}
	got := d.h.Sum64()
	t.Logf("scheduled digest %#x (set %s)", got, ISA())
	if got != wantScheduledDigest {
		t.Errorf("scheduled digest on %s = %#x, want %#x", ISA(), got, uint64(wantScheduledDigest))
	}
}

func scheduledRun[T testFloat](t *testing.T, d *digestWriter, ci int, rule Rule, spec schedule.Spec) {
	params, grads := digestInputs[T](100 + ci)
	opt, err := New[T](rule, params...)
	if err != nil {
		t.Fatal(err)
	}
	s, err := schedule.New(opt, spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range grads {
		if err := opt.Step(g...); err != nil {
			t.Fatal(err)
		}
		if err := s.Step(); err != nil {
			t.Fatal(err)
		}
		for _, lr := range s.LastLR() {
			d.word(bits(lr))
		}
		if m, ok := opt.GroupMomentum(0); ok {
			d.word(bits(m))
		}
	}
	for i := range opt.params {
		digestSlice(d, opt.params[i])
		for _, st := range opt.state[i] {
			digestSlice(d, st)
		}
	}
}

// TestSchedulesCycleMomentum: OneCycleLR and CyclicLR cycle the momentum of
// every rule that has one (the field its row names: SGD's and RMSProp's
// momentum, β1 of the Adam family and Lion) exactly as they cycle Adam's
// β1, as torch's schedulers cycle momentum or betas[0].
func TestSchedulesCycleMomentum(t *testing.T) {
	specs := map[string]schedule.Spec{"OneCycleLR": schedule.DefaultOneCycleLR(0.01, 20), "CyclicLR": func() schedule.Spec {
		c := schedule.DefaultCyclicLR(0.001, 0.01)
		c.StepSizeUp = 4
		return c
	}()}
	for name, spec := range specs {
		for _, c := range ruleCases() {
			if c.momentum == "" {
				continue
			}
			r := c.classes[0].constructor
			ref, _ := New(DefaultAdam(), make([]float32, 2))
			o, err := New(r, make([]float32, 2))
			if err != nil {
				t.Fatal(err)
			}
			sref, err := schedule.New(ref, spec)
			if err != nil {
				t.Fatal(err)
			}
			s, err := schedule.New(o, spec)
			if err != nil {
				t.Fatalf("%s on %s: %v", name, c.name, err)
			}
			changed := false
			for k := range 20 {
				m, ok := o.GroupMomentum(0)
				want, _ := ref.GroupMomentum(0)
				field := reflectField(o.GroupRule(0), c.momentum).(float64)
				if !ok || m != want || field != want || o.GroupLR(0) != ref.GroupLR(0) {
					t.Fatalf("%s on %s, step %d: momentum %v (ok %v), %s %v, lr %v; on Adam %v, lr %v",
						name, c.name, k, m, ok, c.momentum, field, o.GroupLR(0), want, ref.GroupLR(0))
				}
				changed = changed || m != 0.9 && m != 0.95
				if err := s.Step(); err != nil {
					t.Fatal(err)
				}
				if err := sref.Step(); err != nil {
					t.Fatal(err)
				}
			}
			if !changed {
				t.Errorf("%s on %s: the momentum never cycled", name, c.name)
			}
		}
	}
}

// TestScheduleCyclingNeedsMomentum: cycling the momentum of a rule without
// one is an error at schedule.New, as torch raises; without cycling the
// schedule is accepted.
func TestScheduleCyclingNeedsMomentum(t *testing.T) {
	for _, c := range ruleCases() {
		if c.momentum != "" {
			continue
		}
		o, err := New(c.classes[0].constructor, make([]float64, 2))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := schedule.New(o, schedule.DefaultOneCycleLR(0.1, 10)); err == nil || !strings.Contains(err.Error(), "momentum") {
			t.Errorf("OneCycleLR cycling momentum on %s: %v", c.name, err)
		}
		cyc := schedule.DefaultCyclicLR(0.01, 0.1)
		cyc.CycleMomentum = false
		if _, err := schedule.New(o, cyc); err != nil {
			t.Errorf("CyclicLR without momentum on %s: %v", c.name, err)
		}
	}
}
