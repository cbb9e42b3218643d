//go:build !noasm

package linalg

import "github.com/simdoptim/optim/internal/cpufeat"

// archKernels returns the assembly micro-kernels this CPU supports, fastest
// first, by internal/cpufeat's predicate; the avx512 set swaps in the
// AVX-512 GEMM, leaf and panel kernels.
func archKernels() []namedKernel {
	var ks []namedKernel
	if cpufeat.AVX512.Supported() {
		ks = append(ks, namedKernel{cpufeat.AVX512.String(), kernelAVX512, trsmLeafAVX512, potrfPanelAVX512, kernelAVX512x2, gemmAVX512_32, gemmAVX512_64})
	}
	if cpufeat.AVX2.Supported() {
		ks = append(ks, namedKernel{cpufeat.AVX2.String(), kernelAVX2, trsmLeafAVX2, potrfPanelAVX2, nil, gemmAVX2_32, gemmAVX2_64})
	}
	return ks
}

// kernelAVX512 checks the slices like kernelAVX2.
func kernelAVX512(k int, a, b, c []float64, ldc int) {
	_ = a[k*mr-1]
	_ = b[k*nr-1]
	_ = c[(mr-1)*ldc+nr-1]
	gemmAVX512(k, &a[0], &b[0], &c[0], ldc)
}

// kernelAVX2 checks the extent of every slice before handing their base
// pointers to the assembly, which trusts them.
func kernelAVX2(k int, a, b, c []float64, ldc int) {
	_ = a[k*mr-1]
	_ = b[k*nr-1]
	_ = c[(mr-1)*ldc+nr-1]
	gemmAVX2(k, &a[0], &b[0], &c[0], ldc)
}

func trsmLeafAVX2(n int, l []float64, ldl int, inv, x []float64) {
	_ = l[(n-1)*ldl+n-1]
	_ = inv[n-1]
	_ = x[n*lanes-1]
	trsmAVX2(n, &l[0], ldl, &inv[0], &x[0])
}

func potrfPanelAVX2(n int, x []float64, ld int) int {
	if ld%4 != 0 || ld < n {
		panic("linalg: panel stride must be a multiple of 4 and at least n")
	}
	_ = x[n*ld-1]
	return potrfAVX2(n, &x[0], ld)
}

// kernelAVX512x2 checks the slices like kernelAVX2.
func kernelAVX512x2(k int, a, b0, b1, c []float64, ldc int) {
	_ = a[k*mr-1]
	_ = b0[k*nr-1]
	_ = b1[k*nr-1]
	_ = c[(mr-1)*ldc+2*nr-1]
	gemmAVX512x2(k, &a[0], &b0[0], &b1[0], &c[0], ldc)
}

func potrfPanelAVX512(n int, x []float64, ld int) int {
	if ld%8 != 0 || ld < n {
		panic("linalg: panel stride must be a multiple of 8 and at least n")
	}
	_ = x[n*ld-1]
	return potrfAVX512(n, &x[0], ld)
}

func trsmLeafAVX512(n int, l []float64, ldl int, inv, x []float64) {
	_ = l[(n-1)*ldl+n-1]
	_ = inv[n-1]
	_ = x[n*lanes-1]
	trsmAVX512(n, &l[0], ldl, &inv[0], &x[0])
}
