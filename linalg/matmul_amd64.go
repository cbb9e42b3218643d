//go:build !noasm

package linalg

// The Gemm micro-kernels of the amd64 sets. Each wrapper checks the extent
// of every slice before handing the base pointers to the assembly, which
// trusts them. The block sizes keep a packed B micro-panel (GemmKC·nr) in
// L1 and the packed A block (mc·GemmKC) in L2.
var (
	gemmAVX2_32   = gemmSet[float32]{mr: 6, nr: 16, mc: 120, nc: 3072, kern: gemmKernelF32AVX2}
	gemmAVX2_64   = gemmSet[float64]{mr: 6, nr: 8, mc: 96, nc: 2048, kern: gemmKernelF64AVX2}
	gemmAVX512_32 = gemmSet[float32]{mr: 12, nr: 32, mc: 192, nc: 3072, kern: gemmKernelF32AVX512, packRows: packRowsF32AVX512}
	gemmAVX512_64 = gemmSet[float64]{mr: 12, nr: 16, mc: 120, nc: 2048, kern: gemmKernelF64AVX512}
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

// packRowsF32AVX512 is packRows for the AVX-512 float32 kernel's panels of
// 12 rows: each full panel's first k/16·16 columns go through
// packRows12F32, the rest (and partial panels) through the portable loops.
func packRowsF32AVX512(dst, src []float32, ld, rows, k, w int) {
	k16 := k / 16 * 16
	if w != 12 || k16 == 0 {
		packRows(dst, src, ld, rows, k, w)
		return
	}
	for r0 := 0; r0 < rows; r0 += 12 {
		panel := dst[r0*k : (r0+12)*k]
		if rows-r0 < 12 {
			packRows(panel, src[r0*ld:], ld, rows-r0, k, 12)
			continue
		}
		_ = src[(r0+11)*ld+k-1]
		packRows12F32(&panel[0], &src[r0*ld], ld, k16)
		for p := k16; p < k; p++ {
			d := panel[p*12 : p*12+12 : p*12+12]
			for i := range d {
				d[i] = src[(r0+i)*ld+p]
			}
		}
	}
}
