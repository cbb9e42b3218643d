package generic

import "math"

// Kernel is the signature shared by every update kernel, portable or SIMD:
// one fused pass over p, g and up to three state slices s0..s2, all of length
// len(p). Slices a variant does not use may be nil. Callers validate lengths
// and aliasing; a kernel assumes them.
type Kernel[T Float] func(v Variant, c *Coeffs[T], p, g, s0, s1, s2 []T)

// lerp is torch's lerp(start, end, w) with comp = T(1)-w:
// start + w*(end-start) when w < 0.5 (high false), else
// end - (end-start)*comp.
func lerp[T Float](start, end, w, comp T, high bool) T {
	if high {
		return end - T((end-start)*comp)
	}
	return start + T(w*(end-start))
}

// MaxNaN is torch.maximum(a, b): NaN if either operand is NaN, otherwise
// b when a < b and a when they compare equal (so maximum(-0, +0) is -0).
func MaxNaN[T Float](a, b T) T {
	if a < b || b != b {
		return b
	}
	return a
}

// sqrt is the correctly rounded square root in T. For float32 the float64
// square root rounded to float32 is correctly rounded (53 >= 2*24+2 bits).
func sqrt[T Float](x T) T { return T(math.Sqrt(float64(x))) }

// Sign is the sign of x as Lion uses it: 1 or -1 for a nonzero x, and x
// itself for a zero (of either sign) or NaN, so that sign(0) = 0 and NaN
// propagates.
func Sign[T Float](x T) T {
	switch {
	case 0 < x:
		return 1
	case x < 0:
		return -1
	}
	return x
}

// abs is |x| with the sign bit cleared, NaN payload kept.
func abs[T Float](x T) T { return T(math.Abs(float64(x))) }
