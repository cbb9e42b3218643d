package optim

import (
	"errors"
	"fmt"
)

// The errors below are returned (wrapped in nothing) by New, NewGroups,
// Step and the other methods, so that callers can use errors.As and read
// which group, parameter, field or value was wrong. Their messages name the
// same things.

// HyperparameterError reports a rule field outside its valid range, or a
// value that would be infinite or zero once rounded to the element type.
type HyperparameterError struct {
	// Group is the index of the group whose rule it is, or -1 where there
	// is no optimizer (Coefficients).
	Group int
	Rule  string  // the rule type: "SGD", "Adam", "NAdam", ... (ruleName)
	Field string  // the Go field name, e.g. "Beta1"
	Value float64 // the rejected value
	Want  string  // the valid range, in words
}

func (e *HyperparameterError) Error() string {
	return fmt.Sprintf("optim: %s%s.%s = %v, want %s", groupPrefix(e.Group), e.Rule, e.Field, e.Value, e.Want)
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
	// "grad" or a state key such as "exp_avg".
	What  string
	Index int
	Got   int // the count or length given
	Want  int // the count or length required
}

func (e *ShapeError) Error() string {
	if e.Index < 0 {
		return fmt.Sprintf("optim: %s: got %d %s for %d params", e.Op, e.Got, e.What, e.Want)
	}
	return fmt.Sprintf("optim: %s: %s %d has length %d, param %d has length %d", e.Op, e.What, e.Index, e.Got, e.Index, e.Want)
}

// Slot names one slice the optimizer knows: a parameter, a gradient, or a
// state slice of a parameter (Kind "state", Key its torch state-dict key).
type Slot struct {
	Kind  string // "param", "grad" or "state"
	Index int    // the parameter's index across all groups
	Key   string // the state key, for Kind "state"
}

func (s Slot) String() string {
	if s.Kind == "state" {
		return fmt.Sprintf("the %s state of param %d", s.Key, s.Index)
	}
	return fmt.Sprintf("%s %d", s.Kind, s.Index)
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

// StepCountError reports a step count that is negative or would overflow.
type StepCountError struct {
	Op    string
	Param int   // the parameter whose count is wrong, or -1 for all
	Steps int64 // the offending count
}

func (e *StepCountError) Error() string {
	if e.Steps < 0 {
		return fmt.Sprintf("optim: %s: step count %d, want >= 0", e.Op, e.Steps)
	}
	return fmt.Sprintf("optim: %s: param %d has taken %d steps, the most an int64 step count can hold", e.Op, e.Param, e.Steps)
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

// ArgumentError reports an argument outside its valid range.
type ArgumentError struct {
	Func  string  // the function called, e.g. "ClipGradNorm"
	Arg   string  // the argument, e.g. "maxNorm"
	Value float64 // its value
	Want  string  // the valid range, e.g. ">= 0"
}

func (e *ArgumentError) Error() string {
	return fmt.Sprintf("optim: %s: %s = %v, want %s", e.Func, e.Arg, e.Value, e.Want)
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

// StateError reports a State that SetState cannot restore: a lazily
// created state given in part, or a scalar state that is not finite.
type StateError struct {
	Op     string
	Param  int    // the parameter's index across all groups
	Key    string // the torch state-dict key at fault
	Reason string
}

func (e *StateError) Error() string {
	return fmt.Sprintf("optim: %s: param %d: %s", e.Op, e.Param, e.Reason)
}
