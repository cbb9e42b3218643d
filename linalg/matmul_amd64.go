//go:build !noasm

package linalg

// The Gemm micro-kernels of the amd64 sets. Each wrapper checks the extent
// of every slice before handing the base pointers to the assembly, which
// trusts them. The block sizes keep a packed B micro-panel (GemmKC·nr) in
// L1 and the packed A block (mc·GemmKC) in L2.
var (
	gemmAVX2_32   = gemmSet[float32]{mr: 6, nr: 16, mc: 120, nc: 3072, kern: gemmKernelF32AVX2, prefetch: gemmPrefetch}
	gemmAVX2_64   = gemmSet[float64]{mr: 6, nr: 8, mc: 96, nc: 2048, kern: gemmKernelF64AVX2, prefetch: gemmPrefetch}
	gemmAVX512_32 = gemmSet[float32]{mr: 12, nr: 32, mc: 192, nc: 3072, kern: gemmKernelF32AVX512, prefetch: gemmPrefetch}
	gemmAVX512_64 = gemmSet[float64]{mr: 12, nr: 16, mc: 120, nc: 2048, kern: gemmKernelF64AVX512, prefetch: gemmPrefetch}
)

func gemmKernelF64AVX2(k int, alpha float64, a, b, c []float64, ldc int, over bool) {
	_ = a[k*6-1]
	_ = b[k*8-1]
	_ = c[5*ldc+7]
	gemmF64AVX2(k, alpha, &a[0], &b[0], &c[0], ldc, over)
}

func gemmKernelF32AVX2(k int, alpha float32, a, b, c []float32, ldc int, over bool) {
	_ = a[k*6-1]
	_ = b[k*16-1]
	_ = c[5*ldc+15]
	gemmF32AVX2(k, alpha, &a[0], &b[0], &c[0], ldc, over)
}

func gemmKernelF64AVX512(k int, alpha float64, a, b, c []float64, ldc int, over bool) {
	_ = a[k*12-1]
	_ = b[k*16-1]
	_ = c[11*ldc+15]
	gemmF64AVX512(k, alpha, &a[0], &b[0], &c[0], ldc, over)
}

func gemmKernelF32AVX512(k int, alpha float32, a, b, c []float32, ldc int, over bool) {
	_ = a[k*12-1]
	_ = b[k*32-1]
	_ = c[11*ldc+31]
	gemmF32AVX512(k, alpha, &a[0], &b[0], &c[0], ldc, over)
}
