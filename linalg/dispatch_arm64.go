//go:build !noasm

package linalg

// archKernels returns the assembly kernels of arm64, where NEON (ASIMD) is
// architectural: the NEON GEMM micro-kernel with the portable leaf and
// panel kernels (the bits are the same as the all-portable set's), and
// the NEON Gemm micro-kernels.
func archKernels() []namedKernel {
	return []namedKernel{{"neon", kernelNEON, trsmGeneric, potrfGeneric, nil, gemmNEON32, gemmNEON64}}
}

// kernelNEON checks the extent of every slice before handing their base
// pointers to the assembly, which trusts them.
func kernelNEON(k int, a, b, c []float64, ldc int) {
	_ = a[k*mr-1]
	_ = b[k*nr-1]
	_ = c[(mr-1)*ldc+nr-1]
	gemmNEON(k, &a[0], &b[0], &c[0], ldc)
}
