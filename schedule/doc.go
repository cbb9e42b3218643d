// Package schedule implements every learning-rate scheduler of
// torch.optim.lr_scheduler (torch 1.13.1) for a Target such as
// *optim.Optimizer: LambdaLR, MultiplicativeLR, StepLR, MultiStepLR,
// ConstantLR, LinearLR, ExponentialLR, PolynomialLR, CosineAnnealingLR,
// CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR, SequentialLR,
// ChainedScheduler and ReduceLROnPlateau, with momentum cycling (SGD and
// RMSProp momentum, β1 of Adam, NAdam, RAdam, Adamax and Lion) where torch
// cycles it.
//
//	sched, err := schedule.New(opt, schedule.SequentialLR{
//		Schedulers: []schedule.Spec{
//			schedule.LinearLR{StartFactor: 0.01, EndFactor: 1, TotalIters: 5},
//			schedule.CosineAnnealingLR{TMax: 95},
//		},
//		Milestones: []int{5},
//	})
//	for epoch := range 100 {
//		train(opt)        // opt.Step(grads...) per batch
//		err = sched.Step() // torch's scheduler.step()
//	}
//
// # Torch's semantics and arithmetic
//
// New does what torch's constructor does, including the initial step that
// sets the rates of step 0. Each Step follows torch's get_lr: the chainable
// form (the new rate is computed from the rate the optimizer holds) where
// torch uses it, the closed form where it does; SequentialLR's step(0) at a
// milestone uses the closed forms, as torch's does. Every value is computed
// in float64 (Python's float) with torch's operations in torch's order, so
// schedules agree with torch to a few units in the last place (the recorded
// golden schedules in testdata/torch-schedules are met within a relative
// 1e-12). Torch's epoch argument of step() is not offered.
//
// # The same bits on every CPU
//
// A schedule's rate feeds every kernel, so it has the same bits on amd64 and
// arm64: cos and pow come from internal/detmath (pure Go, never math.Cos or
// math.Pow, whose bits differ between architectures), and explicit float64
// conversions keep the compiler from fusing a product into a sum.
//
// # Specs and defaults
//
// Specs are values named after torch's classes, with torch's arguments as
// fields. As with the optimizer's rules, a field means exactly its value:
// start from the Default* constructors (DefaultStepLR, DefaultConstantLR,
// DefaultCyclicLR, DefaultOneCycleLR, DefaultReduceLROnPlateau, ...) for
// torch's defaults. A per-group slice with one value applies to every group,
// as a scalar does in torch. Invalid arguments — torch's checks, NaN and Inf,
// and values with which torch would fail at a later step — are an *ArgError
// at New naming the spec, field, value and allowed range.
//
// # Errors change nothing
//
// A step whose rate or momentum would not be finite (where torch raises, or
// a user's lambda returns NaN), a OneCycleLR step past TotalSteps, or a rate
// the target refuses is an error, and leaves the target and the scheduler as
// they were.
//
// # Checkpoints
//
// State returns the scheduler's state as plain, JSON-marshalable data;
// Restore loads it into a scheduler built from the same Spec on a target
// with as many groups, and the schedule continues bit for bit. Functions
// (LambdaLR's and MultiplicativeLR's Lambdas, CyclicLR's ScaleFn) cannot be
// saved: the scheduler restored into must be built with the same ones.
//
// # Differences from torch
//
//   - base_lrs are the target's rates at New. Torch reuses a group's
//     initial_lr set by an earlier scheduler on the same optimizer; here only
//     the schedulers inside one SequentialLR or ChainedScheduler share it.
//   - OneCycleLR keeps max_lr, min_lr and its momenta in the scheduler
//     rather than in the optimizer's groups, so two OneCycleLR inside one
//     ChainedScheduler do not see each other's values, as they would in torch.
//   - CyclicLR cycles Adam's β1, as torch releases after 1.13 do; torch 1.13.1
//     refuses Adam with cycle_momentum.
//   - A target without momentum for some group (Adagrad, Adadelta, Rprop,
//     ASGD) with CycleMomentum is an error at New, as torch raises.
package schedule
