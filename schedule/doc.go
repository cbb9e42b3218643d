// Package schedule implements every learning-rate scheduler of
// torch.optim.lr_scheduler (torch 1.13.1) for a Target such as
// *optim.Optimizer: LambdaLR, MultiplicativeLR, StepLR, MultiStepLR,
// ConstantLR, LinearLR, ExponentialLR, PolynomialLR, CosineAnnealingLR,
// CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR, SequentialLR,
// ChainedScheduler and ReduceLROnPlateau, and torch.optim.swa_utils' SWALR,
// with momentum cycling (SGD and RMSProp momentum, β1 of Adam, NAdam, RAdam,
// Adamax and Lion) where torch cycles it.
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
// # How schedules end
//
// Torch's schedulers compute past a schedule's end what their formulas give,
// and torch's optimizers validate a rate only when they are built. The
// schedules here compute the same values; the optimizer, which validates
// every rate it is given, meets them in two ways.
//
// A value the optimizer cannot step with is held, not refused. OneCycleLR
// allows TotalSteps steps after New, as torch does, and the standard loop
// (an optimizer step, then a scheduler step) takes the last one after its
// last optimizer step: it extrapolates the schedule one step past its end,
// which with AnnealStrategy "linear" is a negative rate (-6.5e-6 at the end
// of the recorded three-phase cycle to MaxLR 0.01 over 120 steps), and a
// momentum that may pass 1. That step succeeds. The optimizer, a Holder, keeps such values:
// GroupLR, GroupMomentum, LastLR and State report torch's values, the
// optimizer's checkpoint saves them (torch's param_groups have them too),
// and the optimizer's Step refuses to use them with an *optim.HeldRateError
// that names the group, the rule as torch names it (AdamW) and the
// scheduler, and changes nothing. Any value a scheduler computes that the
// rule refuses is held the same way (a negative EtaMin, a Gamma whose rate
// outgrows float32): the schedule goes on as torch's does, and the optimizer
// steps again once a value it accepts is set (the scheduler's next step,
// SetGroupLR, SetLR). New alone refuses such values: a schedule whose step 0
// the optimizer cannot use is an error there.
//
// A negative rate within rounding of zero is written as 0. Torch's LinearLR
// from StartFactor 1/3 (its default) to EndFactor 0 computes 1 - 1 with a
// rounding error at its last step and ends at -1.8503717077085945e-20 for a
// rate of 0.001, which torch keeps and steps with. Holding it would stop the
// optimizer at the end of a decay to zero, where torch's loop goes on, and
// inside SequentialLR until the next milestone. Stepping with it, as torch
// does, would need the optimizer to accept a negative rate, which it refuses
// by design. Torch's step with it moves a float32 parameter only where the
// update exceeds half an ulp of the parameter, which takes a parameter below
// about 3e-13 times its update (at a rate of 0.001; the negative rate scales
// with the rate), and its decoupled weight decay rounds to 1: stepping with
// 0 gives torch's parameters everywhere else. So a negative rate of at
// most 2^-40 times the largest of the group's initial rate, its rate before
// the step and, for the cosine schedules, EtaMin (rounding leaves about
// 2^-52 of them; OneCycleLR's true negative is about 1/(the steps of its
// last phase) of its initial rate) is written as 0, and GroupLR and LastLR
// report 0. EtaMin counts because the cosine schedules add it to the rate
// and take it away: inside SequentialLR after a phase that ended at 0, a
// CosineAnnealingLR with EtaMin 0.00125 anneals from 0 up to EtaMin and
// back, and computes -2.4e-17 where the exact rate is 0. The chainable schedulers after it then continue from 0
// where torch continues from the negative rate: their rates differ from
// torch's by that rounding, and one that grows the rate after it reached
// zero (a ChainedScheduler with ExponentialLR of Gamma above 1) stays at 0
// here while torch's goes negative.
//
// # Errors change nothing
//
// A step whose rate or momentum would not be finite (where torch raises, or
// a user's lambda returns NaN), a OneCycleLR step past TotalSteps, or a value
// a target that is not a Holder refuses is a *StepError, which names the
// scheduler and counts the user's calls (1 for the first Step after New), and
// leaves the target and the scheduler as they were.
//
// # Checkpoints
//
// State returns the scheduler's state as plain, JSON-marshalable data;
// Restore loads it into a scheduler built from the same Spec on a target
// with as many groups, and the schedule continues bit for bit. Functions
// (LambdaLR's and MultiplicativeLR's Lambdas, CyclicLR's ScaleFn) cannot be
// saved: the scheduler restored into must be built with the same ones.
// A Scheduler is also a json.Marshaler and json.Unmarshaler (its State, and
// Restore), which is how optim.Training saves it with the rest of a run.
//
// # Differences from torch
//
//   - base_lrs are the target's rates at New. Torch reuses a group's
//     initial_lr set by an earlier scheduler on the same optimizer; here only
//     the schedulers inside one SequentialLR or ChainedScheduler share it.
//   - OneCycleLR keeps max_lr, min_lr and its momenta, and SWALR its
//     swa_lr, in the scheduler rather than in the optimizer's groups, so two
//     of them inside one ChainedScheduler do not see each other's values, as
//     they would in torch.
//   - A negative rate within rounding of zero is 0 (see above).
//   - CyclicLR cycles Adam's β1, as torch releases after 1.13 do; torch 1.13.1
//     refuses Adam with cycle_momentum.
//   - A target without momentum for some group (Adagrad, Adadelta, Rprop,
//     ASGD) with CycleMomentum is an error at New, as torch raises.
package schedule
