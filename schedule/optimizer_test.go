package schedule

import (
	"testing"

	"github.com/simdoptim/optim"
)

// The optimizers are the Targets the package is for.
var (
	_ Target = (*optim.Optimizer[float32])(nil)
	_ Target = (*optim.Optimizer[float64])(nil)
)

// TestGoldenThroughOptimizer replays every recorded schedule with a real
// optimizer as the target: SGD with momentum or Adam, one group per
// recorded group, and checks its GroupLR and GroupMomentum after every
// step.
func TestGoldenThroughOptimizer(t *testing.T) {
	files := append(readGolden(t, "../testdata/torch-schedules/*.json"), readGolden(t, "../testdata/torch-schedules/extra/*.json")...)
	for _, g := range files {
		t.Run(g.Name, func(t *testing.T) {
			mom := 0.9
			if g.GroupMomentum != nil {
				mom = *g.GroupMomentum
			}
			var groups []optim.Group[float32]
			for _, lr := range g.GroupLRs {
				var r optim.Rule = optim.SGD{LR: lr, Momentum: mom}
				if g.Optimizer == "Adam" {
					a := optim.DefaultAdam()
					a.LR, a.Beta1 = lr, mom
					r = a
				}
				groups = append(groups, optim.Group[float32]{Rule: r, Params: [][]float32{make([]float32, 3)}})
			}
			o, err := optim.NewGroups(groups...)
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(o, specFor(t, g.Scheduler, g.Args))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			grads := [][]float32{}
			for range g.GroupLRs {
				grads = append(grads, []float32{1, -1, 0.5})
			}
			for k := 0; k <= g.Steps; k++ {
				if k > 0 {
					if err := o.Step(grads...); err != nil {
						t.Fatal(err)
					}
					if g.Metrics != nil {
						err = s.StepMetric(g.Metrics[k-1])
					} else {
						err = s.Step()
					}
					if err != nil {
						if negativeLR(g.LR[k]) {
							// torch's OneCycleLR extrapolates past its last
							// step to a negative rate, which an optimizer
							// refuses (the scheduler rolls the step back).
							return
						}
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
		})
	}
}

func negativeLR(row []float64) bool {
	for _, lr := range row {
		if lr < 0 {
			return true
		}
	}
	return false
}
