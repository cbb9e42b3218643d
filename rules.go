package optim

import (
	"fmt"
	"math"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// Rule is an update rule: SGD, Adagrad, RMSProp, Adam, NAdam, RAdam,
// Adamax, Adadelta, Rprop, ASGD or Lion, as a value or a pointer. No other
// type is a Rule: the set is sealed by unexported methods, and a type that
// embeds one of these (struct{ optim.Adam }) is rejected with a *RuleError
// rather than treated as the embedded rule.
//
// Every field means exactly its value (a zero Beta1 is zero); start from
// the rule's Default constructor (DefaultSGD, DefaultAdam, DefaultAdamW,
// DefaultNAdam, ...) for torch's defaults. A rule that would turn finite
// parameters into NaN is rejected: Eps must be positive (a zero Eps
// divides 0 by 0 on any zero gradient), and every per-step scalar must be
// finite in the element type (float32 cannot hold an LR of 1e39). So
// optim.Adam{LR: 1e-3}, whose other fields are zero, is an error that says
// to start from DefaultAdam.
type Rule interface {
	// validate reports the first out-of-range hyperparameter.
	validate() error
	kind() kernels.Kind
	lr() float64
	withLR(lr float64) Rule
	// momentum is SGD's and RMSProp's Momentum or the Beta1 of Adam,
	// NAdam, RAdam, Adamax and Lion (torch's betas[0], which its schedulers
	// cycle); ok is false for Adagrad, Adadelta, Rprop and ASGD.
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

// NAdam is torch.optim.NAdam; with Decoupled, its weight decay multiplies
// the parameters (torch's decoupled_weight_decay, NAdamW).
type NAdam struct {
	LR, Beta1, Beta2, Eps, WeightDecay, MomentumDecay float64
	Decoupled, Maximize                               bool
}

// RAdam is torch.optim.RAdam; with Decoupled, its weight decay multiplies
// the parameters (torch's decoupled_weight_decay, RAdamW).
type RAdam struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	Decoupled, Maximize                bool
}

// Adamax is torch.optim.Adamax, Adam with the infinity norm.
type Adamax struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	Maximize                           bool
}

// Adadelta is torch.optim.Adadelta.
type Adadelta struct {
	LR, Rho, Eps, WeightDecay float64
	Maximize                  bool
}

// Rprop is torch.optim.Rprop: torch's etas are (EtaMinus, EtaPlus), its
// step_sizes (StepSizeMin, StepSizeMax).
type Rprop struct {
	LR, EtaMinus, EtaPlus, StepSizeMin, StepSizeMax float64
	Maximize                                        bool
}

// ASGD is torch.optim.ASGD, averaged SGD; the average is State.AX.
type ASGD struct {
	LR, Lambd, Alpha, T0, WeightDecay float64
	Maximize                          bool
}

