package optim

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"unsafe"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// This file is the machinery every rule shares: the sealed interface, the
// normalization of a Rule value, the coefficient dispatch, the checks of
// what the element type can hold, and the range-check helpers. Each rule's
// public face lives in its own file (sgd.go, adam.go, lion.go, ...): its
// type, defaults, validation, accessors, coefficient function, the checks
// representable makes of it, and how torch sees it (its torchForm).

// Rule is an update rule: one of this package's rule types (SGD, Adam,
// Lion, ...), as a value or a pointer. No other type is a Rule: the set is
// sealed by unexported methods, and a type that embeds one of them
// (struct{ optim.Adam }) is rejected with a *RuleError rather than treated
// as the embedded rule.
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
	// cycle); ok is false for the rules without one.
	momentum() (m float64, ok bool)
	withMomentum(m float64) Rule
	// coefficients32 and coefficients64 are the rule's coefficient
	// function (see coefficients) for each element type: Go methods cannot
	// have type parameters, so a rule writes its function once, generic,
	// and these two instantiate it.
	coefficients32(in stepInput) stepCoeffs[float32]
	coefficients64(in stepInput) stepCoeffs[float64]
	// checkCoefficients makes the checks of representable on the rule's
	// first step's coefficients.
	checkCoefficients(k *coeffChecker)
	// torch is how torch sees the rule: its class, its param_groups keys
	// and whether its state counts steps (checkpoint_groups.go).
	torch() *torchForm
}

// scalarHistory is a Rule that keeps scalar state (NAdam's mu_product,
// ASGD's eta and mu). scalarsBefore returns the state that steps 1 to
// step-1 leave, computing each step it needs with advance (which returns
// the state after the step); Coefficients uses it.
type scalarHistory interface {
	scalarsBefore(step int64, advance func(step int64, first bool, sc generic.Scalars) generic.Scalars) generic.Scalars
}

// stateInitializer is a Rule whose state slices start at a value other
// than zero (Adagrad's InitialAccumulatorValue).
type stateInitializer interface {
	initialState() float64
}

// initialState is the value r's state slices start at.
func initialState[T float32 | float64](r Rule) T {
	if s, ok := r.(stateInitializer); ok {
		return T(s.initialState())
	}
	return 0
}

// rulePackage is this package's import path.
var rulePackage = reflect.TypeFor[Rule]().PkgPath()

// isRuleType reports whether t is one of this package's rule types. Its
// methods are unexported, so outside this package a type can implement
// Rule only by embedding a rule (or Rule itself): every struct field of a
// rule type is a named hyperparameter, so a struct with an embedded field
// is not one. This is decided from the type alone, before any method is
// called: a promoted method would act as the embedded rule, and panic on
// an embedded nil pointer.
func isRuleType(t reflect.Type) bool {
	if t.Kind() != reflect.Struct || t.PkgPath() != rulePackage {
		return false
	}
	for i := range t.NumField() {
		if t.Field(i).Anonymous {
			return false
		}
	}
	return true
}

// errorName is the name a rule's errors give it: its type's, or the torch
// class that a flag of it selects (AdamW for an Adam with Decoupled, which
// DefaultAdamW makes), the name its checkpoint and a torch user know it by.
func errorName(r Rule) string {
	if f := r.torch(); f.flagged != nil && className(r) == f.flagged.class {
		return f.flagged.class
	}
	return ruleName(r)
}

// ruleName is the rule's type name in messages ("Adam"); for anything but
// a rule value, its Go type ("*optim.Adam").
func ruleName(r Rule) string {
	if t := reflect.TypeOf(r); t != nil && isRuleType(t) {
		return t.Name()
	}
	return fmt.Sprintf("%T", r)
}

