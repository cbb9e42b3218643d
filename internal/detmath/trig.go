package detmath

import (
	"math"
	"math/bits"
)

// Cos returns the cosine of x (radians) within 1 ulp for every finite x,
// with the same bits on every architecture. Cos(±Inf) = NaN, Cos(NaN) = NaN.
func Cos(x float64) float64 {
	if x != x || math.IsInf(x, 0) {
		return math.NaN()
	}
	q, r := reduce(math.Abs(x))
	switch q {
	case 0:
		return cosDD(r)
	case 1:
		return -sinDD(r)
	case 2:
		return -cosDD(r)
	}
	return sinDD(r)
}

// Sin returns the sine of x (radians) within 1 ulp for every finite x, with
// the same bits on every architecture. Sin(±0) = ±0, Sin(±Inf) = NaN,
// Sin(NaN) = NaN.
func Sin(x float64) float64 {
	if x == 0 || x != x || math.IsInf(x, 0) {
		return x - x + x // ±0 stays itself; ±Inf and NaN give NaN
	}
	q, r := reduce(math.Abs(x))
	var s float64
	switch q {
	case 0:
		s = sinDD(r)
	case 1:
		s = cosDD(r)
	case 2:
		s = -sinDD(r)
	default:
		s = -cosDD(r)
	}
	if x < 0 {
		return -s
	}
	return s
}

// cosDD and sinDD evaluate the Taylor series for |r| <= π/4 in
// double-double and round once.
func cosDD(r dd) float64 { return horner(cosCoef, mul(r, r)).hi }

func sinDD(r dd) float64 { return mul(r, horner(sinCoef, mul(r, r))).hi }

// reduce returns q and r with x = (4n + q)·π/2 + r, |r| <= π/4 (to rounding),
// r to about 2^-100 relative error, for finite x >= 0.
//
// It is Payne-Hanek reduction: x = m·2^e with m a 53-bit integer, and
// x·2/π mod 4 needs only the 192 bits of 2/π that start where m·2^e times
// them stops being a multiple of 4; earlier bits contribute multiples of 4
// and later ones less than 2^-137 of a quarter turn. The product is formed
// exactly in integers, so the reduction is as good for 1e300 as for 1.
func reduce(x float64) (int, dd) {
	if x <= math.Pi/4 {
		return 0, dd{x, 0}
	}
	b := math.Float64bits(x)
	m := b&(1<<52-1) | 1<<52
	e := int(b>>52) - 1075 // x = m·2^e
	// Bit t of the 2/π stream (t = 0 right after the binary point) has
	// weight 2^-(t+1); m·2^e times it is a multiple of 4 for t < e-2.
	t0 := e - 2
	w0, w1, w2 := twoOverPiBits(t0), twoOverPiBits(t0+64), twoOverPiBits(t0+128)
	// m·(w0,w1,w2) is m·2^e·(2/π) mod 4 in units of 2^-190.
	h2, r0 := bits.Mul64(m, w2)
	h1, l1 := bits.Mul64(m, w1)
	_, l0 := bits.Mul64(m, w0) // its high word is a multiple of 4
	r1, c := bits.Add64(h2, l1, 0)
	r2, _ := bits.Add64(h1, l0, c)
	q := int(r2 >> 62)
	// The fraction of a quarter turn, 128 bits of it, binary point on the left.
	hi, lo := r2<<2|r1>>62, r1<<2|r0>>62
	negative := hi>>63 == 1
	if negative { // fraction >= 1/2: take the next quadrant, fraction - 1
		q++
		lo, c = bits.Sub64(0, lo, 0)
		hi, _ = bits.Sub64(0, hi, c)
	}
	q &= 3
	if hi == 0 && lo == 0 {
		return q, dd{}
	}
	// Normalise and take two 53-bit pieces, each exact as a float64.
	z := bits.LeadingZeros64(hi)
	if hi == 0 {
		z = 64 + bits.LeadingZeros64(lo)
	}
	switch {
	case z >= 64:
		hi, lo = lo<<(z-64), 0
	case z > 0:
		hi, lo = hi<<z|lo>>(64-z), lo<<z
	}
	top := float64(hi>>11) * math.Ldexp(1, -53-z)
	next := float64((hi&(1<<11-1))<<42|lo>>22) * math.Ldexp(1, -106-z)
	f := dd{top, next} // |next| < ulp(top): already a normalised dd
	r := mul(f, pio2)
	if negative {
		r = neg(r)
	}
	return q, r
}

// twoOverPiBits returns the 64 bits of the 2/π stream that start at bit t;
// bits before the binary point (t < 0) are zero.
func twoOverPiBits(t int) uint64 {
	switch {
	case t <= -64:
		return 0
	case t < 0:
		return twoOverPi[0] >> uint(-t)
	}
	i, s := t/64, uint(t%64)
	w := twoOverPi[i] << s
	if s != 0 {
		w |= twoOverPi[i+1] >> (64 - s)
	}
	return w
}