// Lion is the Lion optimizer (Chen et al., 2023, "Symbolic Discovery of
// Optimization Algorithms"), which torch does not have: the update is the
// sign of an interpolation of the momentum and the gradient, and the
// weight decay is decoupled.
type Lion struct {
	LR, Beta1, Beta2, WeightDecay float64
	Maximize                      bool
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

// DefaultNAdam returns torch's NAdam defaults: lr 2e-3, betas (0.9,
// 0.999), eps 1e-8, momentum_decay 4e-3, no weight decay.
func DefaultNAdam() NAdam {
	return NAdam{LR: 2e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, MomentumDecay: 4e-3}
}

// DefaultRAdam returns torch's RAdam defaults: lr 1e-3, betas (0.9,
// 0.999), eps 1e-8, no weight decay.
func DefaultRAdam() RAdam { return RAdam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }

// DefaultAdamax returns torch's Adamax defaults: lr 2e-3, betas (0.9,
// 0.999), eps 1e-8, no weight decay.
func DefaultAdamax() Adamax { return Adamax{LR: 2e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }

// DefaultAdadelta returns torch's Adadelta defaults: lr 1.0, rho 0.9,
// eps 1e-6, no weight decay.
func DefaultAdadelta() Adadelta { return Adadelta{LR: 1, Rho: 0.9, Eps: 1e-6} }

// DefaultRprop returns torch's Rprop defaults: lr 1e-2, etas (0.5, 1.2),
// step sizes (1e-6, 50).
func DefaultRprop() Rprop {
	return Rprop{LR: 1e-2, EtaMinus: 0.5, EtaPlus: 1.2, StepSizeMin: 1e-6, StepSizeMax: 50}
}

// DefaultASGD returns torch's ASGD defaults: lr 1e-2, lambd 1e-4, alpha
// 0.75, t0 1e6, no weight decay.
func DefaultASGD() ASGD { return ASGD{LR: 1e-2, Lambd: 1e-4, Alpha: 0.75, T0: 1e6} }

// DefaultLion returns the defaults of lucidrains' lion-pytorch, the
// reference implementation: lr 1e-4, betas (0.9, 0.99), no weight decay.
func DefaultLion() Lion { return Lion{LR: 1e-4, Beta1: 0.9, Beta2: 0.99} }

func (SGD) kind() kernels.Kind     { return kernels.KindSGD }
func (Adagrad) kind() kernels.Kind { return kernels.KindAdagrad }
func (RMSProp) kind() kernels.Kind { return kernels.KindRMSProp }
func (Adam) kind() kernels.Kind    { return kernels.KindAdam }

// The new rules' Kind constants are generic's: kernels.Kind is generic.Kind.
func (NAdam) kind() kernels.Kind    { return generic.KindNAdam }
func (RAdam) kind() kernels.Kind    { return generic.KindRAdam }
func (Adamax) kind() kernels.Kind   { return generic.KindAdamax }
func (Adadelta) kind() kernels.Kind { return generic.KindAdadelta }
func (Rprop) kind() kernels.Kind    { return generic.KindRprop }
func (ASGD) kind() kernels.Kind     { return generic.KindASGD }
func (Lion) kind() kernels.Kind     { return generic.KindLion }

func (r SGD) lr() float64      { return r.LR }
func (r Adagrad) lr() float64  { return r.LR }
func (r RMSProp) lr() float64  { return r.LR }
func (r Adam) lr() float64     { return r.LR }
func (r NAdam) lr() float64    { return r.LR }
func (r RAdam) lr() float64    { return r.LR }
func (r Adamax) lr() float64   { return r.LR }
func (r Adadelta) lr() float64 { return r.LR }
func (r Rprop) lr() float64    { return r.LR }
func (r ASGD) lr() float64     { return r.LR }
func (r Lion) lr() float64     { return r.LR }

func (r SGD) withLR(lr float64) Rule      { r.LR = lr; return r }
func (r Adagrad) withLR(lr float64) Rule  { r.LR = lr; return r }
func (r RMSProp) withLR(lr float64) Rule  { r.LR = lr; return r }
func (r Adam) withLR(lr float64) Rule     { r.LR = lr; return r }
func (r NAdam) withLR(lr float64) Rule    { r.LR = lr; return r }
func (r RAdam) withLR(lr float64) Rule    { r.LR = lr; return r }
func (r Adamax) withLR(lr float64) Rule   { r.LR = lr; return r }
func (r Adadelta) withLR(lr float64) Rule { r.LR = lr; return r }
func (r Rprop) withLR(lr float64) Rule    { r.LR = lr; return r }
func (r ASGD) withLR(lr float64) Rule     { r.LR = lr; return r }
func (r Lion) withLR(lr float64) Rule     { r.LR = lr; return r }

func (r SGD) momentum() (float64, bool)      { return r.Momentum, true }
func (r Adagrad) momentum() (float64, bool)  { return 0, false }
func (r RMSProp) momentum() (float64, bool)  { return r.Momentum, true }
func (r Adam) momentum() (float64, bool)     { return r.Beta1, true }
func (r NAdam) momentum() (float64, bool)    { return r.Beta1, true }
func (r RAdam) momentum() (float64, bool)    { return r.Beta1, true }
func (r Adamax) momentum() (float64, bool)   { return r.Beta1, true }
func (r Adadelta) momentum() (float64, bool) { return 0, false }
func (r Rprop) momentum() (float64, bool)    { return 0, false }
func (r ASGD) momentum() (float64, bool)     { return 0, false }
func (r Lion) momentum() (float64, bool)     { return r.Beta1, true }

func (r SGD) withMomentum(m float64) Rule   { r.Momentum = m; return r }
func (r Adagrad) withMomentum(float64) Rule { return r }
func (r RMSProp) withMomentum(m float64) Rule {
	r.Momentum = m
	return r
}
func (r Adam) withMomentum(m float64) Rule   { r.Beta1 = m; return r }
func (r NAdam) withMomentum(m float64) Rule  { r.Beta1 = m; return r }
func (r RAdam) withMomentum(m float64) Rule  { r.Beta1 = m; return r }
func (r Adamax) withMomentum(m float64) Rule { r.Beta1 = m; return r }
func (r Adadelta) withMomentum(float64) Rule { return r }
func (r Rprop) withMomentum(float64) Rule    { return r }
func (r ASGD) withMomentum(float64) Rule     { return r }
func (r Lion) withMomentum(m float64) Rule   { r.Beta1 = m; return r }

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

func (r NAdam) validate() error {
	return checks("NAdam", nonNegative("LR", r.LR), unitInterval("Beta1", r.Beta1), unitInterval("Beta2", r.Beta2),
		nonNegative("Eps", r.Eps), nonNegative("WeightDecay", r.WeightDecay),
		nonNegative("MomentumDecay", r.MomentumDecay), positiveEps("NAdam", r.Eps))
}

func (r RAdam) validate() error {
	return checks("RAdam", nonNegative("LR", r.LR), unitInterval("Beta1", r.Beta1), unitInterval("Beta2", r.Beta2),
		nonNegative("Eps", r.Eps), nonNegative("WeightDecay", r.WeightDecay), positiveEps("RAdam", r.Eps))
}

func (r Adamax) validate() error {
	return checks("Adamax", nonNegative("LR", r.LR), unitInterval("Beta1", r.Beta1), unitInterval("Beta2", r.Beta2),
		nonNegative("Eps", r.Eps), nonNegative("WeightDecay", r.WeightDecay), positiveEps("Adamax", r.Eps))
}

func (r Adadelta) validate() error {
	return checks("Adadelta", nonNegative("LR", r.LR), closedUnit("Rho", r.Rho), nonNegative("Eps", r.Eps),
		nonNegative("WeightDecay", r.WeightDecay), positiveEps("Adadelta", r.Eps))
}

// validate checks torch's ranges, 0 < η- < 1 < η+: the kernel tells a
// sign flip from the factor it chose, which needs η- and η+ apart from 1
// (representable checks that they stay so in the element type).
func (r Rprop) validate() error {
	c := checks("Rprop", nonNegative("LR", r.LR), between("EtaMinus", r.EtaMinus, 0, 1, "in (0, 1)"),
		between("EtaPlus", r.EtaPlus, 1, math.Inf(1), "a finite value > 1"),
		nonNegative("StepSizeMin", r.StepSizeMin), nonNegative("StepSizeMax", r.StepSizeMax))
	if c == nil && r.StepSizeMin > r.StepSizeMax {
		return &HyperparameterError{Group: -1, Rule: "Rprop", Field: "StepSizeMin", Value: r.StepSizeMin,
			Want: fmt.Sprintf("<= StepSizeMax (%v)", r.StepSizeMax)}
	}
	return c
}

func (r ASGD) validate() error {
	return checks("ASGD", nonNegative("LR", r.LR), nonNegative("Lambd", r.Lambd), nonNegative("Alpha", r.Alpha),
		finiteValue("T0", r.T0), nonNegative("WeightDecay", r.WeightDecay))
}

func (r Lion) validate() error {
	return checks("Lion", nonNegative("LR", r.LR), closedUnit("Beta1", r.Beta1), closedUnit("Beta2", r.Beta2),
		nonNegative("WeightDecay", r.WeightDecay))
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

// between is the open interval (lo, hi).
func between(name string, v, lo, hi float64, want string) hyperCheck {
	if !(v > lo && v < hi) {
		return hyperCheck{name, want, v}
	}
	return hyperCheck{}
}

func finiteValue(name string, v float64) hyperCheck {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return hyperCheck{name, "a finite value", v}
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
// Adagrad's decayed rate only shrink as t grows, and so do NAdam's,
// Adamax's and ASGD's eta (Alpha >= 0). Rprop's factors must also stay
// on their side of 1 (and η- above 0) once rounded: its kernel tells a
// sign flip by them.
func representable[T generic.Float](r Rule) error {
	c, _, _ := coefficients[T](r, 1, true, generic.Scalars{})
	name := ruleName(r)
	typ := fmt.Sprintf("%T", T(0))
	// scalar is one coefficient to check and the hyperparameter to blame.
	type scalar struct {
		x     T
		field string
		value float64
		what  string
	}
	const plain = "a value that is"
	var cs []scalar
	eps := 0.0
	lr := scalar{c.NegLR, "LR", r.lr(), plain}
	wd := func(w float64) scalar { return scalar{c.WeightDecay, "WeightDecay", w, plain} }
	decayOf := func(w float64) scalar {
		return scalar{c.Decay, "WeightDecay", w, "a value whose decay 1 - LR*WeightDecay is"}
	}
	switch r := r.(type) {
	case SGD:
		cs = []scalar{lr, wd(r.WeightDecay)}
	case Adagrad:
		cs, eps = []scalar{lr, wd(r.WeightDecay)}, r.Eps
	case RMSProp:
		cs, eps = []scalar{lr, wd(r.WeightDecay)}, r.Eps
	case Adam:
		lr.what = "a value whose step size LR/(1-Beta1) is"
		cs, eps = []scalar{decayOf(r.WeightDecay), lr, wd(r.WeightDecay)}, r.Eps
	case NAdam:
		lr.what = "a value whose step sizes are"
		cs, eps = []scalar{decayOf(r.WeightDecay), lr, {c.NegLRAvg, "LR", r.LR, lr.what}, wd(r.WeightDecay)}, r.Eps
	case RAdam:
		cs, eps = []scalar{decayOf(r.WeightDecay), {c.LR, "LR", r.LR, plain}, wd(r.WeightDecay)}, r.Eps
	case Adamax:
		lr.what = "a value whose step size LR/(1-Beta1) is"
		cs, eps = []scalar{lr, wd(r.WeightDecay)}, r.Eps
	case Adadelta:
		cs, eps = []scalar{lr, wd(r.WeightDecay)}, r.Eps
	case Rprop:
		cs = []scalar{{c.LR, "LR", r.LR, plain}, {c.EtaPlus, "EtaPlus", r.EtaPlus, plain},
			{c.StepSizeMin, "StepSizeMin", r.StepSizeMin, plain}, {c.StepSizeMax, "StepSizeMax", r.StepSizeMax, plain}}
	case ASGD:
		// eta is a float32 scalar whatever T is (torch's 0-dim tensor).
		typ32 := "float32 (ASGD's eta is a float32 scalar)"
		if eta := float32(r.LR); math.IsInf(float64(eta), 0) || !finite(c.NegLR) {
			return &HyperparameterError{Group: -1, Rule: name, Field: "LR", Value: r.LR, Want: plain + " finite in " + typ32}
		}
		cs = []scalar{{c.Decay, "Lambd", r.Lambd, "a value whose decay 1 - Lambd*LR is"}, wd(r.WeightDecay)}
	case Lion:
		cs = []scalar{decayOf(r.WeightDecay), lr}
	}
	for _, s := range cs {
		if !finite(s.x) {
			return &HyperparameterError{Group: -1, Rule: name, Field: s.field, Value: s.value, Want: s.what + " finite in " + typ}
		}
	}
	if r, ok := r.(Rprop); ok {
		if !(c.EtaMinus > 0 && c.EtaMinus < 1) {
			return &HyperparameterError{Group: -1, Rule: name, Field: "EtaMinus", Value: r.EtaMinus, Want: "a value in (0, 1) once rounded to " + typ}
		}
		if !(c.EtaPlus > 1) {
			return &HyperparameterError{Group: -1, Rule: name, Field: "EtaPlus", Value: r.EtaPlus, Want: "a value above 1 once rounded to " + typ}
		}
	}
	switch {
	case !finite(c.Eps):
		return &HyperparameterError{Group: -1, Rule: name, Field: "Eps", Value: eps, Want: plain + " finite in " + typ}
	case eps != 0 && c.Eps == 0:
		return &HyperparameterError{Group: -1, Rule: name, Field: "Eps", Value: eps, Want: "a value that does not round to 0 in " + typ}
	}
	return nil
}

func finite[T generic.Float](x T) bool { return !math.IsInf(float64(x), 0) && !math.IsNaN(float64(x)) }

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
	case NAdam:
		return "NAdam"
	case RAdam:
		return "RAdam"
	case Adamax:
		return "Adamax"
	case Adadelta:
		return "Adadelta"
	case Rprop:
		return "Rprop"
	case ASGD:
		return "ASGD"
	case Lion:
		return "Lion"
	}
	return fmt.Sprintf("%T", r)
}

// deref returns *p, or a *RuleError naming the nil pointer.
func deref[R Rule](p *R) (Rule, error) {
	if p == nil {
		var zero R
		return nil, &RuleError{Group: -1, Rule: fmt.Sprintf("%T", p), Reason: fmt.Sprintf("nil *%s", ruleName(zero))}
	}
	return *p, nil
}

// normalize dereferences pointer rules and validates the result. It calls
// no method of r before the type switch has established that r is one of
// this package's types: a type that embeds a rule, or embeds a nil pointer
// to one, would otherwise promote the unexported methods (and panic).
func normalize(r Rule) (Rule, error) {
	var err error
	switch p := r.(type) {
	case nil:
		return nil, &RuleError{Group: -1, Rule: "<nil>", Reason: "nil Rule"}
	case SGD, Adagrad, RMSProp, Adam, NAdam, RAdam, Adamax, Adadelta, Rprop, ASGD, Lion:
	case *SGD:
		r, err = deref(p)
	case *Adagrad:
		r, err = deref(p)
	case *RMSProp:
		r, err = deref(p)
	case *Adam:
		r, err = deref(p)
	case *NAdam:
		r, err = deref(p)
	case *RAdam:
		r, err = deref(p)
	case *Adamax:
		r, err = deref(p)
	case *Adadelta:
		r, err = deref(p)
	case *Rprop:
		r, err = deref(p)
	case *ASGD:
		r, err = deref(p)
	case *Lion:
		r, err = deref(p)
	default:
		return nil, &RuleError{Group: -1, Rule: fmt.Sprintf("%T", r), Reason: fmt.Sprintf(
			"%T is not a rule of this package: use optim.SGD, Adagrad, RMSProp, Adam, NAdam, RAdam, Adamax, "+
				"Adadelta, Rprop, ASGD or Lion, or a pointer to one (a type that embeds one is not accepted)", r)}
	}
	if err != nil {
		return nil, err
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

// KernelKind returns the kernel that runs rule, for the stateless layer's
// functions that take a kernels.Kind (kernels.Parallel, kernels.Kernel).
// The rule is validated as Coefficients validates it.
func KernelKind(rule Rule) (kernels.Kind, error) {
	r, err := normalize(rule)
	if err != nil {
		return 0, err
	}
	return r.kind(), nil
}

// Scalars is one parameter's scalar state beyond its step count: NAdam's
// mu_product, ASGD's eta and mu (State.MuProduct, Eta, Mu), float32 as
// torch keeps them. See generic.Scalars.
type Scalars = generic.Scalars

// Coefficients returns the per-step scalars and the variant of rule's step
// number step (1-based) for the stateless kernels in package kernels, for a
// parameter that has taken steps 1 to step-1 under this same rule: step 1
// is the step that creates torch's lazily created state (SGD's momentum
// buffer, Rprop's step sizes), and the scalar state of NAdam and ASGD is
// that of such a run. ASGD's eta and mu depend only on the previous step's
// number; NAdam's mu_product is the float32 running product of every
// step's μ_t, replayed from step 1 until it stops changing (at 0 or at a
// subnormal: within about 150 steps with torch's default MomentumDecay,
// at most about 103/(1−β1) with a large one), so the cost is bounded
// whatever the step number, and calls at increasing steps with the same β1 and MomentumDecay
// continue the previous replay, O(1) each. A caller whose hyperparameters
// change during training (a schedule) keeps the scalars itself with
// CoefficientsWith.
func Coefficients[T generic.Float](rule Rule, step int64) (kernels.Coeffs[T], kernels.Variant, error) {
	r, err := normalizeFor[T](rule)
	if err != nil {
		return kernels.Coeffs[T]{}, 0, err
	}
	if step < 1 {
		return kernels.Coeffs[T]{}, 0, fmt.Errorf("optim: Coefficients: step = %d, want >= 1", step)
	}
	var sc generic.Scalars
	switch r.(type) {
	case ASGD:
		if step > 1 {
			_, _, sc = coefficients[T](r, step-1, true, sc)
		}
	case NAdam:
		sc, _ = nadamProduct[T](r.(NAdam), step-1)
	}
	c, v, _ := coefficients[T](r, step, step == 1, sc)
	return c, v, nil
}

// CoefficientsWith is Coefficients for a caller that keeps the
// parameter's state itself, as the Optimizer does: first reports that the
// state torch creates lazily does not exist yet (the parameter's first
// step, or SGD's first step with a momentum), sc is the scalar state the
// previous step returned (ignored when first: the rule's initial scalars,
// NAdam's mu_product 1 and ASGD's eta = this step's LR and mu 1, are used),
// and next is the scalar state to pass to the following step. For a rule
// without scalar state, sc is ignored and next is zero.
func CoefficientsWith[T generic.Float](rule Rule, step int64, first bool, sc Scalars) (c kernels.Coeffs[T], v kernels.Variant, next Scalars, err error) {
	r, err := normalizeFor[T](rule)
	if err != nil {
		return c, 0, sc, err
	}
	if step < 1 {
		return c, 0, sc, fmt.Errorf("optim: CoefficientsWith: step = %d, want >= 1", step)
	}
	c, v, next = coefficients[T](r, step, first, sc)
	return c, v, next, nil
}

// coefficients computes the scalars of step number step of a valid rule
// and advances the parameter's scalar state sc. first reports that the
// state torch creates lazily does not exist yet: SGD then clones the
// gradient into its momentum buffer, Rprop starts from step sizes LR, and
// sc is replaced by the rule's initial scalars.
func coefficients[T generic.Float](r Rule, step int64, first bool, sc generic.Scalars) (generic.Coeffs[T], generic.Variant, generic.Scalars) {
	if first {
		sc = initialScalars(r)
	}
	var (
		c generic.Coeffs[T]
		v generic.Variant
	)
	switch r := r.(type) {
	case SGD:
		c, v = generic.SGDCoeffs[T](r.LR, r.Momentum, r.Dampening, r.WeightDecay, r.Nesterov, r.Maximize, first)
	case Adagrad:
		c, v = generic.AdagradCoeffs[T](r.LR, r.LRDecay, r.WeightDecay, r.Eps, r.Maximize, step)
	case RMSProp:
		c, v = generic.RMSPropCoeffs[T](r.LR, r.Alpha, r.Eps, r.WeightDecay, r.Momentum, r.Centered, r.Maximize)
	case Adam:
		c, v = generic.AdamCoeffs[T](r.LR, r.Beta1, r.Beta2, r.Eps, r.WeightDecay, r.AMSGrad, r.Decoupled, r.Maximize, step)
	case NAdam:
		return generic.NAdamCoeffs[T](r.LR, r.Beta1, r.Beta2, r.Eps, r.WeightDecay, r.MomentumDecay, r.Decoupled, r.Maximize, step, sc)
	case RAdam:
		c, v = generic.RAdamCoeffs[T](r.LR, r.Beta1, r.Beta2, r.Eps, r.WeightDecay, r.Decoupled, r.Maximize, step)
	case Adamax:
		c, v = generic.AdamaxCoeffs[T](r.LR, r.Beta1, r.Beta2, r.Eps, r.WeightDecay, r.Maximize, step)
	case Adadelta:
		c, v = generic.AdadeltaCoeffs[T](r.LR, r.Rho, r.Eps, r.WeightDecay, r.Maximize)
	case Rprop:
		c, v = generic.RpropCoeffs[T](r.LR, r.EtaMinus, r.EtaPlus, r.StepSizeMin, r.StepSizeMax, r.Maximize, first)
	case ASGD:
		return generic.ASGDCoeffs[T](r.LR, r.Lambd, r.Alpha, r.T0, r.WeightDecay, r.Maximize, step, sc)
	case Lion:
		c, v = generic.LionCoeffs[T](r.LR, r.Beta1, r.Beta2, r.WeightDecay, r.Maximize)
	default:
		// normalize admits only the types above.
		panic("optim: unreachable: unnormalized rule")
	}
	return c, v, generic.Scalars{}
}

// initialScalars is the scalar state torch creates at a parameter's first
// step: NAdam's mu_product 1; ASGD's eta, the LR of that step, and mu 1.
func initialScalars(r Rule) generic.Scalars {
	switch r := r.(type) {
	case NAdam:
		return generic.Scalars{1}
	case ASGD:
		return generic.ASGDInit(r.LR)
	}
	return generic.Scalars{}
}

// scalarKeys[kind] names kind's scalar state in torch's state dict
// (generic.RuleDesc.ScalarKeys); lazy[kind] reports that the rule's
// result depends on whether its state exists yet (see lazyState).
var scalarKeys, lazy = func() (keys [generic.KindCount][]string, lazy [generic.KindCount]bool) {
	for _, d := range generic.Rules() {
		keys[d.Kind] = d.ScalarKeys
		lazy[d.Kind] = len(d.ScalarKeys) > 0
		for _, v := range d.Variants() {
			if v&generic.VarFirst != 0 {
				lazy[d.Kind] = true
			}
		}
	}
	return keys, lazy
}()

// hasScalars reports whether kind keeps scalar state.
func hasScalars(kind kernels.Kind) bool { return len(scalarKeys[kind]) > 0 }

// lazyState reports whether a rule's steps depend on whether the state
// torch creates at the first step exists yet: the rules whose first step
// differs (VarFirst: SGD's momentum buffer, Rprop's step sizes) or that
// keep scalar state (NAdam, ASGD), which must be initialized then. For
// these, a parameter whose state does not exist has nil slices in State
// and no tensors in a checkpoint, as in torch's state dict; the other
// rules' zero state is exactly what torch creates, so it is always there.
func lazyState(kind kernels.Kind) bool { return lazy[kind] }
