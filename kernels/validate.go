package kernels

import "fmt"

// CoeffError reports a coefficient that the kernels do not define: one the
// assembly sets would read differently from package generic, so that the
// result would depend on the set. The validated layer refuses it before
// writing anything.
type CoeffError struct {
	Kind  Kind    // the rule called
	Field string  // the Coeffs field, e.g. "Sign"
	Value float64 // its value
	Want  string  // what the kernels define
}

func (e *CoeffError) Error() string {
	return fmt.Sprintf("kernels: %v: coefficient %s = %v, want %s", e.Kind, e.Field, e.Value, e.Want)
}

// checkCoeffs returns a *CoeffError for the first coefficient the kernels
// do not define. Only Sign has such values: the assembly XORs its bits into
// every gradient while generic tests its sign bit, and the two agree only
// for +0 and -0. Every other field is an operand of the same IEEE
// operations in every set (TestOtherCoefficientsAgree), so any value,
// NaN and infinities included, is defined.
func checkCoeffs[T Float](kind Kind, c *Coeffs[T]) error {
	if c.Sign != 0 {
		return &CoeffError{Kind: kind, Field: "Sign", Value: float64(c.Sign), Want: "+0, or -0 to maximize"}
	}
	return nil
}
