package schedule

import "fmt"

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
