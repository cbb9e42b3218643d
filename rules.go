package optim

import (
	"fmt"
	"math"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// Rule is an update rule: SGD, Adagrad, RMSProp or Adam, as a value or a
// pointer. Every field means exactly its value (a zero Beta1 is zero); start
// from DefaultSGD, DefaultAdagrad, DefaultRMSProp, DefaultAdam or
// DefaultAdamW for torch's defaults.
type Rule interface {
	// validate reports the first out-of-range hyperparameter.
	validate() error
	kind() kernels.Kind
	lr() float64
	withLR(lr float64) Rule
}

// SGD is torch.optim.SGD: plain, with momentum and dampening, or Nesterov.
type SGD struct {
	LR, Momentum, Dampening, WeightDecay float64
	Nesterov, Maximize                   bool
}

// Adagrad is torch.optim.Adagrad.
type Adagrad struct {
	LR, LRDecay, WeightDecay, InitialAccumulatorValue, Eps float64
	Maximize                                               bool
}

// RMSProp is torch.optim.RMSprop, optionally centered and with momentum.
type RMSProp struct {
	LR, Alpha, Eps, WeightDecay, Momentum float64
	Centered, Maximize                    bool
}

// Adam is torch.optim.Adam; with Decoupled it is torch.optim.AdamW, whose
// weight decay multiplies the parameters instead of joining the gradient.
type Adam struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	AMSGrad, Maximize, Decoupled       bool
}

// DefaultSGD returns torch's SGD defaults: lr 1e-3, no momentum.
func DefaultSGD() SGD { return SGD{LR: 1e-3} }

// DefaultAdagrad returns torch's Adagrad defaults: lr 1e-2, eps 1e-10.
func DefaultAdagrad() Adagrad { return Adagrad{LR: 1e-2, Eps: 1e-10} }

// DefaultRMSProp returns torch's RMSprop defaults: lr 1e-2, alpha 0.99,
// eps 1e-8.
func DefaultRMSProp() RMSProp { return RMSProp{LR: 1e-2, Alpha: 0.99, Eps: 1e-8} }

// DefaultAdam returns torch's Adam defaults: lr 1e-3, betas (0.9, 0.999),
// eps 1e-8, no weight decay.
func DefaultAdam() Adam { return Adam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }

// DefaultAdamW returns torch's AdamW defaults: Adam's, with decoupled weight
// decay 1e-2.
func DefaultAdamW() Adam {
	a := DefaultAdam()
	a.WeightDecay, a.Decoupled = 1e-2, true
	return a
}

func (SGD) kind() kernels.Kind     { return kernels.KindSGD }
func (Adagrad) kind() kernels.Kind { return kernels.KindAdagrad }
func (RMSProp) kind() kernels.Kind { return kernels.KindRMSProp }
func (Adam) kind() kernels.Kind    { return kernels.KindAdam }

func (r SGD) lr() float64     { return r.LR }
func (r Adagrad) lr() float64 { return r.LR }
func (r RMSProp) lr() float64 { return r.LR }
func (r Adam) lr() float64    { return r.LR }

func (r SGD) withLR(lr float64) Rule     { r.LR = lr; return r }
func (r Adagrad) withLR(lr float64) Rule { r.LR = lr; return r }
func (r RMSProp) withLR(lr float64) Rule { r.LR = lr; return r }
func (r Adam) withLR(lr float64) Rule    { r.LR = lr; return r }

func (r SGD) validate() error {
	if err := checks("SGD",
		nonNegative("LR", r.LR), unitInterval("Momentum", r.Momentum),
		closedUnit("Dampening", r.Dampening), nonNegative("WeightDecay", r.WeightDecay)); err != nil {
		return err
	}
	if r.Nesterov && (r.Momentum <= 0 || r.Dampening != 0) {
		return fmt.Errorf("optim: SGD.Nesterov needs Momentum > 0 and Dampening 0, have Momentum %v and Dampening %v", r.Momentum, r.Dampening)
	}
	return nil
}

func (r Adagrad) validate() error {
	return checks("Adagrad", nonNegative("LR", r.LR), nonNegative("LRDecay", r.LRDecay),
		nonNegative("WeightDecay", r.WeightDecay), nonNegative("InitialAccumulatorValue", r.InitialAccumulatorValue),
		nonNegative("Eps", r.Eps))
}

