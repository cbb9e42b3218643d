package generic

import (
	"math"
	"testing"
)

func TestLowpSpecialValues(t *testing.T) {
	nan := func(bits uint32) float32 { return math.Float32frombits(bits) }
	for _, tc := range []struct {
		in       uint32
		bf, half uint16
	}{
		{0x3F800000, 0x3F80, 0x3C00}, // 1
		{0x80000000, 0x8000, 0x8000}, // -0
		{0x3F808000, 0x3F80, 0x3C04}, // a bfloat16 tie, to even (down)
		{0x3F818000, 0x3F82, 0x3C0C}, // a bfloat16 tie, to even (up)
		{0x3F808001, 0x3F81, 0x3C04}, // above the tie
		{0x3F801000, 0x3F80, 0x3C00}, // a float16 tie, to even (down)
		{0x3F803000, 0x3F80, 0x3C02}, // a float16 tie, to even (up)
		{0x7F7FFFFF, 0x7F80, 0x7C00}, // MaxFloat32 rounds to +Inf
		{0x477FE000, 0x4780, 0x7BFF}, // 65504, float16's largest
		{0x477FEFFF, 0x4780, 0x7BFF}, // just below float16's overflow threshold
		{0x477FF000, 0x4780, 0x7C00}, // 65520 rounds to +Inf
		{0xC77FF000, 0xC780, 0xFC00}, // -65520 rounds to -Inf
		{0xFF800000, 0xFF80, 0xFC00}, // -Inf
		{0x7FC00000, 0x7FC0, 0x7E00}, // quiet NaN
		{0xFFFFFFFF, 0x7FC0, 0x7E00}, // negative NaN with a payload
		{0x7F800001, 0x7FC0, 0x7E00}, // signaling NaN
		{0x38800000, 0x3880, 0x0400}, // 2^-14, float16's smallest normal
		{0x387FC000, 0x3880, 0x03FF}, // float16's largest subnormal
		{0x387FE000, 0x3880, 0x0400}, // a tie between them, to even (up)
		{0x33800000, 0x3380, 0x0001}, // 2^-24, the smallest subnormal
		{0x33000000, 0x3300, 0x0000}, // 2^-25: a tie, to even (zero)
		{0x33000001, 0x3300, 0x0001}, // above it
		{0xB3C00000, 0xB3C0, 0x8002}, // -1.5 * 2^-24: a tie, to even (2)
		{0x33A00000, 0x33A0, 0x0001}, // 1.25 * 2^-24
		{0x00018000, 0x0002, 0x0000}, // a float32 subnormal: a bfloat16 tie, to even (up)
		{0x00008000, 0x0000, 0x0000}, // a float32 subnormal: a tie, to even (zero)
		{0x807FFFFF, 0x8080, 0x8000}, // the largest float32 subnormal rounds to -2^-126
	} {
		x := nan(tc.in)
		if got := BF16FromFloat32(x); got != tc.bf {
			t.Errorf("BF16FromFloat32(%#08x) = %#04x, want %#04x", tc.in, got, tc.bf)
		}
		if got := F16FromFloat32(x); got != tc.half {
			t.Errorf("F16FromFloat32(%#08x) = %#04x, want %#04x", tc.in, got, tc.half)
		}
	}
	for _, tc := range []struct {
		h        uint16
		bf, half uint32
	}{
		{0x0001, 0x00010000, 0x33800000},
		{0x03FF, 0x03FF0000, 0x387FC000},
		{0x8200, 0x82000000, 0xB8000000},
		{0x7C00, 0x7C000000, 0x7F800000},
		{0xFC00, 0xFC000000, 0xFF800000},
		{0x7C01, 0x7C010000, 0x7FC02000}, // a float16 signaling NaN is made quiet, payload kept
		{0xFE00, 0xFE000000, 0xFFC00000},
		{0x7F81, 0x7F810000, 0x7FC00000 | 0x381<<13}, // a bfloat16 signaling NaN stays signaling
	} {
		if got := math.Float32bits(Float32FromBF16(tc.h)); got != tc.bf {
			t.Errorf("Float32FromBF16(%#04x) = %#08x, want %#08x", tc.h, got, tc.bf)
		}
		if got := math.Float32bits(Float32FromF16(tc.h)); got != tc.half {
			t.Errorf("Float32FromF16(%#04x) = %#08x, want %#08x", tc.h, got, tc.half)
		}
	}
}

