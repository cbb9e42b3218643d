//go:build !noasm

package linalg

// The Gemm micro-kernels of the neon set. Each wrapper checks the extent of
// every slice before handing the base pointers to the assembly, which
// trusts them.
var (
	gemmNEON32 = gemmSet[float32]{mr: 6, nr: 16, mc: 120, nc: 2048, kern: gemmKernelF32NEON}
	gemmNEON64 = gemmSet[float64]{mr: 6, nr: 8, mc: 96, nc: 2048, kern: gemmKernelF64NEON}
)

func gemmKernelF64NEON(k int, alpha float64, a, b, c []float64, ldc int, over bool) {
	_ = a[k*6-1]
	_ = b[k*8-1]
	_ = c[5*ldc+7]
	gemmF64NEON(k, alpha, &a[0], &b[0], &c[0], ldc, over)
}

func gemmKernelF32NEON(k int, alpha float32, a, b, c []float32, ldc int, over bool) {
	_ = a[k*6-1]
	_ = b[k*16-1]
	_ = c[5*ldc+15]
	gemmF32NEON(k, alpha, &a[0], &b[0], &c[0], ldc, over)
}
