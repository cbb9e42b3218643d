// Package linalg holds the dense linear algebra behind optim's Newton step: a
// recursive Cholesky factorization whose updates run on a register-tiled,
// packed GEMM micro-kernel (portable Go everywhere, AVX2+FMA assembly on
// amd64), the two single-right-hand-side triangular solves, and a damped
// solver for (H + τI)d = −g that shifts an indefinite H just enough.
//
// Matrices are dense, row-major, with a row stride equal to their order n;
// only the lower triangle of a symmetric matrix is read.
//
// Every micro-kernel computes each element of its tile as one chain of fused
// multiply-adds in increasing k, starting from +0, and subtracts the chain
// from C at the end. The portable kernel does the same with math.FMA, so all
// kernels, and therefore the whole factorization, give identical bits on one
// architecture whatever OPTIM_ISA selects. (Go may fuse the plain a*b+c of the
// unblocked parts into an FMA on arm64 but not on amd64, so results may
// differ in the last bits between architectures.)
package linalg
