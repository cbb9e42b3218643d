package schedule

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/simdoptim/optim"
)

// newOptimizer is AdamW or SGD with momentum over one small parameter per
// group, at the rates given; it returns the parameters too.
func newOptimizer(t *testing.T, adamW bool, lrs ...float64) (*optim.Optimizer[float32], [][]float32) {
	t.Helper()
	var gs []optim.Group[float32]
	var ps [][]float32
	for i, lr := range lrs {
		var r optim.Rule = optim.SGD{LR: lr, Momentum: 0.9}
		if adamW {
			a := optim.DefaultAdamW()
			a.LR = lr
			r = a
		}
		ps = append(ps, []float32{1, -2, 3})
		gs = append(gs, optim.Group[float32]{Rule: r, Params: ps[i:]})
	}
	o, err := optim.NewGroups(gs...)
	if err != nil {
		t.Fatal(err)
	}
	return o, ps
}

// loop is torch's training loop: an optimizer step, then a scheduler step,
// steps times.
func loop(t *testing.T, o *optim.Optimizer[float32], s *Scheduler, steps int) {
	t.Helper()
	grads := make([][]float32, o.Len())
	for i := range grads {
		grads[i] = []float32{0.5, -1, 0.25}
	}
	for k := 1; k <= steps; k++ {
		if err := o.Step(grads...); err != nil {
			t.Fatalf("optimizer step %d: %v", k, err)
		}
		if err := s.Step(); err != nil {
			t.Fatalf("scheduler step %d of %d: %v", k, steps, err)
		}
	}
}

// TestOneCycleLRRunsToItsEnd is the standard OneCycleLR loop, which steps
// the scheduler TotalSteps times: every step succeeds with an optimizer
// attached, and the last one leaves torch's extrapolated rates, negative
// for the linear strategy (the fake target, which takes any finite rate,
// computes them as the golden replays check against torch).
func TestOneCycleLRRunsToItsEnd(t *testing.T) {
	for _, adamW := range []bool{true, false} {
		for _, three := range []bool{true, false} {
			for _, strategy := range []string{"linear", "cos"} {
				t.Run(fmt.Sprintf("adamW=%v/three=%v/%s", adamW, three, strategy), func(t *testing.T) {
					spec := DefaultOneCycleLR(0.01, 100)
					spec.MaxLR = []float64{0.01, 0.002}
					spec.ThreePhase, spec.AnnealStrategy = three, strategy
					o, _ := newOptimizer(t, adamW, 1e-3, 1e-4)
					s, err := New(o, spec)
					if err != nil {
						t.Fatal(err)
					}
					loop(t, o, s, 100)
					fake := newFake([]float64{1e-3, 1e-4}, 0.9)
					sf, err := New(fake, spec)
					if err != nil {
						t.Fatal(err)
					}
					for range 100 {
						if err := sf.Step(); err != nil {
							t.Fatal(err)
						}
					}
					for i := range 2 {
						m, _ := o.GroupMomentum(i)
						if o.GroupLR(i) != fake.lr[i] || m != fake.mom[i] {
							t.Errorf("group %d: lr %v momentum %v, torch's %v %v", i, o.GroupLR(i), m, fake.lr[i], fake.mom[i])
						}
					}
					if strategy == "linear" && !(fake.lr[0] < 0) {
						t.Errorf("the linear schedule ends at %v, not at a negative rate", fake.lr[0])
					}
				})
			}
		}
	}
}

// TestStepErrorCountsCalls: a OneCycleLR stepped once past its end
// reports the user's calls (torch's message counts its constructor's step
// too), names the scheduler, and changes nothing.
func TestStepErrorCountsCalls(t *testing.T) {
	tgt := newFake([]float64{0.1}, 0.9)
	s, err := New(tgt, DefaultOneCycleLR(0.1, 100))
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if err := s.Step(); err != nil {
			t.Fatal(err)
		}
	}
	before := []any{tgt.lr[0], tgt.mom[0], s.State()}
	err = s.Step()
	if err == nil || !strings.Contains(err.Error(), "OneCycleLR") || !strings.Contains(err.Error(), "101") ||
		strings.Contains(err.Error(), "102") || !strings.Contains(err.Error(), "TotalSteps 100") {
		t.Errorf("the 101st step: %v, want an error naming OneCycleLR, call 101 and TotalSteps 100", err)
	}
	var se *StepError
	if !errors.As(err, &se) || se.Step != 101 || se.Spec != "OneCycleLR" || se.Op != "Step" {
		t.Errorf("the 101st step: %#v", err)
	}
	if !reflect.DeepEqual([]any{tgt.lr[0], tgt.mom[0], s.State()}, before) {
		t.Error("the refused step changed something")
	}

	// Inside SequentialLR the error says where the scheduler sits; the
	// call is still the user's.
	s, err = New(tgt, SequentialLR{Schedulers: []Spec{DefaultConstantLR(), DefaultOneCycleLR(0.1, 10)}, Milestones: []int{5}})
	if err != nil {
		t.Fatal(err)
	}
	for range 15 {
		if err := s.Step(); err != nil {
			t.Fatal(err)
		}
	}
	err = s.Step()
	if !errors.As(err, &se) || se.Step != 16 || se.Spec != "SequentialLR.Schedulers[1].OneCycleLR" {
		t.Errorf("SequentialLR's 16th step: %v", err)
	}
}

