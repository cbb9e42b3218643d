package linalg

import "fmt"

// NotPositiveDefiniteError reports that a Cholesky factorization met a pivot
// that is not positive: the matrix (or its shifted form) is not positive
// definite.
type NotPositiveDefiniteError struct {
	// Index is the 0-based row and column of the failing pivot.
	Index int
	// Pivot is the value that should have been L[Index][Index]²: the diagonal
	// entry of the Schur complement left after eliminating rows 0..Index-1.
	// The smallest eigenvalue of the matrix is at most Pivot, so a shift of
	// the diagonal by more than −Pivot is needed to make it positive definite.
	Pivot float64
}

func (e *NotPositiveDefiniteError) Error() string {
	return fmt.Sprintf("matrix is not positive definite: pivot %d is %g", e.Index, e.Pivot)
}
