// Package detmath computes cos, sin, exp, log and pow with the same bits on
// every architecture.
//
// Go's math.Cos, Exp, Log and Pow are allowed to fuse a*b+c into one
// instruction, and the compiler does so on arm64 (and may at GOAMD64=v3), so
// their last bits depend on the CPU. A learning-rate schedule feeds every
// kernel, so it must not. Everything here is built from +, -, *, / on
// float64, with every product that feeds a sum wrapped in float64(...), which
// the Go specification says rounds and so forbids fusion. The functions work
// in double-double arithmetic (an unevaluated sum hi+lo of two float64s,
// about 106 bits) and round once at the end, which keeps the error of every
// result within 1 ulp (measured: about 0.5 ulp).
package detmath

// dd is a double-double: the value hi+lo with |lo| <= ulp(hi)/2.
type dd struct{ hi, lo float64 }

// twoSum returns s and e with s = fl(a+b) and s+e = a+b exactly (Knuth).
func twoSum(a, b float64) (s, e float64) {
	s = a + b
	bb := s - a
	e = (a - (s - bb)) + (b - bb)
	return s, e
}

// fastTwoSum is twoSum for |a| >= |b| (Dekker); one addition cheaper.
func fastTwoSum(a, b float64) (s, e float64) {
	s = a + b
	e = b - (s - a)
	return s, e
}

// splitter is 2^27+1: Veltkamp's constant for splitting a float64 into two
// halves of at most 26 significant bits each, whose products are exact.
const splitter = 134217729

// split returns hi+lo = a with hi and lo of at most 26 significant bits.
// |a| must stay below about 2^996 so that splitter*a does not overflow.
func split(a float64) (hi, lo float64) {
	c := float64(splitter * a)
	hi = c - (c - a)
	lo = a - hi
	return hi, lo
}

// twoProd returns p and e with p = fl(a*b) and p+e = a*b exactly
// (Dekker's product, without FMA so that it is the same everywhere).
func twoProd(a, b float64) (p, e float64) {
	p = float64(a * b)
	ah, al := split(a)
	bh, bl := split(b)
	e = ((float64(ah*bh) - p) + float64(ah*bl) + float64(al*bh)) + float64(al*bl)
	return p, e
}

// add returns a+b to about 2^-105 relative error (both parts summed exactly,
// so cancellation between a and b costs nothing).
func add(a, b dd) dd {
	s, e := twoSum(a.hi, b.hi)
	t, f := twoSum(a.lo, b.lo)
	e += t
	s, e = fastTwoSum(s, e)
	e += f
	s, e = fastTwoSum(s, e)
	return dd{s, e}
}

// neg returns -a.
func neg(a dd) dd { return dd{-a.hi, -a.lo} }

// addF returns a+b for a float64 b.
func addF(a dd, b float64) dd {
	s, e := twoSum(a.hi, b)
	e += a.lo
	s, e = fastTwoSum(s, e)
	return dd{s, e}
}

// mul returns a*b to about 2^-104 relative error.
func mul(a, b dd) dd {
	p, e := twoProd(a.hi, b.hi)
	e += float64(a.hi*b.lo) + float64(a.lo*b.hi)
	p, e = fastTwoSum(p, e)
	return dd{p, e}
}

// mulF returns a*b for a float64 b.
func mulF(a dd, b float64) dd {
	p, e := twoProd(a.hi, b)
	e += float64(a.lo * b)
	p, e = fastTwoSum(p, e)
	return dd{p, e}
}

// div returns a/b to about 2^-104 relative error (long division: one
// quotient digit per float64, the remainder formed exactly).
func div(a, b dd) dd {
	q1 := a.hi / b.hi
	r := add(a, neg(mulF(b, q1)))
	q2 := r.hi / b.hi
	r = add(r, neg(mulF(b, q2)))
	q3 := r.hi / b.hi
	q1, q2 = fastTwoSum(q1, q2)
	return addF(dd{q1, q2}, q3)
}

// horner evaluates c[0] + c[1]*x + c[2]*x^2 + ... in double-double.
func horner(c []dd, x dd) dd {
	s := c[len(c)-1]
	for i := len(c) - 2; i >= 0; i-- {
		s = add(mul(s, x), c[i])
	}
	return s
}