// TestErrorsSayGroupOnce: a rate the optimizer refuses at New names the
// scheduler and says "group 0" once.
func TestErrorsSayGroupOnce(t *testing.T) {
	o, _ := newOptimizer(t, true, 1e-3)
	_, err := New(o, LambdaLR{Lambdas: []func(int) float64{func(int) float64 { return -1 }}})
	if err == nil || strings.Count(err.Error(), "group 0") != 1 || !strings.Contains(err.Error(), "LambdaLR") {
		t.Errorf("New with a negative rate: %v, want an error naming LambdaLR and group 0 once", err)
	}
	if o.GroupLR(0) != 1e-3 {
		t.Errorf("a refused New changed the rate to %v", o.GroupLR(0))
	}
}

// TestRoundingNegativeNeverWedges: torch's LinearLR from 1/3 to 0 ends at
// -1.85e-17 times the initial rate, the rounding of 0. The schedule writes
// 0 and goes on, alone, inside SequentialLR (whose next phase starts) and
// inside ChainedScheduler, with an optimizer stepped in between; and so
// does a CosineAnnealingLR whose rounding is EtaMin's.
func TestRoundingNegativeNeverWedges(t *testing.T) {
	linear := LinearLR{StartFactor: 1.0 / 3, EndFactor: 0, TotalIters: 4}
	for _, c := range []struct {
		name  string
		spec  Spec
		steps int
		want  float64 // the rate after the last step
	}{
		{"alone", linear, 10, 0},
		{"SequentialLR", SequentialLR{Schedulers: []Spec{linear, DefaultStepLR(2)}, Milestones: []int{7}}, 12, 0.001 * 0.1 * 0.1},
		{"ChainedScheduler", ChainedScheduler{Schedulers: []Spec{linear, ExponentialLR{Gamma: 0.9}}}, 10, 0},
		// From a rate of 0, CosineAnnealingLR anneals up to EtaMin and back
		// down to 0 after 2·TMax steps, which its chainable form computes
		// as -2.4e-17: the rounding of EtaMin's terms, not of the rates.
		{"CosineAnnealingLR from 0", SequentialLR{Schedulers: []Spec{CyclicLR{BaseLR: []float64{0}, MaxLR: []float64{0}, StepSizeUp: 17, Mode: "triangular"}, CosineAnnealingLR{TMax: 26, EtaMin: 0.0012501716639963384}}, Milestones: []int{16}}, 16 + 52, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			o, _ := newOptimizer(t, false, 0.001)
			s, err := New(o, c.spec)
			if err != nil {
				t.Fatal(err)
			}
			loop(t, o, s, c.steps)
			if got := o.GroupLR(0); got != c.want || s.LastLR()[0] != c.want {
				t.Errorf("rate %v, LastLR %v after %d steps, want %v", got, s.LastLR()[0], c.steps, c.want)
			}
		})
	}
}

