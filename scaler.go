package optim

import (
	"fmt"
	"math"

	"github.com/simdoptim/optim/generic"
)

// GradScalerConfig configures a GradScaler; DefaultGradScalerConfig gives
// torch's defaults. The zero value is not valid (InitScale 0).
type GradScalerConfig struct {
	// InitScale is the first scale, rounded to float32 (torch keeps the
	// scale in a float32 tensor); it must round to a positive finite value.
	InitScale float64
	// GrowthFactor multiplies the scale after GrowthInterval consecutive
	// steps without Inf/NaN gradients; > 1 and finite.
	GrowthFactor float64
	// BackoffFactor multiplies the scale after a step with Inf/NaN
	// gradients; in (0, 1) (torch accepts any value below 1).
	BackoffFactor float64
	// GrowthInterval is the number of consecutive clean steps between
	// growths; >= 1.
	GrowthInterval int
	// Disabled turns the scaler off, as torch's enabled=False: Scale is 1,
	// Unscale and Update do nothing and ScaledStep is a plain Step (it
	// neither checks nor skips). A field that disables, rather than one that
	// enables, keeps a config written out field by field enabled.
	Disabled bool
}

// DefaultGradScalerConfig returns torch.amp.GradScaler's defaults:
// init_scale 2^16, growth_factor 2, backoff_factor 0.5, growth_interval 2000.
func DefaultGradScalerConfig() GradScalerConfig {
	return GradScalerConfig{InitScale: 65536, GrowthFactor: 2, BackoffFactor: 0.5, GrowthInterval: 2000}
}

// GradScaler is torch.amp.GradScaler: dynamic loss scaling for
// mixed-precision training. Multiply the loss by Scale() before the
// backward pass, then call ScaledStep (or Unscale, then clip, then
// ScaledStep) for each optimizer, then Update once per iteration:
//
//	loss := forward(batch) * scaler.Scale()
//	backward(loss, grads...)
//	if _, err := optim.Unscale(scaler, opt, grads...); err != nil { ... } // optional: clip unscaled grads
//	optim.ClipGradNorm(1.0, 2, false, grads...)
//	skipped, err := optim.ScaledStep(scaler, opt, grads...)
//	scaler.Update()
//
// The scale is a float32, as torch's scale tensor is, and every update
// reproduces torch's bits: the inverse scale is float32(1/float64(scale)),
// growth and backoff are float32(float64(scale)*factor) (torch's
// _amp_update_scale_ multiplies the float scale by the double factor and
// stores a float), a growth that would overflow float32 is dropped, and the
// growth tracker restarts after every skipped step and every growth.
//
// Like torch, the scaler tracks each optimizer's stage between updates
// (ready, unscaled, stepped), so ScaledStep does not unscale twice after
// Unscale, and unscaling or stepping twice is an error. It is not safe for
// concurrent use.
type GradScaler struct {
	cfg     GradScalerConfig
	scale   float32
	tracker int // consecutive clean steps since the last growth or skip
	// opts is the state of every optimizer seen since the last Update;
	// it is emptied (keeping its capacity) by Update, so a training loop
	// allocates nothing after its first iteration.
	opts []scalerEntry
}

// scalerStage is torch's OptState.
type scalerStage int

const (
	stageReady scalerStage = iota
	stageUnscaled
	stageStepped
)

type scalerEntry struct {
	opt      any // *Optimizer[T], compared by identity
	stage    scalerStage
	foundInf bool
}

// ScaleError reports a scale that cannot unscale gradients: zero (after
// many backoffs), or so small that its inverse overflows float32.
type ScaleError struct {
	Func  string
	Scale float64
}

func (e *ScaleError) Error() string {
	return fmt.Sprintf("optim: %s: the loss scale is %v, which has no finite float32 inverse (every step was skipped until it decayed this far: check the loss for Inf/NaN)", e.Func, e.Scale)
}

// ScalerStageError reports a call out of order for one optimizer between
// two Updates, as torch raises: Unscale or ScaledStep after ScaledStep, or
// Unscale twice.
type ScalerStageError struct {
	Func   string
	Reason string
}

func (e *ScalerStageError) Error() string { return fmt.Sprintf("optim: %s: %s", e.Func, e.Reason) }

// NewGradScaler validates cfg and returns a scaler whose scale is
// float32(cfg.InitScale). Errors are *HyperparameterError naming the field.
func NewGradScaler(cfg GradScalerConfig) (*GradScaler, error) {
	if err := cfg.validate("NewGradScaler"); err != nil {
		return nil, err
	}
	return &GradScaler{cfg: cfg, scale: float32(cfg.InitScale)}, nil
}

func (cfg GradScalerConfig) validate(fn string) error {
	if s := float32(cfg.InitScale); !(s > 0) || math.IsInf(float64(s), 1) {
		return argErr(fn, "InitScale", cfg.InitScale, "> 0 and finite as a float32")
	}
	if !(cfg.GrowthFactor > 1) || math.IsInf(cfg.GrowthFactor, 1) {
		return argErr(fn, "GrowthFactor", cfg.GrowthFactor, "> 1 and finite")
	}
	if !(cfg.BackoffFactor > 0 && cfg.BackoffFactor < 1) {
		return argErr(fn, "BackoffFactor", cfg.BackoffFactor, "in (0, 1)")
	}
	if cfg.GrowthInterval < 1 {
		return argErr(fn, "GrowthInterval", float64(cfg.GrowthInterval), ">= 1")
	}
	return nil
}

