// Package detmath computes cos, sin, exp, log and pow with the same bits on
// every architecture.
//
// Go's math.Cos, Exp, Log and Pow may fuse a*b+c into one instruction, and
// the compiler does so on arm64, so their last bits depend on the CPU. A
// learning-rate schedule or a rule's per-step scalar (NAdam's 0.96^(t·ψ),
// ASGD's (1+λ·lr·t)^α, RAdam's ρ) feeds every kernel, so it must not.
//
// Everything here is +, -, *, / on float64 and exact integer or bit
// operations; every product that feeds a sum is wrapped in float64(...),
// which the Go specification says rounds and so forbids fusion (the
// package's assembly for arm64, amd64 at GOAMD64=v3, ppc64le, s390x and
// riscv64 has no fused multiply-add). TestDeterminism pins the bits.
//
// Accuracy: each function works in double-double arithmetic (an unevaluated
// sum of two float64s, about 106 bits; Dekker/Knuth two-sum and Veltkamp's
// two-product) and rounds once at the end (also into the subnormals), so its
// error is within 1 ulp for every finite argument and in practice within
// 1/2: against math/big, 2.2 million arguments (DETMATH_SWEEP=100000) gave
// a largest error of 0.500000 ulp and no result that was not the correctly
// rounded one, though correct rounding is not guaranteed. Cos and Sin use
// Payne-Hanek reduction with 1280 bits of 2/π, so this holds for every
// finite x, 1e300 included. Special values (NaN, ±Inf, ±0, overflow,
// underflow through the subnormals) are those the math package documents.
//
// Speed is secondary (these run once per step, not per parameter): a few
// hundred ns per call, 10-25 times math's.
package detmath