func (r RMSProp) validate() error {
	return checks("RMSProp", nonNegative("LR", r.LR), unitInterval("Alpha", r.Alpha), nonNegative("Eps", r.Eps),
		nonNegative("WeightDecay", r.WeightDecay), unitInterval("Momentum", r.Momentum))
}

func (r Adam) validate() error {
	return checks("Adam", nonNegative("LR", r.LR), unitInterval("Beta1", r.Beta1), unitInterval("Beta2", r.Beta2),
		nonNegative("Eps", r.Eps), nonNegative("WeightDecay", r.WeightDecay))
}

// hyperCheck is one hyperparameter's range check: its name, its value, and
// the range it must lie in ("" when it does).
type hyperCheck struct {
	name, want string
	value      float64
}

func nonNegative(name string, v float64) hyperCheck {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return hyperCheck{name, "a finite value >= 0", v}
	}
	return hyperCheck{}
}

// unitInterval is torch's range for betas, alpha and (here) momentum: [0, 1).
func unitInterval(name string, v float64) hyperCheck {
	if !(v >= 0 && v < 1) {
		return hyperCheck{name, "in [0, 1)", v}
	}
	return hyperCheck{}
}

func closedUnit(name string, v float64) hyperCheck {
	if !(v >= 0 && v <= 1) {
		return hyperCheck{name, "in [0, 1]", v}
	}
	return hyperCheck{}
}

func checks(rule string, cs ...hyperCheck) error {
	for _, c := range cs {
		if c.want != "" {
			return fmt.Errorf("optim: %s.%s = %v, want %s", rule, c.name, c.value, c.want)
		}
	}
	return nil
}

// normalize dereferences pointer rules and validates the result.
func normalize(r Rule) (Rule, error) {
	switch p := r.(type) {
	case nil:
		return nil, fmt.Errorf("optim: nil Rule")
	case *SGD:
		if p == nil {
			return nil, fmt.Errorf("optim: nil *SGD")
		}
		r = *p
	case *Adagrad:
		if p == nil {
			return nil, fmt.Errorf("optim: nil *Adagrad")
		}
		r = *p
	case *RMSProp:
		if p == nil {
			return nil, fmt.Errorf("optim: nil *RMSProp")
		}
		r = *p
	case *Adam:
		if p == nil {
			return nil, fmt.Errorf("optim: nil *Adam")
		}
		r = *p
	}
	return r, r.validate()
}

// Coefficients returns the per-step scalars and the variant of rule's step
// number step (1-based) for the stateless kernels in package kernels. For
// SGD with momentum, step 1 is the step that initializes the buffer.
func Coefficients[T generic.Float](rule Rule, step int64) (kernels.Coeffs[T], kernels.Variant, error) {
	r, err := normalize(rule)
	if err != nil {
		return kernels.Coeffs[T]{}, 0, err
	}
	if step < 1 {
		return kernels.Coeffs[T]{}, 0, fmt.Errorf("optim: step = %d, want >= 1", step)
	}
	c, v := coefficients[T](r, step)
	return c, v, nil
}

// coefficients computes the scalars of step number step of a valid rule.
func coefficients[T generic.Float](r Rule, step int64) (generic.Coeffs[T], generic.Variant) {
	switch r := r.(type) {
	case SGD:
		return generic.SGDCoeffs[T](r.LR, r.Momentum, r.Dampening, r.WeightDecay, r.Nesterov, r.Maximize, step == 1)
	case Adagrad:
		return generic.AdagradCoeffs[T](r.LR, r.LRDecay, r.WeightDecay, r.Eps, r.Maximize, step)
	case RMSProp:
		return generic.RMSPropCoeffs[T](r.LR, r.Alpha, r.Eps, r.WeightDecay, r.Momentum, r.Centered, r.Maximize)
	case Adam:
		return generic.AdamCoeffs[T](r.LR, r.Beta1, r.Beta2, r.Eps, r.WeightDecay, r.AMSGrad, r.Decoupled, r.Maximize, step)
	}
	panic("optim: unreachable: unnormalized rule")
}
