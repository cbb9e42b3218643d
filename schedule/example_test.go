package schedule_test

import (
	"encoding/json"
	"fmt"

	"github.com/simdoptim/optim"
	"github.com/simdoptim/optim/schedule"
)

// groupsLR stands in for an *optim.Optimizer: one rate and one momentum per
// parameter group.
type groupsLR struct{ lr, momentum []float64 }

func (g *groupsLR) Groups() int                             { return len(g.lr) }
func (g *groupsLR) GroupLR(i int) float64                   { return g.lr[i] }
func (g *groupsLR) SetGroupLR(i int, lr float64) error      { g.lr[i] = lr; return nil }
func (g *groupsLR) GroupMomentum(i int) (float64, bool)     { return g.momentum[i], true }
func (g *groupsLR) SetGroupMomentum(i int, m float64) error { g.momentum[i] = m; return nil }

// A training loop with a linear warmup over 3 epochs, then cosine annealing
// over the remaining 7: torch's SequentialLR of LinearLR and
// CosineAnnealingLR. The rates printed are torch 1.13.1's.
func Example() {
	opt := &groupsLR{lr: []float64{0.1}, momentum: []float64{0.9}} // the optimizer
	warmup := schedule.LinearLR{StartFactor: 0.1, EndFactor: 1, TotalIters: 3}
	cosine := schedule.CosineAnnealingLR{TMax: 7, EtaMin: 0.001}
	sched, err := schedule.New(opt, schedule.SequentialLR{
		Schedulers: []schedule.Spec{warmup, cosine},
		Milestones: []int{3},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for epoch := range 10 {
		fmt.Printf("epoch %d: lr %.5f\n", epoch, opt.GroupLR(0))
		// ... opt.Step(grads...) for every batch ...
		if err := sched.Step(); err != nil {
			fmt.Println(err)
			return
		}
	}
	// Output:
	// epoch 0: lr 0.01000
	// epoch 1: lr 0.04000
	// epoch 2: lr 0.07000
	// epoch 3: lr 0.10000
	// epoch 4: lr 0.09510
	// epoch 5: lr 0.08136
	// epoch 6: lr 0.06151
	// epoch 7: lr 0.03949
	// epoch 8: lr 0.01964
	// epoch 9: lr 0.00590
}

// A checkpoint saves the scheduler's state with the model; a restarted run
// builds the same scheduler and restores it, and the schedule continues
// where it was, bit for bit.
func ExampleScheduler_State() {
	opt := &groupsLR{lr: []float64{0.1}, momentum: []float64{0.9}}
	spec := schedule.DefaultStepLR(2) // Gamma 0.1
	sched, _ := schedule.New(opt, spec)
	for range 3 {
		_ = sched.Step()
	}
	saved, _ := json.Marshal(sched.State())
	fmt.Println(string(saved))

	// After a restart: a fresh optimizer and the same spec.
	opt = &groupsLR{lr: []float64{0.1}, momentum: []float64{0.9}}
	sched, _ = schedule.New(opt, spec)
	var st schedule.State
	_ = json.Unmarshal(saved, &st)
	if err := sched.Restore(st); err != nil {
		fmt.Println(err)
		return
	}
	_ = sched.Step()
	fmt.Printf("%.4f\n", sched.LastLR())
	// Output:
	// {"kind":"StepLR","group_lr":[0.010000000000000002],"last_lr":[0.010000000000000002],"initial_lr":[0.1],"last_epoch":3,"step_count":4,"base_lrs":[0.1]}
	// [0.0010]
}

// torch's OneCycleLR loop runs to its end: the TotalSteps-th step, after the
// last optimizer step, extrapolates to a negative rate, torch 1.13.1's to
// the bit. The optimizer holds it and refuses to step with it; nothing else
// fails.
func ExampleOneCycleLR() {
	weights := make([]float32, 4)
	rule := optim.DefaultAdamW()
	opt, err := optim.New(rule, weights)
	if err != nil {
		panic(err)
	}
	spec := schedule.DefaultOneCycleLR(0.01, 100)
	spec.AnnealStrategy = "linear"
	sched, err := schedule.New(opt, spec)
	if err != nil {
		panic(err)
	}
	grad := []float32{0.1, -0.2, 0.3, -0.4}
	for range 100 {
		if err := opt.Step(grad); err != nil {
			panic(err)
		}
		if err := sched.Step(); err != nil {
			panic(err)
		}
	}
	fmt.Printf("lr after the last step: %.4g\n", opt.GroupLR(0))
	fmt.Println(opt.Step(grad))
	// Output:
	// lr after the last step: -0.0001428
	// optim: Step: group 0 (AdamW) holds LR = -0.0001428165714285716, set by OneCycleLR, which it cannot step with (want a finite value >= 0): set a value it accepts before stepping; nothing was changed
}
