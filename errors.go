package optim

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// The errors below are returned (wrapped in nothing) by New, NewGroups,
// Step and the other methods, so that callers can use errors.As and read
// which group, parameter, field or value was wrong. Their messages name the
// same things.
//
// A caller branches on a few of them; the rest report mistakes in the
// calling code, for which the message is what matters:
//
//   - *HyperparameterError and *RuleError: the configuration is invalid (a
//     value out of range, a rule that cannot be used). A hyperparameter
//     search skips the trial.
//   - *NonFiniteNormError: ClipGradNorm met an Inf or NaN gradient; the
//     loop skips the step.
//   - *ScaleError: GradScaler's scale has collapsed; the run diverged.
//   - *CheckpointError: a checkpoint cannot be written or read; the caller
//     starts fresh or tries an older file. *TrainingError is the same for a
//     Training's file, and names the component at fault.
//   - linalg.NotPositiveDefiniteError, from the dense algebra: the matrix
//     needs a shift.
//   - *ClosureError: the closure of LBFGSOptimizer.Step failed; errors.Is
//     and errors.As see the closure's own error through it.
//
// *ShapeError, *ParamShapeError, *OverlapError, *IndexError, *StateError,
// *NameError, *NewtonSizeError and *ScalerStageError report arguments that
// do not fit
// the optimizer or a call out of order. Those about a parameter name it by
// its index and, when the parameters are named (Group.Names), by its name.

// HyperparameterError reports a value outside its valid range: a rule's
// field, a field of Newton or GradScalerConfig, or a function's argument,
// or a value that would be infinite or zero once rounded to the element
// type.
type HyperparameterError struct {
	// Group is the index of the group whose rule it is, or -1 where there
	// is no group (Coefficients, Newton, a function's argument).
	Group int
	// Rule is the type whose field it is: "SGD", "Adam", "NAdam", ...,
	// or "AdamW" for an Adam with Decoupled (DefaultAdamW), as its
	// checkpoint names it; "Newton" or "GradScalerConfig"; empty for an
	// argument.
	Rule string
	// Func is the function whose argument it is ("ClipGradNorm",
	// "SetWorkers") or that validates the type ("NewGradScaler"); empty
	// for a rule's field.
	Func  string
	Field string  // the Go field or argument name, e.g. "Beta1", "maxNorm"
	Value float64 // the rejected value
	Want  string  // the valid range, in words
}

func (e *HyperparameterError) Error() string {
	if e.Func != "" {
		// Arguments are often counts: 1000000, not 1e+06.
		v := fmt.Sprint(e.Value)
		if e.Value == math.Trunc(e.Value) && math.Abs(e.Value) <= 1<<63 {
			v = strconv.FormatFloat(e.Value, 'f', 0, 64)
		}
		return fmt.Sprintf("optim: %s: %s = %s, want %s", e.Func, e.Field, v, e.Want)
	}
	return fmt.Sprintf("optim: %s%s.%s = %v, want %s", groupPrefix(e.Group), e.Rule, e.Field, e.Value, e.Want)
}

// argErr is a *HyperparameterError for argument arg of function fn.
func argErr(fn, arg string, value float64, want string) error {
	return &HyperparameterError{Group: -1, Func: fn, Field: arg, Value: value, Want: want}
}

// RuleError reports a Rule that cannot be used at all: nil, a nil pointer,
// a type this package does not define, an inconsistent combination of
// options, or a rule of another type than the group's.
type RuleError struct {
	Group  int    // as in HyperparameterError
	Rule   string // the rule's type as %T prints it
	Reason string
}

func (e *RuleError) Error() string {
	return fmt.Sprintf("optim: %s%s", groupPrefix(e.Group), e.Reason)
}

// ShapeError reports a wrong number of slices or a slice of the wrong
// length.
type ShapeError struct {
	Op string // the method: "Step", "SetState", ...
	// What names the mismatch: "gradients" when the number of slices is
	// wrong (Index is then -1), otherwise the kind of slice at Index:
	// "grad", "added grad" (AccumulateGrad's) or a state key such as
	// "exp_avg". Accumulate's is "g", with Index -1 and Want len(acc);
	// a bulk conversion's (NarrowBFloat16, ...) is "src", with Index -1
	// and Want len(dst).
	What  string
	Index int
	Got   int    // the count or length given
	Want  int    // the count or length required
	Name  string // the name of param Index, when the params are named
}