// Scale returns the current scale (a float32 value), or 1 when disabled:
// multiply the loss (or the output gradient) by it before the backward
// pass, as torch's scaler.scale(loss) does.
func (s *GradScaler) Scale() float64 {
	if s.cfg.Disabled {
		return 1
	}
	return float64(s.scale)
}

// Enabled reports whether the scaler scales (Config.Disabled is false).
func (s *GradScaler) Enabled() bool { return !s.cfg.Disabled }

// inverse returns torch's inverse scale, scale.double().reciprocal().float().
func (s *GradScaler) inverse(fn string) (float32, error) {
	inv := float32(1 / float64(s.scale))
	if !(s.scale > 0) || math.IsInf(float64(inv), 1) {
		return 0, &ScaleError{fn, float64(s.scale)}
	}
	return inv, nil
}

// entry returns o's state since the last Update, adding a ready one.
func (s *GradScaler) entry(o any) *scalerEntry {
	for i := range s.opts {
		if s.opts[i].opt == o {
			return &s.opts[i]
		}
	}
	s.opts = append(s.opts, scalerEntry{opt: o})
	return &s.opts[len(s.opts)-1]
}

// Unscale is torch's scaler.unscale_(optimizer): it divides o's grads by
// the scale in place (multiplying by the float32 inverse, in T) and records
// whether any is infinite or NaN, in one read of each grad. Use it to clip
// or inspect unscaled gradients before ScaledStep, which then does not
// unscale again. It reports what it found; ScaledStep acts on it. As for
// Step, a nil grad is no gradient (skipped), and no grads at all means the
// optimizer's own gradient buffers that are set (see Grad).
//
// Errors (nothing is written): grads that do not match o's params or share
// memory with them or with each other, a scale without a finite inverse
// (*ScaleError), or a second Unscale, or an Unscale after ScaledStep, before
// Update (*ScalerStageError). Disabled, it does nothing.
func Unscale[T float32 | float64](s *GradScaler, o *Optimizer[T], grads ...[]T) (foundInf bool, err error) {
	const fn = "Unscale"
	if s.cfg.Disabled {
		return false, nil
	}
	grads = o.stepGrads(grads)
	inv, err := prepare(s, fn, o, grads)
	if err != nil {
		return false, err
	}
	return s.unscaleStage(fn, o, func() bool { return unscaleAll(o.workerGradKernels(), grads, T(inv)) })
}

// unscaleStage is Unscale's stage logic for optimizer o, whichever its
// type: unscale unscales its gradients and reports whether one held an
// Inf or NaN.
func (s *GradScaler) unscaleStage(fn string, o any, unscale func() bool) (bool, error) {
	e := s.entry(o)
	switch e.stage {
	case stageUnscaled:
		return false, &ScalerStageError{fn, "Unscale has already been called for this optimizer since the last Update"}
	case stageStepped:
		return false, &ScalerStageError{fn, "Unscale is being called after ScaledStep, before Update"}
	}
	e.foundInf = unscale()
	e.stage = stageUnscaled
	return e.foundInf, nil
}

// ScaledStep is torch's scaler.step(optimizer): unless Unscale was called
// for o since the last Update, it unscales the grads in place and checks
// them for Inf/NaN in one read; then, if all are finite, it calls o.Step.
// Otherwise it skips: every param, every state and the step count stay
// untouched, and it reports skipped. Call Update after the steps of the
// iteration. Disabled, it is o.Step(grads...). Nil grads and no grads at
// all mean what they mean to Step and Unscale.
//
// Errors (nothing is written): as Unscale's, and a second ScaledStep for o
// before Update (*ScalerStageError).
func ScaledStep[T float32 | float64](s *GradScaler, o *Optimizer[T], grads ...[]T) (skipped bool, err error) {
	const fn = "ScaledStep"
	grads = o.stepGrads(grads)
	if err := o.checkHeld(fn, grads); err != nil {
		return false, err
	}
	if s.cfg.Disabled {
		return false, o.Step(grads...)
	}
	inv, err := prepare(s, fn, o, grads)
	if err != nil {
		return false, err
	}
	return s.stepStage(fn, o, func() bool { return unscaleAll(o.workerGradKernels(), grads, T(inv)) },
		func() error { return o.Step(grads...) })
}

