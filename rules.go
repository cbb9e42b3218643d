package optim

import (
	"fmt"
	"math"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// Rule is an update rule: SGD, Adagrad, RMSProp or Adam, as a value or a
// pointer. No other type is a Rule: the set is sealed by unexported
// methods, and a type that embeds one of these (struct{ optim.Adam }) is
// rejected with a *RuleError rather than treated as the embedded rule.
//
// Every field means exactly its value (a zero Beta1 is zero); start from
// DefaultSGD, DefaultAdagrad, DefaultRMSProp, DefaultAdam or DefaultAdamW
// for torch's defaults. A rule that would turn finite parameters into NaN
// is rejected: Eps must be positive (a zero Eps divides 0 by 0 on any zero
// gradient), and every per-step scalar must be finite in the element type
// (float32 cannot hold an LR of 1e39). So optim.Adam{LR: 1e-3}, whose other
// fields are zero, is an error that says to start from DefaultAdam.
type Rule interface {
	// validate reports the first out-of-range hyperparameter.
	validate() error
	kind() kernels.Kind
	lr() float64
	withLR(lr float64) Rule
	// momentum is SGD's and RMSProp's Momentum or Adam's Beta1; ok is
	// false for Adagrad.
	momentum() (m float64, ok bool)
	withMomentum(m float64) Rule
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

func (r SGD) momentum() (float64, bool)     { return r.Momentum, true }
func (r Adagrad) momentum() (float64, bool) { return 0, false }
func (r RMSProp) momentum() (float64, bool) { return r.Momentum, true }
func (r Adam) momentum() (float64, bool)    { return r.Beta1, true }

func (r SGD) withMomentum(m float64) Rule   { r.Momentum = m; return r }
func (r Adagrad) withMomentum(float64) Rule { return r }
func (r RMSProp) withMomentum(m float64) Rule {
	r.Momentum = m
	return r
}
func (r Adam) withMomentum(m float64) Rule { r.Beta1 = m; return r }

func (r SGD) validate() error {
	if err := checks("SGD",
		nonNegative("LR", r.LR), unitInterval("Momentum", r.Momentum),
		closedUnit("Dampening", r.Dampening), nonNegative("WeightDecay", r.WeightDecay)); err != nil {
		return err
	}
	if r.Nesterov && (r.Momentum <= 0 || r.Dampening != 0) {
		return &RuleError{Group: -1, Rule: "SGD", Reason: fmt.Sprintf(
			"SGD.Nesterov needs Momentum > 0 and Dampening 0, have Momentum %v and Dampening %v", r.Momentum, r.Dampening)}
	}
	return nil
}

func (r Adagrad) validate() error {
	return checks("Adagrad", nonNegative("LR", r.LR), nonNegative("LRDecay", r.LRDecay),
		nonNegative("WeightDecay", r.WeightDecay), nonNegative("InitialAccumulatorValue", r.InitialAccumulatorValue),
		nonNegative("Eps", r.Eps), positiveEps("Adagrad", r.Eps))
}

func (r RMSProp) validate() error {
	return checks("RMSProp", nonNegative("LR", r.LR), unitInterval("Alpha", r.Alpha), nonNegative("Eps", r.Eps),
		nonNegative("WeightDecay", r.WeightDecay), unitInterval("Momentum", r.Momentum), positiveEps("RMSProp", r.Eps))
}

func (r Adam) validate() error {
	return checks("Adam", nonNegative("LR", r.LR), unitInterval("Beta1", r.Beta1), unitInterval("Beta2", r.Beta2),
		nonNegative("Eps", r.Eps), nonNegative("WeightDecay", r.WeightDecay), positiveEps("Adam", r.Eps))
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

// positiveEps is the zero-value guard, checked after the range checks so
// that a range error is reported first: a zero Eps is in range but makes
// 0/0 = NaN on the first zero gradient, which is also what a rule literal
// that leaves Eps out (optim.Adam{LR: 1e-3}) would do.
func positiveEps(rule string, eps float64) hyperCheck {
	if eps == 0 {
		return hyperCheck{"Eps", fmt.Sprintf("> 0 (a zero Eps gives 0/0 = NaN on any zero gradient; "+
			"start from optim.Default%s() for torch's defaults and change the fields you need)", rule), eps}
	}
	return hyperCheck{}
}

func checks(rule string, cs ...hyperCheck) error {
	for _, c := range cs {
		if c.want != "" {
			return &HyperparameterError{Group: -1, Rule: rule, Field: c.name, Value: c.value, Want: c.want}
		}
	}
	return nil
}

// representable checks what the element type T will see: every per-step
// scalar of step 1 rounded to T must be finite, and Eps must not round to
// zero. Step 1 bounds every later step: Adam's step size LR/(1-β1^t) and
// Adagrad's decayed rate only shrink as t grows.
func representable[T generic.Float](r Rule) error {
	c, _ := coefficients[T](r, 1, true)
	name := ruleName(r)
	typ := fmt.Sprintf("%T", T(0))
	finite := func(x T) bool { return !math.IsInf(float64(x), 0) && !math.IsNaN(float64(x)) }
	bad := func(field string, v float64, what string) error {
		return &HyperparameterError{Group: -1, Rule: name, Field: field, Value: v, Want: what + " finite in " + typ}
	}
	lr, wd, eps := r.lr(), 0.0, 0.0
	lrWhat := "a value that is"
	switch r := r.(type) {
	case SGD:
		wd = r.WeightDecay
	case Adagrad:
		wd, eps = r.WeightDecay, r.Eps
	case RMSProp:
		wd, eps = r.WeightDecay, r.Eps
	case Adam:
		wd, eps = r.WeightDecay, r.Eps
		lrWhat = "a value whose step size LR/(1-Beta1) is"
		if !finite(c.Decay) {
			return bad("WeightDecay", wd, "a value whose decay 1 - LR*WeightDecay is")
		}
	}
	switch {
	case !finite(c.NegLR):
		return bad("LR", lr, lrWhat)
	case !finite(c.WeightDecay):
		return bad("WeightDecay", wd, "a value that is")
	case !finite(c.Eps):
		return bad("Eps", eps, "a value that is")
	case eps != 0 && c.Eps == 0:
		return &HyperparameterError{Group: -1, Rule: name, Field: "Eps", Value: eps, Want: "a value that does not round to 0 in " + typ}
	}
	return nil
}

// ruleName is the rule's type name in messages.
func ruleName(r Rule) string {
	switch r.(type) {
	case SGD:
		return "SGD"
	case Adagrad:
		return "Adagrad"
	case RMSProp:
		return "RMSProp"
	case Adam:
		return "Adam"
	}
	return fmt.Sprintf("%T", r)
}

// normalize dereferences pointer rules and validates the result. It calls
// no method of r before the type switch has established that r is one of
// this package's types: a type that embeds a rule, or embeds a nil pointer
// to one, would otherwise promote the unexported methods (and panic).
func normalize(r Rule) (Rule, error) {
	switch p := r.(type) {
	case nil:
		return nil, &RuleError{Group: -1, Rule: "<nil>", Reason: "nil Rule"}
	case SGD, Adagrad, RMSProp, Adam:
	case *SGD:
		if p == nil {
			return nil, &RuleError{Group: -1, Rule: "*optim.SGD", Reason: "nil *SGD"}
		}
		r = *p
	case *Adagrad:
		if p == nil {
			return nil, &RuleError{Group: -1, Rule: "*optim.Adagrad", Reason: "nil *Adagrad"}
		}
		r = *p
	case *RMSProp:
		if p == nil {
			return nil, &RuleError{Group: -1, Rule: "*optim.RMSProp", Reason: "nil *RMSProp"}
		}
		r = *p
	case *Adam:
		if p == nil {
			return nil, &RuleError{Group: -1, Rule: "*optim.Adam", Reason: "nil *Adam"}
		}
		r = *p
	default:
		return nil, &RuleError{Group: -1, Rule: fmt.Sprintf("%T", r), Reason: fmt.Sprintf(
			"%T is not a rule of this package: use optim.SGD, Adagrad, RMSProp or Adam, or a pointer to one (a type that embeds one is not accepted)", r)}
	}
	return r, r.validate()
}

// normalizeFor is normalize followed by the checks of what the element
// type T will see (see representable).
func normalizeFor[T generic.Float](r Rule) (Rule, error) {
	r, err := normalize(r)
	if err != nil {
		return nil, err
	}
	return r, representable[T](r)
}

// Coefficients returns the per-step scalars and the variant of rule's step
// number step (1-based) for the stateless kernels in package kernels. For
// SGD with momentum, step 1 is the step that initializes the buffer.
func Coefficients[T generic.Float](rule Rule, step int64) (kernels.Coeffs[T], kernels.Variant, error) {
	r, err := normalizeFor[T](rule)
	if err != nil {
		return kernels.Coeffs[T]{}, 0, err
	}
	if step < 1 {
		return kernels.Coeffs[T]{}, 0, fmt.Errorf("optim: Coefficients: step = %d, want >= 1", step)
	}
	c, v := coefficients[T](r, step, step == 1)
	return c, v, nil
}

// coefficients computes the scalars of step number step of a valid rule.
// first reports whether SGD's momentum buffer does not exist yet (torch
// then clones the gradient into it).
func coefficients[T generic.Float](r Rule, step int64, first bool) (generic.Coeffs[T], generic.Variant) {
	switch r := r.(type) {
	case SGD:
		return generic.SGDCoeffs[T](r.LR, r.Momentum, r.Dampening, r.WeightDecay, r.Nesterov, r.Maximize, first)
	case Adagrad:
		return generic.AdagradCoeffs[T](r.LR, r.LRDecay, r.WeightDecay, r.Eps, r.Maximize, step)
	case RMSProp:
		return generic.RMSPropCoeffs[T](r.LR, r.Alpha, r.Eps, r.WeightDecay, r.Momentum, r.Centered, r.Maximize)
	case Adam:
		return generic.AdamCoeffs[T](r.LR, r.Beta1, r.Beta2, r.Eps, r.WeightDecay, r.AMSGrad, r.Decoupled, r.Maximize, step)
	}
	// normalize admits only the four types above.
	panic("optim: unreachable: unnormalized rule")
}