func (e *ShapeError) Error() string {
	switch {
	case e.Op == "Accumulate":
		return fmt.Sprintf("optim: Accumulate: g has length %d, acc has length %d", e.Got, e.Want)
	case e.What == "src" && e.Index < 0:
		return fmt.Sprintf("optim: %s: src has length %d, dst has length %d", e.Op, e.Got, e.Want)
	case e.Index < 0:
		return fmt.Sprintf("optim: %s: got %d %s for %d params", e.Op, e.Got, e.What, e.Want)
	}
	msg := fmt.Sprintf("optim: %s: %s %d has length %d, param %d%s has length %d", e.Op, e.What, e.Index, e.Got, e.Index, nameSuffix(e.Name), e.Want)
	if e.What == "grad" {
		// A frozen parameter is written as a nil gradient, not as an
		// empty or zero one (a zero gradient still decays the weights).
		msg += `; a nil grad means "no gradient" and skips its param`
	}
	return msg
}

// nameSuffix is how a message names a named parameter after its index.
func nameSuffix(name string) string {
	if name == "" {
		return ""
	}
	return fmt.Sprintf(" (%q)", name)
}

// Slot names one slice the optimizer knows: a parameter, a gradient, or a
// state slice of a parameter (Kind "state", Key its torch state-dict key).
type Slot struct {
	// Kind is "param", "grad", "state", "grad buffer" (the optimizer's
	// own gradient of the parameter, see Grad) or "added grad" (the
	// argument of AccumulateGrad); for a slice that is no parameter's, the
	// argument's name ("g", "acc"), with Index -1.
	Kind  string
	Index int    // the parameter's index across all groups
	Key   string // the state key, for Kind "state"
	Name  string // the parameter's name, when the params are named
}

func (s Slot) String() string {
	switch {
	case s.Index < 0:
		return s.Kind
	case s.Kind == "state":
		return fmt.Sprintf("the %s state of param %d%s", s.Key, s.Index, nameSuffix(s.Name))
	case s.Kind == "grad buffer":
		return fmt.Sprintf("the gradient buffer of param %d%s", s.Index, nameSuffix(s.Name))
	}
	return fmt.Sprintf("%s %d%s", s.Kind, s.Index, nameSuffix(s.Name))
}

// OverlapError reports two slices that share memory where they must not.
type OverlapError struct {
	Op   string
	A, B Slot
}

func (e *OverlapError) Error() string {
	if e.A.Kind == "grad" {
		return fmt.Sprintf("optim: %s: %v overlaps %v in memory", e.Op, e.A, e.B)
	}
	return fmt.Sprintf("optim: %s: %v and %v overlap in memory", e.Op, e.A, e.B)
}

// IndexError reports a group or parameter index out of range.
type IndexError struct {
	Op    string
	What  string // "group" or "param"
	Index int
	Len   int
}

func (e *IndexError) Error() string {
	return fmt.Sprintf("optim: %s: %s index %d out of range [0, %d)", e.Op, e.What, e.Index, e.Len)
}

// ErrNoMomentum is returned by SetGroupMomentum for a rule without a
// momentum or β1 (Adagrad, Adadelta, Rprop, ASGD).
var ErrNoMomentum = errors.New("optim: the group's rule has no momentum or beta1")

func groupPrefix(g int) string {
	if g < 0 {
		return ""
	}
	return fmt.Sprintf("group %d: ", g)
}

// NonFiniteNormError is ClipGradNorm's error with errorIfNonfinite when the
// total norm is NaN or infinite (torch raises a RuntimeError). No gradient
// has changed.
type NonFiniteNormError struct {
	NormType float64
	Norm     float64
}

func (e *NonFiniteNormError) Error() string {
	return fmt.Sprintf("optim: ClipGradNorm: the total norm of order %v of the gradients is %v, so it cannot be clipped; no gradient was changed", e.NormType, e.Norm)
}

// StateError reports a parameter's state that cannot be restored or
// continued: a step count that is negative or would overflow, a lazily
// created state given in part, a scalar state that is not finite.
type StateError struct {
	Op     string
	Param  int    // the parameter's index across all groups, or -1 for all
	Key    string // the torch state-dict key at fault ("step" for the step count)
	Reason string
	Name   string // the name of param Param, when the params are named
}