// TestHeldRate: OneCycleLR's last rate, negative, is held by an AdamW
// optimizer: reported as torch reports it, refused by Step, StepIfFinite
// and ScaledStep with an error naming the group once, AdamW and
// OneCycleLR, with nothing changed; kept through the scheduler's and the
// optimizer's checkpoints; replaced by a valid rate.
func TestHeldRate(t *testing.T) {
	spec := DefaultOneCycleLR(0.01, 100)
	spec.AnnealStrategy, spec.ThreePhase = "linear", true
	o, ps := newOptimizer(t, true, 1e-3, 1e-4)
	s, err := New(o, spec)
	if err != nil {
		t.Fatal(err)
	}
	loop(t, o, s, 100)
	held := o.GroupLR(0)
	if !(held < 0) || s.LastLR()[0] != held {
		t.Fatalf("rate %v, LastLR %v after the last step, want torch's negative rate in both", held, s.LastLR())
	}
	if r := o.GroupRule(0).(optim.Adam); r.LR != held {
		t.Errorf("GroupRule reports LR %v, want the held %v", r.LR, held)
	}
	grads := [][]float32{{1, 1, 1}, {1, 1, 1}}
	before := clone(ps)
	scaler, err := optim.NewGradScaler(optim.DefaultGradScalerConfig())
	if err != nil {
		t.Fatal(err)
	}
	checkHeld := func(o *optim.Optimizer[float32], op string, err error) {
		t.Helper()
		var he *optim.HeldRateError
		if !errors.As(err, &he) || he.Op != op || he.Group != 0 || he.Rule != "AdamW" || he.By != "OneCycleLR" ||
			he.Field != "LR" || he.Value != held {
			t.Fatalf("%s: %v, want a HeldRateError for group 0 (AdamW), LR %v, by OneCycleLR", op, err, held)
		}
		if msg := err.Error(); strings.Count(msg, "group 0") != 1 || !strings.Contains(msg, "AdamW") || !strings.Contains(msg, "OneCycleLR") {
			t.Errorf("%s: message %q", op, msg)
		}
		if !reflect.DeepEqual(ps, before) || !reflect.DeepEqual(grads, [][]float32{{1, 1, 1}, {1, 1, 1}}) {
			t.Fatalf("%s: a refused step changed the parameters or the gradients", op)
		}
	}
	checkHeld(o, "Step", o.Step(grads...))
	_, err = o.StepIfFinite(grads...)
	checkHeld(o, "StepIfFinite", err)
	_, err = optim.ScaledStep(scaler, o, grads...)
	checkHeld(o, "ScaledStep", err)

	// The scheduler's state and the optimizer's checkpoint keep it.
	var buf bytes.Buffer
	if err := o.Save(&buf); err != nil {
		t.Fatal(err)
	}
	st := s.State()
	o2, _ := newOptimizer(t, true, 1e-3, 1e-4)
	if err := o2.Load(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if o2.GroupLR(0) != held || o2.GroupLR(1) != o.GroupLR(1) {
		t.Errorf("loaded rates %v %v, want %v %v", o2.GroupLR(0), o2.GroupLR(1), held, o.GroupLR(1))
	}
	checkHeld(o2, "Step", o2.Step(grads...))
	o3, _ := newOptimizer(t, true, 1e-3, 1e-4)
	s3, err := New(o3, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := s3.Restore(st); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	checkHeld(o3, "Step", o3.Step(grads...))

	// A valid rate ends it: group 1 still holds its own.
	if err := o.SetGroupLR(0, 1e-4); err != nil {
		t.Fatal(err)
	}
	var he *optim.HeldRateError
	if err := o.Step(grads...); !errors.As(err, &he) || he.Group != 1 {
		t.Fatalf("Step with group 1's rate held: %v", err)
	}
	if err := o.SetLR(1e-4); err != nil {
		t.Fatal(err)
	}
	if err := o.Step(grads...); err != nil {
		t.Fatalf("Step after SetLR: %v", err)
	}
}

// TestHeldMomentum: a linear OneCycleLR over few steps extrapolates SGD's
// momentum to 1 at its last step, which SGD refuses: held like a rate.
func TestHeldMomentum(t *testing.T) {
	spec := DefaultOneCycleLR(0.1, 4)
	spec.AnnealStrategy, spec.PctStart = "linear", 0.5
	o, _ := newOptimizer(t, false, 0.1)
	s, err := New(o, spec)
	if err != nil {
		t.Fatal(err)
	}
	loop(t, o, s, 4)
	m, _ := o.GroupMomentum(0)
	if m != 1 || !(o.GroupLR(0) < 0) {
		t.Fatalf("momentum %v, rate %v at the end: torch's are 1.0 and -0.0499994", m, o.GroupLR(0))
	}
	// A valid rate ends the held rate, not the held momentum; a valid
	// momentum ends that.
	if err := o.SetGroupLR(0, 0.01); err != nil {
		t.Fatal(err)
	}
	var he *optim.HeldRateError
	if err := o.Step([]float32{1, 1, 1}); !errors.As(err, &he) || he.Field != "Momentum" || he.Value != 1 || he.Rule != "SGD" {
		t.Errorf("Step with the momentum held: %v", err)
	}
	if err := o.SetGroupMomentum(0, 0.9); err != nil {
		t.Fatal(err)
	}
	if err := o.Step([]float32{1, 1, 1}); err != nil {
		t.Errorf("Step after a valid rate and momentum: %v", err)
	}
}
