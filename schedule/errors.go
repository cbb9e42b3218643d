package schedule

import (
	"fmt"
	"strings"
)

// ArgError reports an invalid argument of a spec: which spec, which field,
// the offending value and the allowed range. New returns it (wrapped by
// nothing), so errors.As finds it.
type ArgError struct {
	Spec  string // torch's class name, e.g. "StepLR"; nested specs read "SequentialLR.Schedulers[1].StepLR"
	Field string // the Go field name, with an index for slices: "MaxLR[1]"
	Value any    // the offending value (a length for a slice of the wrong length)
	Want  string // the allowed range
}

func (e *ArgError) Error() string {
	return fmt.Sprintf("schedule: %s.%s = %v, want %s", e.Spec, e.Field, e.Value, e.Want)
}

func argErr(spec, field string, value any, want string) error {
	return &ArgError{Spec: spec, Field: field, Value: value, Want: want}
}

// StepError reports a step that cannot be taken, at New (its initial step),
// Step, StepMetric or Restore: one torch raises on (OneCycleLR stepped past
// TotalSteps), one that computes a rate or momentum that is not finite, or
// one whose values the target refuses. Nothing changed: the target and the
// scheduler are as they were.
type StepError struct {
	Op string // "New", "Step", "StepMetric" or "Restore"
	// Spec is the scheduler at fault, named after torch's class; nested
	// ones read "SequentialLR.Schedulers[1].OneCycleLR".
	Spec string
	// Step counts the user's calls of Step or StepMetric since New,
	// including this one: 1 for the first. 0 for New and Restore.
	Step   int
	Group  int    // the group at fault, or -1
	Reason string // what went wrong
	Err    error  // the target's refusal, when that is the cause
}

func (e *StepError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "schedule: %s: ", e.Spec)
	if e.Op == "Step" || e.Op == "StepMetric" {
		fmt.Fprintf(&b, "%s call %d: ", e.Op, e.Step)
	} else {
		fmt.Fprintf(&b, "%s: ", e.Op)
	}
	// The target's errors may name the group themselves (the optimizer's
	// do): it is said once.
	if e.Group >= 0 && (e.Err == nil || !strings.Contains(e.Err.Error(), fmt.Sprintf("group %d", e.Group))) {
		fmt.Fprintf(&b, "group %d: ", e.Group)
	}
	b.WriteString(e.Reason)
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *StepError) Unwrap() error { return e.Err }

// stepErr is a StepError of spec, about group (-1: none); the Scheduler
// fills in the operation and the call.
func stepErr(spec string, group int, format string, args ...any) *StepError {
	return &StepError{Spec: spec, Group: group, Reason: fmt.Sprintf(format, args...)}
}