// TestLowpRoundTrip: widening is exact, so narrowing a widened value gives
// back its bits, for every non-NaN value of both formats; NaNs give the
// canonical NaN.
func TestLowpRoundTrip(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		x, y := Float32FromBF16(h), Float32FromF16(h)
		if want := h; x != x {
			want = BF16NaN
			if got := BF16FromFloat32(x); got != want {
				t.Fatalf("bfloat16 %#04x: round trip gives %#04x", h, got)
			}
		} else if got := BF16FromFloat32(x); got != want {
			t.Fatalf("bfloat16 %#04x: round trip gives %#04x", h, got)
		}
		want := h
		if y != y {
			want = F16NaN
		}
		if got := F16FromFloat32(y); got != want {
			t.Fatalf("float16 %#04x: round trip gives %#04x", h, got)
		}
		// Widening is exact: float16 -> float64 by value agrees.
		if y == y && float64(y) != f16Value(h) {
			t.Fatalf("Float32FromF16(%#04x) = %v, want %v", h, y, f16Value(h))
		}
	}
}

// f16Value is the value of float16 bits h by the definition of the format.
func f16Value(h uint16) float64 {
	s := 1.0
	if h&0x8000 != 0 {
		s = -1
	}
	e, m := int(h>>10&0x1F), float64(h&0x3FF)
	switch e {
	case 31:
		return s * math.Inf(1)
	case 0:
		return s * math.Ldexp(m, -24)
	}
	return s * math.Ldexp(1024+m, e-25)
}

// TestF16FromFloat32ByValue checks the float16 narrowing against rounding
// by value, computed in float64, on every float32 exponent with many
// mantissas.
func TestF16FromFloat32ByValue(t *testing.T) {
	for e := uint32(0); e < 255; e++ {
		for m := uint32(0); m < 1<<23; m += 997 {
			for _, sign := range []uint32{0, 1 << 31} {
				b := sign | e<<23 | m
				x := math.Float32frombits(b)
				got := F16FromFloat32(x)
				want := f16ByValue(float64(x))
				if got != want {
					t.Fatalf("F16FromFloat32(%#08x) = %#04x, want %#04x", b, got, want)
				}
			}
		}
	}
}

// f16ByValue rounds x to float16 by searching the two neighbours.
func f16ByValue(x float64) uint16 {
	var sign uint16
	if math.Signbit(x) {
		sign, x = 0x8000, -x
	}
	// The largest float16 magnitude not above x.
	lo, hi := 0, 0x7C00
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if f16Value(uint16(mid)) <= x {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	below := lo
	if f16Value(uint16(below)) == x || below == 0x7C00 {
		return sign | uint16(below)
	}
	above := below + 1
	// Overflow: the threshold is 65520, the midpoint to the next power.
	upper := f16Value(uint16(above))
	if above == 0x7C00 {
		upper = 65536
	}
	d0, d1 := x-f16Value(uint16(below)), upper-x
	if d0 < d1 || d0 == d1 && below&1 == 0 {
		return sign | uint16(below)
	}
	return sign | uint16(above)
}

// TestLowpSignSymmetry: narrowing -x gives the bits of narrowing x with the
// sign bit set, for every x but a NaN (which gives the canonical NaN
// whatever its sign), on every exponent with many mantissas. The kernels'
// exhaustive test (kernels/lowp_test.go) relies on it to evaluate the
// reference on half the inputs.
func TestLowpSignSymmetry(t *testing.T) {
	for b := uint32(0); b < 1<<31; b += 4093 {
		x, y := math.Float32frombits(b), math.Float32frombits(b|1<<31)
		for _, f := range []func(float32) uint16{BF16FromFloat32, F16FromFloat32} {
			want := f(x)
			if x == x {
				want |= 0x8000
			}
			if got := f(y); got != want {
				t.Fatalf("narrowing %#08x gives %#04x, narrowing %#08x gives %#04x", b|1<<31, got, b, f(x))
			}
		}
	}
}
