package schedule

// The specs: one value type per torch.optim.lr_scheduler class, with the
// class's arguments as fields. A field means exactly its value, as the
// optimizer's rules do; the Default* constructors give torch's defaults.
// Slices with one value per parameter group accept a single value, which
// applies to every group, as a scalar does in torch.

// Spec is a scheduler's configuration: one of the types of this package named
// after torch's classes.
type Spec interface {
	// kind is torch's class name.
	kind() string
	// validate checks the arguments for a target with the given number of
	// groups, before anything is built.
	validate(groups int) error
	// build constructs the scheduler on the shadow groups, doing torch's
	// constructor's side effects and initial step.
	build(g *groups) (node, error)
}

// LambdaLR sets each group's rate to its initial rate times Lambdas(epoch).
// A scheduler with lambdas cannot be saved whole: State records its epoch,
// and Restore needs a scheduler built with the same functions.
type LambdaLR struct {
	Lambdas []func(epoch int) float64 // one per group, or one for all
}

// MultiplicativeLR multiplies each group's rate by Lambdas(epoch) at every
// step after the first. Like LambdaLR, its functions are not part of State.
type MultiplicativeLR struct {
	Lambdas []func(epoch int) float64 // one per group, or one for all
}

// StepLR multiplies the rate by Gamma every StepSize steps.
type StepLR struct {
	StepSize int     // torch's step_size; >= 1
	Gamma    float64 // torch's gamma (default 0.1); finite, >= 0
}

// DefaultStepLR returns StepLR with torch's default Gamma 0.1.
func DefaultStepLR(stepSize int) StepLR { return StepLR{StepSize: stepSize, Gamma: 0.1} }

// MultiStepLR multiplies the rate by Gamma at each milestone (by Gamma^k at
// a milestone listed k times, as torch's Counter does).
type MultiStepLR struct {
	Milestones []int   // torch's milestones
	Gamma      float64 // torch's gamma (default 0.1); finite, >= 0
}

// DefaultMultiStepLR returns MultiStepLR with torch's default Gamma 0.1.
func DefaultMultiStepLR(milestones ...int) MultiStepLR {
	return MultiStepLR{Milestones: milestones, Gamma: 0.1}
}

// ConstantLR multiplies the rate by Factor until step TotalIters.
type ConstantLR struct {
	Factor     float64 // torch's factor (default 1/3); [0, 1], > 0 when TotalIters > 0
	TotalIters int     // torch's total_iters (default 5); >= 0
}

// DefaultConstantLR returns torch's defaults: Factor 1/3, TotalIters 5.
func DefaultConstantLR() ConstantLR { return ConstantLR{Factor: 1.0 / 3, TotalIters: 5} }

// LinearLR scales the rate linearly from StartFactor to EndFactor over
// TotalIters steps.
type LinearLR struct {
	StartFactor float64 // torch's start_factor (default 1/3); [0, 1], > 0 when TotalIters > 0
	EndFactor   float64 // torch's end_factor (default 1); [0, 1]
	TotalIters  int     // torch's total_iters (default 5); >= 0, >= 1 after SequentialLR's first scheduler
}

// DefaultLinearLR returns torch's defaults: StartFactor 1/3, EndFactor 1,
// TotalIters 5.
func DefaultLinearLR() LinearLR { return LinearLR{StartFactor: 1.0 / 3, EndFactor: 1, TotalIters: 5} }

// ExponentialLR multiplies the rate by Gamma at every step. Torch has no
// default Gamma.
type ExponentialLR struct {
	Gamma float64 // torch's gamma; finite, >= 0
}

// PolynomialLR decays the rate to zero over TotalIters steps as
// (1 - t/TotalIters)^Power.
type PolynomialLR struct {
	TotalIters int     // torch's total_iters (default 5); >= 0, >= 1 after SequentialLR's first scheduler
	Power      float64 // torch's power (default 1); finite, >= 0
}

// DefaultPolynomialLR returns torch's defaults: TotalIters 5, Power 1.
func DefaultPolynomialLR() PolynomialLR { return PolynomialLR{TotalIters: 5, Power: 1} }

// CosineAnnealingLR anneals the rate from its initial value to EtaMin along a
// half cosine of TMax steps (and back up, periodically, past TMax, as torch
// does). Its zero EtaMin is torch's default.
type CosineAnnealingLR struct {
	TMax   int     // torch's T_max; >= 1
	EtaMin float64 // torch's eta_min (default 0); finite
}

