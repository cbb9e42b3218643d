package schedule

import (
	"fmt"
	"math"
)

// checker collects the first failed check of one spec, so that each check
// reads as one line.
type checker struct {
	spec string
	err  error
}

func (c *checker) fail(field string, value any, want string) {
	if c.err == nil {
		c.err = argErr(c.spec, field, value, want)
	}
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// float checks a finite value within [lo, hi] (infinite bounds: open side).
func (c *checker) float(field string, v, lo, hi float64, want string) {
	if !finite(v) || v < lo || v > hi {
		c.fail(field, v, want)
	}
}

func (c *checker) intMin(field string, v, lo int) {
	if v < lo {
		c.fail(field, v, fmt.Sprintf(">= %d", lo))
	}
}

// perGroup checks that a per-group slice has one value or one per group, and
// each value's range.
func (c *checker) perGroup(field string, v []float64, groups int, lo, hi float64, want string) {
	if len(v) != 1 && len(v) != groups {
		c.fail(field, fmt.Sprintf("%d values", len(v)), fmt.Sprintf("1 or %d (one per group)", groups))
		return
	}
	for i, x := range v {
		c.float(fmt.Sprintf("%s[%d]", field, i), x, lo, hi, want)
	}
}

func (c *checker) funcs(field string, fs []func(int) float64, groups int) {
	if len(fs) != 1 && len(fs) != groups {
		c.fail(field, fmt.Sprintf("%d functions", len(fs)), fmt.Sprintf("1 or %d (one per group)", groups))
		return
	}
	for i, f := range fs {
		if f == nil {
			c.fail(fmt.Sprintf("%s[%d]", field, i), "nil", "a function")
		}
	}
}

const (
	inf         = math.MaxFloat64 // bound meaning "no upper limit" for finite values
	wantFinite  = "finite"
	wantNonNeg  = "finite, >= 0"
	wantUnit    = "in [0, 1]"
	wantPos     = "finite, > 0"
	wantDefault = "; start from the Default* constructor for torch's defaults"
)

// expand returns a per-group slice from a one-value-or-one-per-group slice.
func expand(v []float64, groups int) []float64 {
	out := make([]float64, groups)
	for i := range out {
		if len(v) == 1 {
			out[i] = v[0]
		} else {
			out[i] = v[i]
		}
	}
	return out
}

func (s LambdaLR) validate(groups int) error {
	c := checker{spec: s.kind()}
	c.funcs("Lambdas", s.Lambdas, groups)
	return c.err
}

func (s MultiplicativeLR) validate(groups int) error {
	c := checker{spec: s.kind()}
	c.funcs("Lambdas", s.Lambdas, groups)
	return c.err
}

func (s StepLR) validate(int) error {
	c := checker{spec: s.kind()}
	c.intMin("StepSize", s.StepSize, 1)
	c.float("Gamma", s.Gamma, 0, inf, wantNonNeg)
	return c.err
}

func (s MultiStepLR) validate(int) error {
	c := checker{spec: s.kind()}
	c.float("Gamma", s.Gamma, 0, inf, wantNonNeg)
	return c.err
}

func (s ConstantLR) validate(int) error {
	c := checker{spec: s.kind()}
	c.intMin("TotalIters", s.TotalIters, 0)
	c.float("Factor", s.Factor, 0, 1, wantUnit)
	// Torch accepts 0 and then divides by it at step TotalIters.
	if s.Factor == 0 && s.TotalIters > 0 {
		c.fail("Factor", s.Factor, "> 0 when TotalIters > 0 (torch divides by it at step TotalIters)")
	}
	return c.err
}

func (s LinearLR) validate(int) error {
	c := checker{spec: s.kind()}
	c.intMin("TotalIters", s.TotalIters, 0)
	c.float("StartFactor", s.StartFactor, 0, 1, wantUnit)
	c.float("EndFactor", s.EndFactor, 0, 1, wantUnit)
	// Torch accepts 0 and then divides by it at step 1.
	if s.StartFactor == 0 && s.TotalIters > 0 {
		c.fail("StartFactor", s.StartFactor, "> 0 when TotalIters > 0 (torch divides by it at step 1)")
	}
	return c.err
}

func (s ExponentialLR) validate(int) error {
	c := checker{spec: s.kind()}
	c.float("Gamma", s.Gamma, 0, inf, wantNonNeg)
	return c.err
}

func (s PolynomialLR) validate(int) error {
	c := checker{spec: s.kind()}
	c.intMin("TotalIters", s.TotalIters, 0)
	// A negative power raises 0 to it at step TotalIters, which torch
	// reports as a division by zero.
	c.float("Power", s.Power, 0, inf, wantNonNeg)
	return c.err
}

func (s CosineAnnealingLR) validate(int) error {
	c := checker{spec: s.kind()}
	c.intMin("TMax", s.TMax, 1)
	c.float("EtaMin", s.EtaMin, -inf, inf, wantFinite)
	return c.err
}

func (s CosineAnnealingWarmRestarts) validate(int) error {
	c := checker{spec: s.kind()}
	c.intMin("T0", s.T0, 1)
	c.intMin("TMult", s.TMult, 1)
	c.float("EtaMin", s.EtaMin, -inf, inf, wantFinite)
	return c.err
}

func (s CyclicLR) validate(groups int) error {
	c := checker{spec: s.kind()}
	c.perGroup("BaseLR", s.BaseLR, groups, 0, inf, wantNonNeg)
	c.perGroup("MaxLR", s.MaxLR, groups, 0, inf, wantNonNeg)
	c.intMin("StepSizeUp", s.StepSizeUp, 1)
	c.intMin("StepSizeDown", s.StepSizeDown, 0)
	if s.ScaleFn == nil {
		switch s.Mode {
		case "triangular", "triangular2", "exp_range":
		default:
			c.fail("Mode", fmt.Sprintf("%q", s.Mode), `"triangular", "triangular2" or "exp_range" when ScaleFn is nil`+wantDefault)
		}
	} else if s.ScaleMode != "cycle" && s.ScaleMode != "iterations" {
		c.fail("ScaleMode", fmt.Sprintf("%q", s.ScaleMode), `"cycle" or "iterations" with a ScaleFn`+wantDefault)
	}
	c.float("Gamma", s.Gamma, -inf, inf, wantFinite)
	if s.CycleMomentum {
		c.perGroup("BaseMomentum", s.BaseMomentum, groups, -inf, inf, wantFinite)
		c.perGroup("MaxMomentum", s.MaxMomentum, groups, -inf, inf, wantFinite)
	}
	return c.err
}

func (s OneCycleLR) validate(groups int) error {
	c := checker{spec: s.kind()}
	c.perGroup("MaxLR", s.MaxLR, groups, 0, inf, wantNonNeg)
	c.intMin("TotalSteps", s.TotalSteps, 1)
	c.float("PctStart", s.PctStart, 0, 1, wantUnit)
	if s.AnnealStrategy != "cos" && s.AnnealStrategy != "linear" {
		c.fail("AnnealStrategy", fmt.Sprintf("%q", s.AnnealStrategy), `"cos" or "linear"`+wantDefault)
	}
	if s.CycleMomentum {
		c.perGroup("BaseMomentum", s.BaseMomentum, groups, -inf, inf, wantFinite)
		c.perGroup("MaxMomentum", s.MaxMomentum, groups, -inf, inf, wantFinite)
	}
	if !finite(s.DivFactor) || s.DivFactor <= 0 {
		c.fail("DivFactor", s.DivFactor, wantPos+wantDefault)
	}
	if !finite(s.FinalDivFactor) || s.FinalDivFactor <= 0 {
		c.fail("FinalDivFactor", s.FinalDivFactor, wantPos+wantDefault)
	}
	if c.err == nil {
		// A phase of no steps divides by zero where a step falls in it:
		// the first at step 0, the last at step TotalSteps (the others
		// hold no step), where torch raises ZeroDivisionError.
		ph := s.phases()
		last := len(ph) - 1
		switch {
		case ph[0].end == 0:
			c.fail("PctStart", s.PctStart, "a value with PctStart*TotalSteps != 1 (the first phase has no steps: torch divides by zero at New)")
		case ph[last].end == ph[last-1].end:
			c.fail("PctStart", s.PctStart, "a value that leaves the last phase steps (it has none: torch divides by zero at the TotalSteps-th step)")
		}
	}
	return c.err
}

func (s SWALR) validate(groups int) error {
	c := checker{spec: s.kind()}
	c.perGroup("SwaLR", s.SwaLR, groups, 0, inf, wantNonNeg)
	c.intMin("AnnealEpochs", s.AnnealEpochs, 0)
	if s.AnnealStrategy != "cos" && s.AnnealStrategy != "linear" {
		c.fail("AnnealStrategy", fmt.Sprintf("%q", s.AnnealStrategy), `"cos" or "linear"`+wantDefault)
	}
	return c.err
}

func (s ReduceLROnPlateau) validate(groups int) error {
	c := checker{spec: s.kind()}
	if s.Mode != "min" && s.Mode != "max" {
		c.fail("Mode", fmt.Sprintf("%q", s.Mode), `"min" or "max"`+wantDefault)
	}
	if s.ThresholdMode != "rel" && s.ThresholdMode != "abs" {
		c.fail("ThresholdMode", fmt.Sprintf("%q", s.ThresholdMode), `"rel" or "abs"`+wantDefault)
	}
	if !finite(s.Factor) || s.Factor < 0 || s.Factor >= 1 {
		c.fail("Factor", s.Factor, "in [0, 1)")
	}
	c.intMin("Patience", s.Patience, 0)
	c.float("Threshold", s.Threshold, 0, inf, wantNonNeg)
	c.intMin("Cooldown", s.Cooldown, 0)
	if s.MinLR != nil {
		c.perGroup("MinLR", s.MinLR, groups, 0, inf, wantNonNeg)
	}
	c.float("Eps", s.Eps, 0, inf, wantNonNeg)
	return c.err
}

func (s SequentialLR) validate(groups int) error {
	c := checker{spec: s.kind()}
	if len(s.Schedulers) == 0 {
		c.fail("Schedulers", "0 schedulers", ">= 1")
		return c.err
	}
	if len(s.Milestones) != len(s.Schedulers)-1 {
		c.fail("Milestones", fmt.Sprintf("%d values", len(s.Milestones)), fmt.Sprintf("%d (one fewer than Schedulers)", len(s.Schedulers)-1))
	}
	for i, m := range s.Milestones {
		if m < 0 || (i > 0 && m < s.Milestones[i-1]) {
			c.fail(fmt.Sprintf("Milestones[%d]", i), m, ">= 0 and >= the previous milestone")
		}
	}
	if c.err != nil {
		return c.err
	}
	for i, in := range s.Schedulers {
		field := fmt.Sprintf("Schedulers[%d]", i)
		if in == nil || isNil(in) {
			return argErr(s.kind(), field, "nil", "a Spec")
		}
		if !ownSpec(in) {
			return argErr(s.kind(), field, fmt.Sprintf("%T", in), specTypesWant)
		}
		switch in.(type) {
		case SequentialLR, ChainedScheduler, ReduceLROnPlateau, *SequentialLR, *ChainedScheduler, *ReduceLROnPlateau:
			return argErr(s.kind(), field, in.kind(), "a scheduler other than SequentialLR, ChainedScheduler or ReduceLROnPlateau")
		}
		if err := validateSpec(in, groups); err != nil {
			return nest(err, s.kind()+"."+field)
		}
		// At a milestone torch steps the scheduler with step(0), whose
		// closed form divides by TotalIters.
		if i > 0 {
			switch in := derefSpec(in).(type) {
			case LinearLR:
				if in.TotalIters == 0 {
					return argErr(s.kind()+"."+field+"."+in.kind(), "TotalIters", 0, closedFormIters)
				}
			case PolynomialLR:
				if in.TotalIters == 0 {
					return argErr(s.kind()+"."+field+"."+in.kind(), "TotalIters", 0, closedFormIters)
				}
			}
		}
	}
	return nil
}

// closedFormIters is the range of TotalIters for the schedulers that
// SequentialLR steps at a milestone with their closed form.
const closedFormIters = ">= 1 after SequentialLR's first scheduler (at its milestone, torch's closed form divides by it)"

func (s ChainedScheduler) validate(groups int) error {
	if len(s.Schedulers) == 0 {
		return argErr(s.kind(), "Schedulers", "0 schedulers", ">= 1")
	}
	for i, in := range s.Schedulers {
		field := fmt.Sprintf("Schedulers[%d]", i)
		if in == nil || isNil(in) {
			return argErr(s.kind(), field, "nil", "a Spec")
		}
		if !ownSpec(in) {
			return argErr(s.kind(), field, fmt.Sprintf("%T", in), specTypesWant)
		}
		switch in.(type) {
		case ReduceLROnPlateau, *ReduceLROnPlateau:
			return argErr(s.kind(), field, in.kind(), "a scheduler other than ReduceLROnPlateau")
		}
		if err := validateSpec(in, groups); err != nil {
			return nest(err, s.kind()+"."+field)
		}
	}
	return nil
}

// nest prefixes an inner spec's ArgError with where the spec sits.
func nest(err error, prefix string) error {
	if a, ok := err.(*ArgError); ok {
		b := *a
		b.Spec = prefix + "." + a.Spec
		return &b
	}
	return err
}
