package schedule

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/simdoptim/optim"
)

// The optimizers are the Targets the package is for.
var (
	_ Target = (*optim.Optimizer[float32])(nil)
	_ Target = (*optim.Optimizer[float64])(nil)
)

// TestGoldenThroughOptimizer replays every recorded schedule with a real
// optimizer as the target, stepped between the scheduler's steps as torch's
// loop steps it: SGD with momentum or Adam, one group per recorded group.
// It checks GroupLR and GroupMomentum after every step, to the end: torch's
// OneCycleLR extrapolates its last step to a negative rate
// (onecycle_linear_adam_3phase), which the optimizer holds, reports, and
// refuses to step with, changing nothing.
func TestGoldenThroughOptimizer(t *testing.T) {
	for _, g := range allGolden(t) {
		t.Run(g.Name, func(t *testing.T) {
			mom := 0.9
			if g.GroupMomentum != nil {
				mom = *g.GroupMomentum
			}
			var groups []optim.Group[float32]
			var ps [][]float32
			for _, lr := range g.GroupLRs {
				var r optim.Rule = optim.SGD{LR: lr, Momentum: mom}
				if g.Optimizer == "Adam" {
					a := optim.DefaultAdam()
					a.LR, a.Beta1 = lr, mom
					r = a
				}
				ps = append(ps, make([]float32, 3))
				groups = append(groups, optim.Group[float32]{Rule: r, Params: ps[len(ps)-1:]})
			}
			o, err := optim.NewGroups(groups...)
			if err != nil {
				t.Fatal(err)
			}
			r := newRun(t, g, o)
			grads := [][]float32{}
			for range g.GroupLRs {
				grads = append(grads, []float32{1, -1, 0.5})
			}
			for k := 0; k <= g.Steps; k++ {
				if k > 0 {
					if err := o.Step(grads...); err != nil {
						t.Fatalf("step %d: %v", k, err)
					}
					if err := r.step(k); err != nil {
						t.Fatalf("step %d: %v", k, err)
					}
				}
				for i := range g.GroupLRs {
					m, _ := o.GroupMomentum(i)
					if !close12(o.GroupLR(i), g.LR[k][i]) || !close12(m, g.Momentum[k][i]) {
						t.Fatalf("step %d group %d: lr %v momentum %v, torch %v %v", k, i, o.GroupLR(i), m, g.LR[k][i], g.Momentum[k][i])
					}
				}
			}
			last := g.LR[g.Steps]
			held := slices.IndexFunc(last, func(lr float64) bool { return lr < 0 })
			if held < 0 {
				if err := o.Step(grads...); err != nil {
					t.Fatalf("a step after the schedule's end: %v", err)
				}
				return
			}
			before := clone(ps)
			err = o.Step(grads...)
			var he *optim.HeldRateError
			if !errors.As(err, &he) || he.Group != held || he.Rule != g.Optimizer || he.Field != "LR" ||
				he.Value != o.GroupLR(held) || he.By != g.Scheduler {
				t.Fatalf("a step with the held rate %v: %v, want a HeldRateError for group %d, %s, %s", last, err, held, g.Optimizer, g.Scheduler)
			}
			if !reflect.DeepEqual(ps, before) {
				t.Fatal("a refused step changed the parameters")
			}
		})
	}
}

func clone(ps [][]float32) [][]float32 {
	out := make([][]float32, len(ps))
	for i, p := range ps {
		out[i] = slices.Clone(p)
	}
	return out
}