// CosineAnnealingWarmRestarts anneals along a half cosine of T0 steps, then
// restarts with periods multiplied by TMult.
type CosineAnnealingWarmRestarts struct {
	T0     int     // torch's T_0; >= 1
	TMult  int     // torch's T_mult (default 1); >= 1
	EtaMin float64 // torch's eta_min (default 0); finite
}

// DefaultCosineAnnealingWarmRestarts returns torch's defaults for a first
// period of t0 steps: TMult 1, EtaMin 0.
func DefaultCosineAnnealingWarmRestarts(t0 int) CosineAnnealingWarmRestarts {
	return CosineAnnealingWarmRestarts{T0: t0, TMult: 1}
}

// CyclicLR cycles the rate between BaseLR and MaxLR (and the momentum between
// MaxMomentum and BaseMomentum), as torch's CyclicLR.
//
// Mode is "triangular", "triangular2" or "exp_range" and is ignored when
// ScaleFn is set; ScaleMode ("cycle" or "iterations") is used only with
// ScaleFn, since each Mode has its own. ScaleFn receives the cycle number or
// the iteration as a float64. StepSizeDown 0 means StepSizeUp (torch's None).
// Gamma is used by "exp_range" only. BaseMomentum and MaxMomentum are used,
// and required, only with CycleMomentum; the target's momentum (SGD and
// RMSProp momentum, Adam's β1) is what cycles. Torch 1.13.1 cycles only a
// "momentum" group key in CyclicLR and refuses Adam; this package cycles β1
// for Adam as later torch versions do.
type CyclicLR struct {
	BaseLR, MaxLR             []float64 // one per group, or one for all; finite
	StepSizeUp, StepSizeDown  int       // torch's step_size_up (default 2000) and step_size_down
	Mode                      string    // torch's mode (default "triangular")
	Gamma                     float64   // torch's gamma (default 1); finite
	ScaleFn                   func(float64) float64
	ScaleMode                 string    // torch's scale_mode (default "cycle")
	CycleMomentum             bool      // torch's cycle_momentum (default true)
	BaseMomentum, MaxMomentum []float64 // torch's defaults 0.8 and 0.9; finite
}

// DefaultCyclicLR returns torch's defaults for a cycle between baseLR and
// maxLR: StepSizeUp 2000, Mode "triangular", Gamma 1, ScaleMode "cycle",
// CycleMomentum with BaseMomentum 0.8 and MaxMomentum 0.9.
func DefaultCyclicLR(baseLR, maxLR float64) CyclicLR {
	return CyclicLR{
		BaseLR: []float64{baseLR}, MaxLR: []float64{maxLR},
		StepSizeUp: 2000, Mode: "triangular", Gamma: 1, ScaleMode: "cycle",
		CycleMomentum: true, BaseMomentum: []float64{0.8}, MaxMomentum: []float64{0.9},
	}
}

// OneCycleLR is the one-cycle policy: the rate rises from MaxLR/DivFactor to
// MaxLR over PctStart of TotalSteps, then falls to
// MaxLR/DivFactor/FinalDivFactor ("cos" or "linear" AnnealStrategy), with
// momentum moving the opposite way. ThreePhase is torch's three_phase.
//
// Torch allows TotalSteps steps after New: the last one extrapolates the
// schedule one step past its end, as torch's does, to a rate (and momentum)
// that torch computes after the loop's last optimizer step and never uses.
// With AnnealStrategy "linear" that rate is negative: an optimizer holds it
// (see Holder), so that the step succeeds, and refuses to step with it.
// One more step is a *StepError, as torch raises. A PctStart that leaves
// the first or the last phase without steps is refused at New: torch
// divides by zero in it.
type OneCycleLR struct {
	MaxLR                     []float64 // one per group, or one for all; finite, >= 0
	TotalSteps                int       // torch's total_steps; >= 1
	PctStart                  float64   // torch's pct_start (default 0.3); [0, 1], leaving the first and last phases steps
	AnnealStrategy            string    // torch's anneal_strategy (default "cos")
	CycleMomentum             bool      // torch's cycle_momentum (default true)
	BaseMomentum, MaxMomentum []float64 // torch's defaults 0.85 and 0.95; finite
	DivFactor                 float64   // torch's div_factor (default 25); finite, > 0
	FinalDivFactor            float64   // torch's final_div_factor (default 1e4); finite, > 0
	ThreePhase                bool      // torch's three_phase (default false)
}

