package detmath

import "math"

// Pow returns x**y within 1 ulp, with the same bits on every architecture.
// Special cases are those math.Pow documents:
//
//	Pow(x, ±0) = 1 for any x
//	Pow(1, y) = 1 for any y
//	Pow(x, 1) = x for any x
//	Pow(NaN, y) = NaN
//	Pow(x, NaN) = NaN
//	Pow(±0, y) = ±Inf for y an odd integer < 0
//	Pow(±0, -Inf) = +Inf
//	Pow(±0, +Inf) = +0
//	Pow(±0, y) = +Inf for finite y < 0 and not an odd integer
//	Pow(±0, y) = ±0 for y an odd integer > 0
//	Pow(±0, y) = +0 for finite y > 0 and not an odd integer
//	Pow(-1, ±Inf) = 1
//	Pow(x, +Inf) = +Inf for |x| > 1
//	Pow(x, -Inf) = +0 for |x| > 1
//	Pow(x, +Inf) = +0 for |x| < 1
//	Pow(x, -Inf) = +Inf for |x| < 1
//	Pow(+Inf, y) = +Inf for y > 0
//	Pow(+Inf, y) = +0 for y < 0
//	Pow(-Inf, y) = Pow(-0, -y)
//	Pow(x, y) = NaN for finite x < 0 and finite non-integer y
func Pow(x, y float64) float64 {
	switch {
	case y == 0 || x == 1:
		return 1
	case y == 1:
		return x
	case x != x || y != y:
		return math.NaN()
	case x == 0:
		switch {
		case y < 0 && isOddInt(y):
			return math.Copysign(math.Inf(1), x)
		case y < 0:
			return math.Inf(1)
		case isOddInt(y):
			return x
		}
		return 0
	case math.IsInf(y, 0):
		switch {
		case x == -1:
			return 1
		case (math.Abs(x) < 1) == (y > 0):
			return 0
		}
		return math.Inf(1)
	case math.IsInf(x, 0):
		if x < 0 {
			return Pow(math.Copysign(0, -1), -y)
		}
		if y < 0 {
			return 0
		}
		return math.Inf(1)
	}

	negate := false
	if x < 0 {
		if y != math.Trunc(y) {
			return math.NaN()
		}
		negate = isOddInt(y)
		x = -x
	}
	r := powPositive(x, y)
	if negate {
		return -r
	}
	return r
}

// powPositive returns x**y for finite x > 0 and finite y != 0.
//
// x**y = e^(y·ln x) with ln x to about 2^-100 and the product kept in
// double-double: the exponent can reach 745, so it must carry about 63 bits
// more than the result for the result to stay within 1 ulp.
func powPositive(x, y float64) float64 {
	if x == 1 {
		return 1
	}
	if math.Abs(y) >= 0x1p64 {
		// |ln x| >= 2^-53 for every float64 x != 1, so |y·ln x| > 2^11:
		// the result is far beyond the float64 range either way.
		if (x > 1) == (y > 0) {
			return math.Inf(1)
		}
		return 0
	}
	z := mulF(logDD(x), y)
	switch {
	case z.hi > 710:
		return math.Inf(1)
	case z.hi < -746:
		return 0
	}
	m, k := expDD(z)
	return ldexp(m.hi, k)
}

// isOddInt reports whether y is an odd integer (every float64 of magnitude
// 2^53 or more is even).
func isOddInt(y float64) bool {
	if math.Abs(y) >= 0x1p53 {
		return false
	}
	i := int64(y)
	return float64(i) == y && i&1 == 1
}
