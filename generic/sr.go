package generic

import "math"

// This file specifies stochastic rounding (SR) of parameters to bfloat16 and
// float16, the opt-in alternative to rounding to nearest even for the
// parameters a low-precision step stores (StepLowpSR): a value between two
// neighbours of the format rounds up with probability equal to its distance
// from the lower one in units of their gap, so that its expected value is
// the float32 value itself and small updates are not lost to rounding.
//
// The random bits come from a counter-based generator, a pure function of
// (seed, parameter, step, element index), so the result does not depend on
// how the elements are split between workers, on the kernel set or on the
// architecture. It uses only 32-bit xor, shift and multiply (VPMULLD, NEON
// MUL), as a vector kernel would.

// SR is what stochastic rounding of one parameter's step needs: the key of
// its random bits.
type SR struct {
	// Seed is the run's seed.
	Seed uint64
	// Param tells the parameters of one run apart (its index, say).
	Param uint32
	// Step is the step number: every step draws new bits.
	Step uint64
	// Offset is the index, within the whole parameter, of the first
	// element of the slices a call is given, so that a part of the
	// parameter draws the bits that the whole would (element i of the
	// call is element Offset+i of the parameter).
	Offset uint64
}

// Mix32 is a 32-bit integer hash with good avalanche (Chris Wellons'
// lowbias32): xorshifts and two multiplications.
func Mix32(x uint32) uint32 { return mix32(x) }

func mix32(x uint32) uint32 {
	x ^= x >> 16
	x *= 0x7feb352d
	x ^= x >> 15
	x *= 0x846ca68b
	x ^= x >> 16
	return x
}

// key is the per-call part of the hash: every word of the key but the
// element index, folded in one after another.
func (s SR) key() uint32 {
	h := mix32(uint32(s.Seed) ^ 0x9e3779b9)
	h = mix32(h ^ uint32(s.Seed>>32))
	h = mix32(h ^ s.Param)
	h = mix32(h ^ uint32(s.Step))
	return mix32(h ^ uint32(s.Step>>32))
}

// Bits returns the 32 random bits of element i of the call (element
// Offset+i of the parameter): mix32(mix32(key ^ hi) ^ lo), where lo and hi
// are the halves of the element's index in the parameter and key folds in
// Seed, Param and Step (key, above).
func (s SR) Bits(i int) uint32 { return bitsAt(s.key(), s.Offset+uint64(i)) }

// bitsAt is the random bits of element e of the parameter under key.
func bitsAt(key uint32, e uint64) uint32 { return mix32(mix32(key^uint32(e>>32)) ^ uint32(e)) }

// HighKey is the part of the random bits of the parameter's elements whose
// index has upper half hi: element e's bits are Mix32(s.HighKey(e>>32) ^
// uint32(e)), so that a loop over elements of one upper half hashes once
// per element.
func (s SR) HighKey(hi uint32) uint32 { return mix32(s.key() ^ hi) }

// NarrowSRSlice sets dst[i] = f.NarrowSR(src[i], sr.Bits(i)) for every
// i < len(dst); src must be at least as long.
func NarrowSRSlice(f Format, dst []uint16, src []float32, sr SR) {
	src = src[:len(dst)]
	key := sr.key()
	for i, x := range src {
		dst[i] = f.NarrowSR(x, bitsAt(key, sr.Offset+uint64(i)))
	}
}

// NarrowSR is x rounded stochastically to format f with the 32 random bits
// r. The rule, for both formats:
//
//   - A NaN gives the format's canonical NaN, as Narrow does.
//   - Otherwise, with q the gap between the two neighbours lo <= |x| < lo+q
//     of |x| in the format's grid (its finite values, extended by one gap
//     past the largest, where an infinity stands), the result is lo when
//     |x| is on the grid, else lo+q with probability (|x|-lo)/q (drawn from
//     r's upper bits, exactly for gaps of up to 2^32 float32 steps, and
//     truncated to a multiple of 2^-32 beyond, which only float16's
//     rounding of |x| < 2^-33 ever needs) and lo otherwise, with x's sign. An
//     infinity stays one, and so does a finite |x| at or past the extended
//     grid's end (float16: |x| >= 65536); |x| between the largest finite
//     value and that end rounds to the largest finite value or to an
//     infinity.
//   - bfloat16: the gap is 2^16 float32 steps at every exponent, so this is
//     the float32 bits plus r's upper 16 bits, truncated to their upper 16
//     bits. float16: the gap is 2^(e-10) for |x| in [2^e, 2^(e+1)), e >=
//     -14, and 2^-24 below (subnormals).
func (f Format) NarrowSR(x float32, r uint32) uint16 {
	if x != x {
		return f.Narrow(x)
	}
	b := math.Float32bits(x)
	if f == FormatBF16 {
		return uint16((b + r>>16) >> 16)
	}
	sign, a := b&0x8000_0000, b&0x7fff_ffff
	if a >= 0x4780_0000 { // 65536 or more, an infinity included
		return uint16(sign>>16) | 0x7c00
	}
	// |x| = m * 2^e2 with m < 2^24; the grid's gap is 2^qe.
	m, e2 := a&0x7f_ffff, int(a>>23)-150
	if a>>23 != 0 {
		m |= 0x80_0000
	} else {
		e2 = -149
	}
	qe := max(int(a>>23)-127-10, -24)
	shift := uint(qe - e2) // at least 13: float16 keeps 10 of float32's 23 bits
	var k, up uint64
	switch {
	case shift >= 64:
		// |x| < 2^-64: a probability below 2^-40, truncated to 0.
	case shift <= 32:
		k = uint64(m) >> shift
		frac := uint64(m) & (1<<shift - 1)
		if frac+uint64(r>>(32-shift)) >= 1<<shift {
			up = 1
		}
	default:
		k = uint64(m) >> shift
		frac := uint64(m) & (1<<shift - 1) >> (shift - 32)
		if frac+uint64(r) >= 1<<32 {
			up = 1
		}
	}
	// (k+up) * 2^qe is on float16's grid (or its end, 65536, which
	// F16FromFloat32 turns into an infinity): exact in float32.
	v := float32(math.Ldexp(float64(k+up), qe))
	return uint16(sign>>16) | F16FromFloat32(v)
}

// StepLowpSR is StepLowp with the new parameters rounded stochastically:
// p[i] = f.NarrowSR(new p[i], sr.Bits(i)). The state is stored as StepLowp
// stores it (rounded to nearest even when it is 16-bit), and the
// arithmetic is the same.
func StepLowpSR[S LowpState](k Kind, f Format, v Variant, c *Coeffs[float32], sr SR, p, g []uint16, s0, s1, s2 []S) {
	stepLowp(k, f, v, c, p, g, s0, s1, s2, func(i int, x float32) uint16 { return f.NarrowSR(x, sr.Bits(i)) })
}