// DefaultOneCycleLR returns torch's defaults for a cycle peaking at maxLR
// over totalSteps steps.
func DefaultOneCycleLR(maxLR float64, totalSteps int) OneCycleLR {
	return OneCycleLR{
		MaxLR: []float64{maxLR}, TotalSteps: totalSteps, PctStart: 0.3,
		AnnealStrategy: "cos", CycleMomentum: true,
		BaseMomentum: []float64{0.85}, MaxMomentum: []float64{0.95},
		DivFactor: 25, FinalDivFactor: 1e4,
	}
}

// SWALR is torch.optim.swa_utils.SWALR: it anneals each group's rate from
// its rate at SWALR's first step to SwaLR over AnnealEpochs steps, along a
// half cosine ("cos") or a line ("linear"), and keeps it at SwaLR after.
// Like torch's, it is chainable: each step recovers the rate the annealing
// started from out of the rate the target has, so it anneals from wherever
// an earlier scheduler on the same target left the rate (torch's usage:
// another scheduler until the SWA phase, SWALR from then on, two Schedulers
// on one optimizer). New leaves the rates as they are, but with
// AnnealEpochs 0, which sets SwaLR at once, as torch's constructor does.
type SWALR struct {
	SwaLR          []float64 // torch's swa_lr: one per group, or one for all; finite, >= 0
	AnnealEpochs   int       // torch's anneal_epochs (default 10); >= 0
	AnnealStrategy string    // torch's anneal_strategy (default "cos"): "cos" or "linear"
}

// DefaultSWALR returns torch's defaults for an SWA rate of swaLR:
// AnnealEpochs 10, AnnealStrategy "cos".
func DefaultSWALR(swaLR float64) SWALR {
	return SWALR{SwaLR: []float64{swaLR}, AnnealEpochs: 10, AnnealStrategy: "cos"}
}

// SequentialLR runs Schedulers[i] between Milestones[i-1] and Milestones[i].
// Its schedulers are built in order on the same target, as torch's user code
// builds them before passing them in; they may not themselves be
// SequentialLR, ChainedScheduler or ReduceLROnPlateau (torch cannot step
// those with the epoch argument SequentialLR uses at a milestone).
type SequentialLR struct {
	Schedulers []Spec
	Milestones []int // len(Schedulers)-1 values, non-decreasing, >= 0
}

// ChainedScheduler steps every one of Schedulers at each step, in order.
// They may be any spec but ReduceLROnPlateau.
type ChainedScheduler struct {
	Schedulers []Spec
}

// ReduceLROnPlateau multiplies the rate by Factor when the metric passed to
// StepMetric has not improved for Patience steps. A nil MinLR is torch's
// default 0 for every group.
type ReduceLROnPlateau struct {
	Mode          string    // "min" or "max" (default "min")
	Factor        float64   // default 0.1; [0, 1)
	Patience      int       // default 10; >= 0
	Threshold     float64   // default 1e-4; finite, >= 0
	ThresholdMode string    // "rel" or "abs" (default "rel")
	Cooldown      int       // default 0; >= 0
	MinLR         []float64 // default 0; one per group, or one for all; finite, >= 0
	Eps           float64   // default 1e-8; finite, >= 0
}

// DefaultReduceLROnPlateau returns torch's defaults.
func DefaultReduceLROnPlateau() ReduceLROnPlateau {
	return ReduceLROnPlateau{
		Mode: "min", Factor: 0.1, Patience: 10, Threshold: 1e-4,
		ThresholdMode: "rel", Eps: 1e-8,
	}
}

func (LambdaLR) kind() string                    { return "LambdaLR" }
func (MultiplicativeLR) kind() string            { return "MultiplicativeLR" }
func (StepLR) kind() string                      { return "StepLR" }
func (MultiStepLR) kind() string                 { return "MultiStepLR" }
func (ConstantLR) kind() string                  { return "ConstantLR" }
func (LinearLR) kind() string                    { return "LinearLR" }
func (ExponentialLR) kind() string               { return "ExponentialLR" }
func (PolynomialLR) kind() string                { return "PolynomialLR" }
func (CosineAnnealingLR) kind() string           { return "CosineAnnealingLR" }
func (CosineAnnealingWarmRestarts) kind() string { return "CosineAnnealingWarmRestarts" }
func (CyclicLR) kind() string                    { return "CyclicLR" }
func (OneCycleLR) kind() string                  { return "OneCycleLR" }
func (SWALR) kind() string                       { return "SWALR" }
func (SequentialLR) kind() string                { return "SequentialLR" }
func (ChainedScheduler) kind() string            { return "ChainedScheduler" }
func (ReduceLROnPlateau) kind() string           { return "ReduceLROnPlateau" }