// stepStage is ScaledStep's stage logic for optimizer o, whichever its
// type: unscale (run unless Unscale ran) unscales its gradients and
// reports an Inf or NaN; step, run only if there was none, steps it on
// gradients already validated.
func (s *GradScaler) stepStage(fn string, o any, unscale func() bool, step func() error) (bool, error) {
	e := s.entry(o)
	if e.stage == stageStepped {
		return false, &ScalerStageError{fn, "ScaledStep has already been called for this optimizer since the last Update"}
	}
	if e.stage == stageReady {
		e.foundInf = unscale()
		e.stage = stageUnscaled
	}
	if e.foundInf {
		e.stage = stageStepped
		return true, nil
	}
	if err := step(); err != nil {
		return false, err // unreachable after the validation
	}
	e.stage = stageStepped
	return false, nil
}

// prepare validates everything Unscale and ScaledStep check before their
// first write, and returns the inverse scale.
func prepare[T float32 | float64](s *GradScaler, fn string, o *Optimizer[T], grads [][]T) (float32, error) {
	if err := o.checkGrads(fn, grads); err != nil {
		return 0, err
	}
	if err := checkDisjoint(fn, grads); err != nil {
		return 0, err
	}
	return s.inverse(fn)
}

// unscaleAll multiplies every grad by inv and reports any Inf/NaN product.
func unscaleAll[T float32 | float64](k *generic.GradKernels[T], grads [][]T, inv T) bool {
	found := false
	for _, g := range grads {
		// Every grad is unscaled even after an Inf is found, as torch does:
		// a caller that inspects the grads sees them all unscaled.
		if k.UnscaleCheck(g, inv) {
			found = true
		}
	}
	return found
}

// Update is torch's scaler.update(): if any optimizer stepped or unscaled
// since the last Update found an Inf/NaN, the scale is multiplied by the
// backoff factor and the growth tracker restarts; otherwise the tracker
// counts one more clean step and, when it reaches the growth interval, the
// scale is multiplied by the growth factor (unless that overflows float32)
// and the tracker restarts. Then every optimizer is ready again.
//
// Torch fails an update with nothing recorded; here it changes nothing.
// Disabled, it does nothing.
func (s *GradScaler) Update() {
	if s.cfg.Disabled || len(s.opts) == 0 {
		return
	}
	found := false
	for _, e := range s.opts {
		found = found || e.foundInf
	}
	if found {
		s.scale = float32(float64(s.scale) * s.cfg.BackoffFactor)
		s.tracker = 0
	} else if s.tracker+1 == s.cfg.GrowthInterval {
		if grown := float32(float64(s.scale) * s.cfg.GrowthFactor); !math.IsInf(float64(grown), 1) {
			s.scale = grown
		}
		s.tracker = 0
	} else {
		s.tracker++
	}
	s.reset()
}

// reset forgets every optimizer's stage, keeping the capacity.
func (s *GradScaler) reset() {
	clear(s.opts) // drop the references to the optimizers
	s.opts = s.opts[:0]
}

// SetScale is torch's scaler.update(new_scale): it sets the scale
// (rounded to float32; it must be positive and finite there), keeps the
// growth tracker, and makes every optimizer ready again.
func (s *GradScaler) SetScale(scale float64) error {
	if f := float32(scale); !(f > 0) || math.IsInf(float64(f), 1) {
		return argErr("SetScale", "scale", scale, "> 0 and finite as a float32")
	}
	s.scale = float32(scale)
	s.reset()
	return nil
}

// GradScalerState is a scaler's whole state as plain data, for checkpoints
// (it marshals to JSON with torch's state_dict names).
type GradScalerState struct {
	Scale          float64 `json:"scale"` // a float32 value
	GrowthFactor   float64 `json:"growth_factor"`
	BackoffFactor  float64 `json:"backoff_factor"`
	GrowthInterval int     `json:"growth_interval"`
	GrowthTracker  int     `json:"_growth_tracker"`
	Disabled       bool    `json:"disabled,omitempty"`
}

// State returns the scaler's state. Take it between iterations (after
// Update), as torch requires of state_dict.
func (s *GradScaler) State() GradScalerState {
	return GradScalerState{
		Scale: float64(s.scale), GrowthFactor: s.cfg.GrowthFactor, BackoffFactor: s.cfg.BackoffFactor,
		GrowthInterval: s.cfg.GrowthInterval, GrowthTracker: s.tracker, Disabled: s.cfg.Disabled,
	}
}

// Restore replaces the scaler's state with st, validated first (the
// factors and interval as NewGradScaler checks them, the scale positive and
// finite as a float32, the tracker in [0, GrowthInterval)); on error nothing
// changes. Every optimizer is ready again.
func (s *GradScaler) Restore(st GradScalerState) error {
	const fn = "Restore"
	cfg := GradScalerConfig{InitScale: st.Scale, GrowthFactor: st.GrowthFactor, BackoffFactor: st.BackoffFactor,
		GrowthInterval: st.GrowthInterval, Disabled: st.Disabled}
	if err := cfg.validate(fn); err != nil {
		return err
	}
	if st.GrowthTracker < 0 || st.GrowthTracker >= st.GrowthInterval {
		return argErr(fn, "GrowthTracker", float64(st.GrowthTracker), fmt.Sprintf("in [0, %d)", st.GrowthInterval))
	}
	s.cfg, s.scale, s.tracker = cfg, float32(st.Scale), st.GrowthTracker
	s.reset()
	return nil
}
