package linalg

import "math"

// gemmKernel is a micro-kernel of Gemm: for i < mr, j < nr it sets
//
//	c[i*ldc+j] = fma(alpha, s, c[i*ldc+j]),  s = Σ_p a[p*mr+i]·b[p*nr+j]
//
// with s one FMA chain in increasing p = 0..k−1 from +0. a and b are packed
// micro-panels of length k·mr and k·nr; k ≥ 1. With over set the kernel
// does not read C and sets c[i*ldc+j] = fma(alpha, s, +0): the first k
// block of a product with beta = 0, which is then neither cleared first
// nor read back.
type gemmKernel[T float32 | float64] func(k int, alpha T, a, b, c []T, ldc int, over bool)

// gemmSet is one kernel set's Gemm micro-kernel for T with its tile (mr×nr)
// and the blocks of C it packs for (mc rows of A, a multiple of mr; nc
// columns of B, a multiple of nr). The block sizes change the speed only:
// the bits are fixed by GemmKC and the operation order.
type gemmSet[T float32 | float64] struct {
	mr, nr, mc, nc int
	kern           gemmKernel[T]
	// packRows, if not nil, replaces packRows for the blocks of A (not
	// transposed) with the same result.
	packRows func(dst, src []T, ld, rows, k, w int)
}

// The Gemm kernels in use, from the chosen set; tests swap them.
var (
	gemm32 = chosen.g32
	gemm64 = chosen.g64
)

// gemmSetFor returns the kernel set in use for T.
func gemmSetFor[T float32 | float64]() *gemmSet[T] {
	var z T
	if _, ok := any(z).(float32); ok {
		return any(&gemm32).(*gemmSet[T])
	}
	return any(&gemm64).(*gemmSet[T])
}

var (
	gemmGeneric32 = gemmSet[float32]{mr: 4, nr: 4, mc: 64, nc: 1024, kern: gemmKernelGeneric32}
	gemmGeneric64 = gemmSet[float64]{mr: 4, nr: 4, mc: 64, nc: 1024, kern: gemmKernelGeneric64}
)

// fma32 is x·y + z rounded once to float32, as the hardware's single
// precision FMA computes it. x·y is exact in float64; s = x·y + z rounded
// to float64 and its error e (s + e = x·y + z exactly, by TwoSum) give the
// sum rounded to odd in float64 (s, or its neighbour towards e when e ≠ 0
// and s is even), and rounding that to float32 is the correctly rounded
// result, float64 having more than 24+2 bits (Boldo and Melquiond, 2008).
func fma32(x, y, z float32) float32 {
	p := float64(x) * float64(y)
	zz := float64(z)
	s := p + zz
	if math.IsInf(s, 0) || math.IsNaN(s) {
		return float32(s)
	}
	bb := s - p
	e := (p - (s - bb)) + (zz - bb)
	if e != 0 {
		bits := math.Float64bits(s)
		if bits&1 == 0 {
			if (e > 0) == (s > 0) {
				bits++
			} else {
				bits--
			}
			s = math.Float64frombits(bits)
		}
	}
	return float32(s)
}

// fmaT is fma32 or math.FMA.
func fmaT[T float32 | float64](x, y, z T) T {
	if _, ok := any(x).(float32); ok {
		return T(fma32(float32(x), float32(y), float32(z)))
	}
	return T(math.FMA(float64(x), float64(y), float64(z)))
}

// gemmReference is the specification of Gemm's arithmetic, element by
// element, on validated arguments: every kernel set must give its bits.
func gemmReference[T float32 | float64](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	opA := func(i, p int) T {
		if transA {
			return a[p*lda+i]
		}
		return a[i*lda+p]
	}
	opB := func(p, j int) T {
		if transB {
			return b[j*ldb+p]
		}
		return b[p*ldb+j]
	}
	for i := range m {
		for j := range n {
			cij := &c[i*ldc+j]
			switch beta {
			case 0:
				*cij = 0
			case 1:
			default:
				*cij *= beta
			}
			if alpha == 0 {
				continue
			}
			for p0 := 0; p0 < k; p0 += GemmKC {
				var s T
				for p := p0; p < min(p0+GemmKC, k); p++ {
					s = fmaT(opA(i, p), opB(p, j), s)
				}
				*cij = fmaT(alpha, s, *cij)
			}
		}
	}
}

// gemmKernelGeneric64 is the portable float64 micro-kernel (4×4).
func gemmKernelGeneric64(k int, alpha float64, a, b, c []float64, ldc int, over bool) {
	const mr, nr = 4, 4
	a = a[:k*mr]
	b = b[:k*nr]
	_ = c[(mr-1)*ldc+nr-1]
	for i := range mr {
		var s0, s1, s2, s3 float64
		for p := range k {
			ai := a[p*mr+i]
			bp := b[p*nr : p*nr+4 : p*nr+4]
			s0 = math.FMA(ai, bp[0], s0)
			s1 = math.FMA(ai, bp[1], s1)
			s2 = math.FMA(ai, bp[2], s2)
			s3 = math.FMA(ai, bp[3], s3)
		}
		r := c[i*ldc : i*ldc+4 : i*ldc+4]
		if over {
			r[0] = math.FMA(alpha, s0, 0)
			r[1] = math.FMA(alpha, s1, 0)
			r[2] = math.FMA(alpha, s2, 0)
			r[3] = math.FMA(alpha, s3, 0)
			continue
		}
		r[0] = math.FMA(alpha, s0, r[0])
		r[1] = math.FMA(alpha, s1, r[1])
		r[2] = math.FMA(alpha, s2, r[2])
		r[3] = math.FMA(alpha, s3, r[3])
	}
}

// gemmKernelGeneric32 is the portable float32 micro-kernel (4×4).
func gemmKernelGeneric32(k int, alpha float32, a, b, c []float32, ldc int, over bool) {
	const mr, nr = 4, 4
	a = a[:k*mr]
	b = b[:k*nr]
	_ = c[(mr-1)*ldc+nr-1]
	for i := range mr {
		var s0, s1, s2, s3 float32
		for p := range k {
			ai := a[p*mr+i]
			bp := b[p*nr : p*nr+4 : p*nr+4]
			s0 = fma32(ai, bp[0], s0)
			s1 = fma32(ai, bp[1], s1)
			s2 = fma32(ai, bp[2], s2)
			s3 = fma32(ai, bp[3], s3)
		}
		r := c[i*ldc : i*ldc+4 : i*ldc+4]
		if over {
			r[0] = fma32(alpha, s0, 0)
			r[1] = fma32(alpha, s1, 0)
			r[2] = fma32(alpha, s2, 0)
			r[3] = fma32(alpha, s3, 0)
			continue
		}
		r[0] = fma32(alpha, s0, r[0])
		r[1] = fma32(alpha, s1, r[1])
		r[2] = fma32(alpha, s2, r[2])
		r[3] = fma32(alpha, s3, r[3])
	}
}
