package detmath

import "math"

// Log returns the natural logarithm of x within 1 ulp, with the same bits on
// every architecture. Special cases as math.Log: Log(+Inf) = +Inf,
// Log(0) = -Inf, Log(x < 0) = NaN, Log(NaN) = NaN.
func Log(x float64) float64 {
	switch {
	case x != x || x < 0:
		return math.NaN()
	case x == 0:
		return math.Inf(-1)
	case x > math.MaxFloat64:
		return x
	}
	return logDD(x).hi
}

// sqrt2 is √2 rounded; it only splits the range, so its last bit does not
// matter.
const sqrt2 = 1.4142135623730951

// logDD returns ln x to about 2^-100 relative error for finite x > 0.
//
// x = 2^e·m with m in [√2/2, √2], and ln m = 2·atanh(s) with s = (m-1)/(m+1),
// |s| <= 0.172, summed as an odd series in double-double. e·ln2 is exact to
// 160 bits, so the sum loses nothing when the two parts nearly cancel.
func logDD(x float64) dd {
	e := 0
	if x < 0x1p-1022 { // subnormal: make it normal first
		x *= 0x1p54
		e = -54
	}
	b := math.Float64bits(x)
	e += int(b>>52) - 1023
	m := math.Float64frombits(b&(1<<52-1) | 1023<<52) // in [1, 2)
	if m > sqrt2 {
		m /= 2
		e++
	}
	f := m - 1 // exact (Sterbenz)
	s := div(dd{f, 0}, twoSumDD(2, f))
	series := mul(s, horner(atanhCoef, mul(s, s)))
	lnm := dd{2 * series.hi, 2 * series.lo}
	if e == 0 {
		return lnm
	}
	fe := float64(e)
	p, q := twoProd(fe, ln2[0])
	l := add(dd{p, q}, twoProdDD(fe, ln2[1]))
	l = addF(l, float64(fe*ln2[2]))
	return add(l, lnm)
}

// twoSumDD and twoProdDD are twoSum and twoProd with the result as a dd.
func twoSumDD(a, b float64) dd {
	s, e := twoSum(a, b)
	return dd{s, e}
}

func twoProdDD(a, b float64) dd {
	p, e := twoProd(a, b)
	return dd{p, e}
}