// normalize dereferences pointer rules and validates the result. It calls
// no method of r before isRuleType has established that r is one of this
// package's rule types or a pointer to one.
func normalize(r Rule) (Rule, error) {
	if r == nil {
		return nil, &RuleError{Group: -1, Rule: "<nil>", Reason: "nil Rule"}
	}
	switch t := reflect.TypeOf(r); {
	case isRuleType(t):
	case t.Kind() == reflect.Pointer && isRuleType(t.Elem()):
		v := reflect.ValueOf(r)
		if v.IsNil() {
			return nil, &RuleError{Group: -1, Rule: fmt.Sprintf("%T", r), Reason: "nil *" + t.Elem().Name()}
		}
		r = v.Elem().Interface().(Rule)
	default:
		return nil, &RuleError{Group: -1, Rule: fmt.Sprintf("%T", r), Reason: fmt.Sprintf(
			"%T is not a rule of this package: use optim.%s, or a pointer to one (a type that embeds one is not accepted)", r, ruleList())}
	}
	return r, r.validate()
}

// ruleList names every rule, "SGD, Adagrad, ..., Lion, Muon or Adafactor",
// from generic's table (an elementwise rule type has its Kind's name) and
// the matrix rules.
func ruleList() string {
	names := make([]string, generic.KindCount)
	for k := range names {
		names[k] = generic.Kind(k).String()
	}
	names = append(names, "Muon", "Adafactor")
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
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
	if err := noKernel("KernelKind", r); err != nil {
		return 0, err
	}
	return r.kind(), nil
}

