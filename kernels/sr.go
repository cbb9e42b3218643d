package kernels

import (
	"math"

	"github.com/simdoptim/optim/generic"
)

// NarrowSR sets dst[i] to src[i] rounded stochastically to format f with
// the random bits sr.Bits(i), for every i < len(dst) (src must be at least
// as long): generic.NarrowSRSlice's bits, with the hash's per-call part
// computed once per run of indices of one upper half (generic.SR.HighKey),
// a quarter of the reference's hashing, and the rounding in line for
// bfloat16 and for float16's normal range.
func NarrowSR(f Format, dst []uint16, src []float32, sr SR) {
	src = src[:len(dst)]
	for len(dst) > 0 {
		// The elements up to the next multiple of 2^32 share the upper
		// half of their index.
		e := sr.Offset
		n := min(uint64(len(dst)), 1<<32-uint64(uint32(e)))
		key, lo := sr.HighKey(uint32(e>>32)), uint32(e)
		if f == BFloat16 {
			narrowSRBF16(dst[:n], src[:n], key, lo)
		} else {
			narrowSRF16(dst[:n], src[:n], key, lo)
		}
		dst, src = dst[n:], src[n:]
		sr.Offset += n
	}
}

// narrowSRBF16 is NarrowSR's bfloat16 rounding of src to dst, elements
// lo, lo+1, ... of an upper half whose key is key: generic.NarrowSR's
// float32 bits plus the random bits' upper 16, truncated, a NaN the
// canonical NaN.
func narrowSRBF16(dst []uint16, src []float32, key, lo uint32) {
	src = src[:len(dst)]
	for i, x := range src {
		b := math.Float32bits(x)
		r := generic.Mix32(key ^ (lo + uint32(i)))
		if b&0x7fff_ffff > 0x7f80_0000 {
			dst[i] = generic.BF16NaN
			continue
		}
		dst[i] = uint16((b + r>>16) >> 16)
	}
}

// narrowSRF16 is narrowSRBF16 for float16. For |x| in float16's normal
// range, [2^-14, 65536), the grid's gap is 2^13 float32 steps, so
// generic.NarrowSR's result is the float32 bits plus the random bits'
// upper 13, truncated to their upper 19 bits and rebiased (a carry into
// the exponent is the next binade's first value, 65536 an infinity); the
// other values (NaNs, zeros, float16's subnormals and overflows) take
// generic.NarrowSR itself.
func narrowSRF16(dst []uint16, src []float32, key, lo uint32) {
	src = src[:len(dst)]
	for i, x := range src {
		b := math.Float32bits(x)
		r := generic.Mix32(key ^ (lo + uint32(i)))
		if a := b & 0x7fff_ffff; a-0x3880_0000 < 0x4780_0000-0x3880_0000 {
			dst[i] = uint16(b>>16)&0x8000 | uint16((a+r>>19)>>13-(127-15)<<10)
			continue
		}
		dst[i] = Float16.NarrowSR(x, r)
	}
}