func (e *StateError) Error() string {
	if e.Param < 0 {
		return fmt.Sprintf("optim: %s: %s", e.Op, e.Reason)
	}
	return fmt.Sprintf("optim: %s: param %d%s: %s", e.Op, e.Param, nameSuffix(e.Name), e.Reason)
}

// stepCountErr reports param's step count steps (param -1: every
// parameter's), negative or at the largest count an int64 holds.
func stepCountErr(op string, param int, steps int64) error {
	reason := fmt.Sprintf("step count %d is the most an int64 holds: no further step can be counted", steps)
	if steps < 0 {
		reason = fmt.Sprintf("step count %d, want >= 0", steps)
	}
	return &StateError{Op: op, Param: param, Key: "step", Reason: reason}
}

// HeldRateError is the error of Step, StepIfFinite and ScaledStep while a
// group that would step holds a learning rate or momentum that its rule
// cannot step with (see HoldGroupLR): torch's OneCycleLR extrapolates its
// last step to a negative rate, which torch computes and never uses.
// Nothing was written.
// A rate the rule accepts (SetGroupLR, SetLR, SetGroupRule, or the
// scheduler's next step) lets the group step again.
type HeldRateError struct {
	Op    string  // "Step", "StepIfFinite" or "ScaledStep"
	Group int     // the group's index
	Rule  string  // the rule's torch class, as checkpoints name it: "AdamW", "SGD", ...
	Field string  // "LR", or the momentum's field: "Momentum" (SGD, RMSProp) or "Beta1"
	Value float64 // the held value
	By    string  // the scheduler class that set it; "" when a torch checkpoint held it
	Want  string  // what the rule accepts
}

func (e *HeldRateError) Error() string {
	by := "set by " + e.By
	if e.By == "" {
		by = "loaded from a torch checkpoint"
	}
	return fmt.Sprintf("optim: %s: group %d (%s) holds %s = %v, %s, which it cannot step with (want %s): "+
		"set a value it accepts before stepping; nothing was changed", e.Op, e.Group, e.Rule, e.Field, e.Value, by, e.Want)
}

// ParamShapeError reports a parameter shape (Group.Shapes) that does not
// fit: a Shapes list whose length is not the group's number of params, a
// shape whose element count is not its param's length, or a shape the
// group's rule cannot step (Muon needs rows × cols; Muon and Adafactor need
// a shape at all). Nothing was changed.
type ParamShapeError struct {
	Op    string // "New", "NewGroups", "AddGroup"
	Group int    // the group's index
	// Param is the parameter's index across all groups, or -1 when the
	// number of shapes is wrong (Got shapes for Len params).
	Param int
	Shape Shape  // the shape given (nil: none)
	Got   int    // the shape's element count (-1: invalid), or the number of shapes
	Len   int    // the param's length, or the group's number of params
	Rule  string // the rule that cannot step the shape, or ""
	// Reason says what the rule needs, when Rule is set.
	Reason string
	Name   string // the name of param Param, when the params are named
}

func (e *ParamShapeError) Error() string {
	switch {
	case e.Param < 0:
		return fmt.Sprintf("optim: %s: group %d: %d shapes for %d params: give one per param (nil for a flat one), or none", e.Op, e.Group, e.Got, e.Len)
	case e.Rule != "":
		shape := "no shape"
		if e.Shape != nil {
			shape = "shape " + e.Shape.String()
		}
		return fmt.Sprintf("optim: %s: group %d (%s): param %d%s has %s: %s", e.Op, e.Group, e.Rule, e.Param, nameSuffix(e.Name), shape, e.Reason)
	}
	if e.Got < 0 {
		return fmt.Sprintf("optim: %s: group %d: param %d%s: shape %v is not a shape: a dimension is negative, or the element count overflows int", e.Op, e.Group, e.Param, nameSuffix(e.Name), e.Shape)
	}
	return fmt.Sprintf("optim: %s: group %d: param %d%s: shape %v has %d elements, the param has length %d", e.Op, e.Group, e.Param, nameSuffix(e.Name), e.Shape, e.Got, e.Len)
}