// noKernel refuses a matrix rule (Muon, Adafactor) in the stateless layer,
// whose kernels are elementwise.
func noKernel(op string, r Rule) error {
	if isMatrix(r) {
		return &RuleError{Group: -1, Rule: ruleName(r), Reason: fmt.Sprintf(
			"%s: %s has no elementwise kernel: it steps whole matrices, through an Optimizer whose group gives their Shapes", op, ruleName(r))}
	}
	return nil
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
// whatever the step number, and calls at increasing steps with the same
// β1 and MomentumDecay continue the previous replay, O(1) each. A caller
// whose hyperparameters change during training (a schedule) keeps the
// scalars itself with CoefficientsWith.
func Coefficients[T generic.Float](rule Rule, step int64) (kernels.Coeffs[T], kernels.Variant, error) {
	r, err := normalizeFor[T](rule)
	if err != nil {
		return kernels.Coeffs[T]{}, 0, err
	}
	if err := noKernel("Coefficients", r); err != nil {
		return kernels.Coeffs[T]{}, 0, err
	}
	if step < 1 {
		return kernels.Coeffs[T]{}, 0, argErr("Coefficients", "step", float64(step), ">= 1")
	}
	var sc generic.Scalars
	if h, ok := r.(scalarHistory); ok {
		sc = h.scalarsBefore(step, func(k int64, first bool, sc generic.Scalars) generic.Scalars {
			_, _, next := coefficients[T](r, k, first, sc)
			return next
		})
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
	if err := noKernel("CoefficientsWith", r); err != nil {
		return c, 0, sc, err
	}
	if step < 1 {
		return c, 0, sc, argErr("CoefficientsWith", "step", float64(step), ">= 1")
	}
	c, v, next = coefficients[T](r, step, first, sc)
	return c, v, next, nil
}

// stepInput is what a rule's coefficient function reads besides the rule:
// the step number (1-based); first, which reports that the state torch
// creates lazily does not exist yet (SGD then clones the gradient into its
// momentum buffer, Rprop starts from step sizes LR, and a rule with scalar
// state starts from its initial scalars instead of sc); and sc, the scalar
// state the previous step left.
type stepInput struct {
	step  int64
	first bool
	sc    generic.Scalars
}

// stepCoeffs is what a rule's coefficient function returns: the step's
// scalars in the element type T, its variant, and the scalar state after
// the step (zero for a rule without scalar state).
type stepCoeffs[T generic.Float] struct {
	c    generic.Coeffs[T]
	v    generic.Variant
	next generic.Scalars
}

// noScalars is the result of a rule without scalar state, from its
// generic coefficient function's.
func noScalars[T generic.Float](c generic.Coeffs[T], v generic.Variant) stepCoeffs[T] {
	return stepCoeffs[T]{c: c, v: v}
}

// withScalars is the result of a rule with scalar state.
func withScalars[T generic.Float](c generic.Coeffs[T], v generic.Variant, next generic.Scalars) stepCoeffs[T] {
	return stepCoeffs[T]{c, v, next}
}

// coefficients computes the scalars of step number step of a valid rule
// and advances the parameter's scalar state sc (see stepInput).
//
// The element type selects the rule's instantiation by its size: a named
// float type (type MyFloat float32) has its underlying type's layout and
// arithmetic, so the float32 or float64 result is its result, reinterpreted
// as generic.Reference does for kernels.
func coefficients[T generic.Float](r Rule, step int64, first bool, sc generic.Scalars) (generic.Coeffs[T], generic.Variant, generic.Scalars) {
	in := stepInput{step: step, first: first, sc: sc}
	var out stepCoeffs[T]
	if unsafe.Sizeof(out.c.Sign) == 4 {
		c := r.coefficients32(in)
		out = *(*stepCoeffs[T])(unsafe.Pointer(&c))
	} else {
		c := r.coefficients64(in)
		out = *(*stepCoeffs[T])(unsafe.Pointer(&c))
	}
	return out.c, out.v, out.next
}

// representable checks what the element type T will see: every per-step
// scalar of step 1 rounded to T must be finite, and Eps must not round to
// zero. Step 1 bounds every later step: Adam's step size LR/(1-β1^t) and
// Adagrad's decayed rate only shrink as t grows, and so do NAdam's,
// Adamax's and ASGD's eta (Alpha >= 0). Each rule names the scalars to
// check, and the hyperparameter to blame, in its checkCoefficients.
func representable[T generic.Float](r Rule) error {
	c, _, _ := coefficients[T](r, 1, true, generic.Scalars{})
	k := coeffChecker{c: widen(c), typ: fmt.Sprintf("%T", T(0)), rule: errorName(r)}
	r.checkCoefficients(&k)
	return k.err
}

// widen converts c to float64 exactly (float32 widens without rounding),
// so that a rule's checks, which only compare and test finiteness, are
// written once for both element types. Coeffs holds only fields of type T,
// in order (its assembly ABI), so it is read as an array of T.
func widen[T generic.Float](c generic.Coeffs[T]) (w generic.Coeffs[float64]) {
	n := unsafe.Sizeof(c) / unsafe.Sizeof(c.Sign)
	dst := unsafe.Slice(&w.Sign, n)
	for i, x := range unsafe.Slice(&c.Sign, n) {
		dst[i] = float64(x)
	}
	return w
}

// coeffChecker collects the first failure of representable's checks of a
// rule's step-1 coefficients c, widened from the element type typ.
type coeffChecker struct {
	c    generic.Coeffs[float64]
	typ  string
	rule string
	err  error
}

// plainValue begins the Want of a scalar that is the hyperparameter itself.
const plainValue = "a value that is"

// fail records a failure unless an earlier check failed.
func (k *coeffChecker) fail(field string, value float64, want string) {
	if k.err == nil {
		k.err = &HyperparameterError{Group: -1, Rule: k.rule, Field: field, Value: value, Want: want}
	}
}

// finite requires x, a coefficient computed from the hyperparameter field
// (= value), to be finite in the element type; what describes the value
// ("a value whose step size LR/(1-Beta1) is").
func (k *coeffChecker) finite(x float64, field string, value float64, what string) {
	if !finite(x) {
		k.fail(field, value, what+" finite in "+k.typ)
	}
}

// stepSize requires the step size NegLR, computed from lr, to be finite.
func (k *coeffChecker) stepSize(lr float64, what string) { k.finite(k.c.NegLR, "LR", lr, what) }

// weightDecay requires the coupled weight decay to be finite.
func (k *coeffChecker) weightDecay(wd float64) {
	k.finite(k.c.WeightDecay, "WeightDecay", wd, plainValue)
}

// decay requires the decoupled decay 1 - LR*WeightDecay to be finite.
func (k *coeffChecker) decay(wd float64) {
	k.finite(k.c.Decay, "WeightDecay", wd, "a value whose decay 1 - LR*WeightDecay is")
}

// eps requires Eps to be finite and not to round to zero.
func (k *coeffChecker) eps(eps float64) {
	k.finite(k.c.Eps, "Eps", eps, plainValue)
	if eps != 0 && k.c.Eps == 0 {
		k.fail("Eps", eps, "a value that does not round to 0 in "+k.typ)
	}
}

func finite[T generic.Float](x T) bool { return !math.IsInf(float64(x), 0) && !math.IsNaN(float64(x)) }

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
