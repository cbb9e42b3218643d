package main

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/simdoptim/optim"
	"github.com/simdoptim/optim/schedule"
)

// Figure 6: learning-rate schedules.

// scheduleSteps is the length of every schedule in figure 6.
const scheduleSteps = 200

// namedSchedule is one schedule of figure 6.
type namedSchedule struct {
	name string
	spec schedule.Spec
}

// figureSchedules are torch's common schedulers over scheduleSteps steps
// from a base rate of 0.1, and the warmup then cosine of the training run.
func figureSchedules() []namedSchedule {
	oneCycle := schedule.DefaultOneCycleLR(0.1, scheduleSteps)
	return []namedSchedule{
		{"StepLR (step 50, gamma 0.5)", schedule.StepLR{StepSize: 50, Gamma: 0.5}},
		{"CosineAnnealingLR (T_max 200)", schedule.CosineAnnealingLR{TMax: scheduleSteps}},
		{"CosineAnnealingWarmRestarts (T_0 25, T_mult 2)", schedule.CosineAnnealingWarmRestarts{T0: 25, TMult: 2}},
		{"OneCycleLR (max 0.1, momentum 0.95 to 0.85)", oneCycle},
		{"LinearLR warmup (20 steps), then cosine", warmupCosine(20, scheduleSteps)},
	}
}

// warmupCosine is the schedule of the training run: a linear warmup from
// 1% of the rate over warmup steps, then a cosine down to 0 at total.
func warmupCosine(warmup, total int) schedule.Spec {
	return schedule.SequentialLR{
		Schedulers: []schedule.Spec{
			schedule.LinearLR{StartFactor: 0.01, EndFactor: 1, TotalIters: warmup},
			schedule.CosineAnnealingLR{TMax: total - warmup},
		},
		Milestones: []int{warmup},
	}
}

// scheduleCurves runs a schedule on an SGD optimizer with lr 0.1 and
// momentum 0.9 (the rates a scheduler reads and writes) and returns the
// rate and the momentum in force at each step.
func scheduleCurves(spec schedule.Spec, steps int) (lr, momentum plotter.XYs, err error) {
	opt, err := optim.New[float64](optim.SGD{LR: 0.1, Momentum: 0.9}, make([]float64, 1))
	if err != nil {
		return nil, nil, err
	}
	s, err := schedule.New(opt, spec)
	if err != nil {
		return nil, nil, err
	}
	for i := range steps {
		m, _ := opt.GroupMomentum(0)
		lr = append(lr, plotter.XY{X: float64(i), Y: opt.LR()})
		momentum = append(momentum, plotter.XY{X: float64(i), Y: m})
		if i < steps-1 {
			if err := s.Step(); err != nil {
				return nil, nil, err
			}
		}
	}
	return lr, momentum, nil
}

// schedulesFigure is figure 6.
func schedulesFigure() (*figure, error) {
	f := &figure{name: "6-schedules", width: 1500, height: 640, cols: 2,
		title: fmt.Sprintf("Figure 6. Schedules (package schedule, torch's lr_scheduler) over %d steps, from lr 0.1 and momentum 0.9", scheduleSteps)}
	lrs := newPanel("learning rate", "step", "lr")
	moms := newPanel("momentum (SGD's momentum, Adam's beta1)", "step", "momentum")
	for i, s := range figureSchedules() {
		lr, m, err := scheduleCurves(s.spec, scheduleSteps)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		if err := addLine(lrs, s.name, lr, palette[i], vg.Points(1.6), false); err != nil {
			return nil, err
		}
		if _, cycles := s.spec.(schedule.OneCycleLR); cycles {
			if err := addLine(moms, s.name, m, palette[i], vg.Points(1.6), false); err != nil {
				return nil, err
			}
		} else if i == 0 {
			// The others leave the momentum alone: one line says so.
			if err := addLine(moms, "the others: momentum unchanged", m, color.Gray{0x80}, vg.Points(1.6), true); err != nil {
				return nil, err
			}
		}
	}
	lrs.Y.Min, lrs.Y.Max = 0, 0.15
	moms.Y.Min, moms.Y.Max = 0.8, 1
	for _, p := range []*plot.Plot{lrs, moms} {
		p.X.Tick.Marker = stepTicks(25)
	}
	lrs.Y.Tick.Marker, moms.Y.Tick.Marker = stepTicks(0.025), stepTicks(0.025)
	f.panels = []*plot.Plot{lrs, moms}
	return f, nil
}
