// Package gonum compares the optim module's dense algebra with gonum's:
// the same Cholesky factor (to rounding) and the speed of each, in one
// run, and the same for the product C = A·B (linalg.Gemm against gonum's
// blas32/blas64 Gemm). It is a module of its own, so that the library's
// module graph has no gonum (whose go.mod in turn requires its plotting
// module).
package gonum
