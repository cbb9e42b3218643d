package optim

import (
	"hash/fnv"
	"testing"

	"github.com/simdoptim/optim/schedule"
)

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
