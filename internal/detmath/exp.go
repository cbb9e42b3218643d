package detmath

import "math"

// Exp returns e^x within 1 ulp, with the same bits on every architecture.
// Special cases as math.Exp: Exp(+Inf) = +Inf, Exp(-Inf) = 0, Exp(NaN) = NaN;
// results beyond the float64 range overflow to +Inf or underflow through the
// subnormals to 0.
func Exp(x float64) float64 {
	switch {
	case x != x:
		return x
	case x > 710: // e^710 > MaxFloat64; also catches +Inf
		return math.Inf(1)
	case x < -746: // e^-746 < 2^-1075, half the smallest subnormal; also -Inf
		return 0
	}
	m, k := expDD(dd{x, 0})
	return ldexp(m.hi, k)
}

// invLn2 is 1/ln 2 rounded; it only picks k, so its last bit does not matter.
const invLn2 = 1.4426950408889634

// expDD returns m and k with e^z = m·2^k, m in about [0.7, 1.42] to about
// 2^-104 relative error. |z.hi| must stay below about 750.
//
// z = k·ln2 + r with |r| <= ln2/2 (Cody-Waite: ln2 is held to 160 bits and
// each k·ln2 part is formed exactly), then e^r by its Taylor series in
// double-double.
func expDD(z dd) (dd, int) {
	k := math.Floor(float64(z.hi*invLn2) + 0.5)
	p, e := twoProd(k, ln2[0])
	r := add(z, dd{-p, -e})
	p, e = twoProd(k, ln2[1])
	r = add(r, dd{-p, -e})
	r = addF(r, -float64(k*ln2[2]))
	return horner(expCoef, r), int(k)
}

// pow2 returns 2^n for -1022 <= n <= 1023, built from its bits.
func pow2(n int) float64 {
	return math.Float64frombits(uint64(n+1023) << 52)
}

// ldexp returns y·2^k for y in about [0.5, 2], rounding once even when the
// result is subnormal: the first multiplication below is exact, so only the
// last one rounds.
func ldexp(y float64, k int) float64 {
	switch {
	case k > 1023:
		return float64(y*pow2(1023)) * pow2(k-1023)
	case k < -1086: // y·2^k < 2^-1085: rounds to zero
		return 0
	case k < -1022:
		return float64(y*pow2(k+64)) * pow2(-64)
	}
	return y * pow2(k)
}
