package generic

import "math"

// This file specifies the low-precision storage formats, bfloat16 and
// IEEE binary16 (float16), and their conversions to and from float32, bit
// for bit. A value of either format is held as its 16 bits in a uint16;
// package optim gives them the named types BFloat16 and Float16, and every
// kernel set reproduces these functions (the bulk ones below) exactly.
//
// # Narrowing (float32 to 16 bits)
//
// Both narrowings round to nearest, ties to even, whatever the CPU's
// rounding mode; a finite value too large for the format becomes an
// infinity of its sign, and a value too small becomes a zero of its sign.
// float16 has subnormals (down to 2^-24), which are rounded as such;
// bfloat16 has float32's exponent range, so a float32 subnormal rounds to
// a bfloat16 subnormal (never flushed to zero).
//
// Every NaN, whatever its sign and payload, becomes the format's one
// canonical NaN: the positive quiet NaN with only the quiet bit set,
// BF16NaN (0x7FC0) and F16NaN (0x7E00). The sign is not kept. torch is not
// consistent here: its scalar bfloat16 code gives 0x7FC0 and its vectorized
// code 0xFFFF, and its float16 conversion keeps the sign (0xFE00 for a
// negative NaN); hardware conversions (F16C's VCVTPS2PH, AVX512_BF16's
// VCVTNEPS2BF16, NEON's FCVTN) keep the sign and part of the payload. One
// value that depends on nothing is the only choice every set can give.
//
// # Widening (16 bits to float32)
//
// Widening is exact: every bfloat16 and float16 value, subnormals
// included, is a float32. A bfloat16 becomes the float32 whose upper 16
// bits are its bits and whose lower 16 bits are zero, NaNs included (a
// signaling NaN stays signaling), as torch does. A float16 NaN keeps its
// sign and payload (shifted into float32's upper mantissa bits) and is
// made quiet (the quiet bit set), as torch does on x86 (and as F16C's
// VCVTPH2PS and NEON's FCVTL do).

// The canonical NaNs that every narrowing gives for any NaN: positive,
// quiet, no payload.
const (
	BF16NaN uint16 = 0x7FC0
	F16NaN  uint16 = 0x7E00
)

// BF16FromFloat32 is x rounded to bfloat16, to nearest even; a NaN gives
// BF16NaN.
func BF16FromFloat32(x float32) uint16 {
	if x != x {
		return BF16NaN
	}
	b := math.Float32bits(x)
	// Round to nearest even at bit 16: add half an ulp less one, plus the
	// kept part's lowest bit. A carry out of the mantissa increments the
	// exponent, which is right (MaxFloat32 rounds to +Inf).
	return uint16((b + 0x7FFF + (b>>16)&1) >> 16)
}

// Float32FromBF16 is the float32 value of bfloat16 bits h: exact, NaN bits
// included.
func Float32FromBF16(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F16FromFloat32 is x rounded to IEEE binary16, to nearest even, with
// subnormals, overflow to an infinity of x's sign and a NaN to F16NaN.
func F16FromFloat32(x float32) uint16 {
	b := math.Float32bits(x)
	sign := uint16(b>>16) & 0x8000
	a := b & 0x7FFFFFFF
	switch {
	case a > 0x7F800000:
		return F16NaN
	case a >= 0x47800000: // |x| >= 65536, infinities included
		return sign | 0x7C00
	case a >= 0x38800000: // |x| >= 2^-14: a normal float16 unless it rounds up to +Inf
		// Round to nearest even at bit 13, then rebias the exponent from
		// 127 to 15. A carry out of the mantissa increments the exponent:
		// 65520 and up give 0x7C00, the infinity.
		r := a + 0xFFF + (a>>13)&1
		return sign | uint16((r>>13)-(127-15)<<10)
	case a <= 0x33000000: // |x| <= 2^-25, half the smallest subnormal: rounds to zero (a tie goes to even, 0)
		return sign
	}
	// A subnormal float16: |x| in units of 2^-24, rounded to nearest even.
	// |x| = m * 2^(e-150) with the implicit bit in m, so the units are
	// m >> (126-e).
	e := a >> 23
	m := a&0x7FFFFF | 0x800000
	s := 126 - e // 14..24
	q, rem, half := m>>s, m&(1<<s-1), uint32(1)<<(s-1)
	if rem > half || rem == half && q&1 == 1 {
		q++ // may become 0x400, the smallest normal, which is its encoding
	}
	return sign | uint16(q)
}

// Float32FromF16 is the float32 value of float16 bits h: exact; a NaN keeps
// its sign and payload and is made quiet.
func Float32FromF16(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	e := uint32(h>>10) & 0x1F
	m := uint32(h & 0x3FF)
	switch {
	case e == 0x1F && m == 0:
		return math.Float32frombits(sign | 0x7F800000)
	case e == 0x1F:
		return math.Float32frombits(sign | 0x7FC00000 | m<<13)
	case e == 0 && m == 0:
		return math.Float32frombits(sign)
	case e == 0:
		// A subnormal: m * 2^-24, a normal float32. Normalize m.
		e = 127 - 14
		for m&0x400 == 0 {
			m <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (m&0x3FF)<<13)
	}
	return math.Float32frombits(sign | (e+127-15)<<23 | m<<13)
}

// NarrowBF16 sets dst[i] = BF16FromFloat32(src[i]) for every i < len(dst);
// src must be at least as long.
func NarrowBF16(dst []uint16, src []float32) {
	src = src[:len(dst)]
	for i, x := range src {
		dst[i] = BF16FromFloat32(x)
	}
}

// WidenBF16 sets dst[i] = Float32FromBF16(src[i]) for every i < len(dst);
// src must be at least as long.
func WidenBF16(dst []float32, src []uint16) {
	src = src[:len(dst)]
	for i, h := range src {
		dst[i] = Float32FromBF16(h)
	}
}

// NarrowF16 sets dst[i] = F16FromFloat32(src[i]) for every i < len(dst);
// src must be at least as long.
func NarrowF16(dst []uint16, src []float32) {
	src = src[:len(dst)]
	for i, x := range src {
		dst[i] = F16FromFloat32(x)
	}
}

// WidenF16 sets dst[i] = Float32FromF16(src[i]) for every i < len(dst);
// src must be at least as long.
func WidenF16(dst []float32, src []uint16) {
	src = src[:len(dst)]
	for i, h := range src {
		dst[i] = Float32FromF16(h)
	}
}
