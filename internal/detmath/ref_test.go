package detmath

// Reference values in math/big, simple enough to check by eye: Machin's
// formula for π, the atanh series for ln 2, the Taylor series with argument
// halving for exp, sin and cos, and Newton's iteration on exp for ln.

import (
	"math"
	"math/big"
	"sync"
)

// refPrec is the working precision of every reference value; the reduction
// of huge trigonometric arguments uses bigPrec.
const (
	refPrec = 256
	bigPrec = 1400 // x up to 2^1024 times π to 1400 bits leaves > 300 bits
)

func newF(prec uint) *big.Float { return new(big.Float).SetPrec(prec) }

func bf(x float64) *big.Float { return newF(refPrec).SetFloat64(x) }

// atanInv returns atan(1/n) = Σ (-1)^k / ((2k+1) n^(2k+1)).
func atanInv(n int64, prec uint) *big.Float {
	x := newF(prec).Quo(newF(prec).SetInt64(1), newF(prec).SetInt64(n))
	x2 := newF(prec).Mul(x, x)
	sum, term := newF(prec).Set(x), newF(prec).Set(x)
	for k := int64(1); term.MantExp(nil) > -int(prec)-8; k++ {
		term.Mul(term, x2)
		t := newF(prec).Quo(term, newF(prec).SetInt64(2*k+1))
		if k%2 == 1 {
			sum.Sub(sum, t)
		} else {
			sum.Add(sum, t)
		}
	}
	return sum
}

var refConsts = sync.OnceValues(func() (pi, ln2 *big.Float) {
	// π = 16·atan(1/5) - 4·atan(1/239) (Machin).
	pi = newF(bigPrec).Mul(newF(bigPrec).SetInt64(16), atanInv(5, bigPrec))
	pi.Sub(pi, newF(bigPrec).Mul(newF(bigPrec).SetInt64(4), atanInv(239, bigPrec)))
	// ln 2 = 2·atanh(1/3) = 2·Σ 1/((2k+1)·3^(2k+1)).
	ln2 = newF(bigPrec)
	term := newF(bigPrec).Quo(newF(bigPrec).SetInt64(1), newF(bigPrec).SetInt64(3))
	for k := int64(0); term.MantExp(nil) > -bigPrec-8; k++ {
		ln2.Add(ln2, newF(bigPrec).Quo(term, newF(bigPrec).SetInt64(2*k+1)))
		term.Quo(term, newF(bigPrec).SetInt64(9))
	}
	ln2.Mul(ln2, newF(bigPrec).SetInt64(2))
	return pi, ln2
})

// halvings is how often exp, sin and cos halve their argument before the
// Taylor series; each doubling back costs a few bits of the 256.
const halvings = 8

// bigExp returns e^x: x = k·ln2 + r, e^r by Taylor on r/2^8, squared 8 times.
func bigExp(x *big.Float) *big.Float {
	_, ln2 := refConsts()
	xf, _ := x.Float64()
	k := math.Round(xf / math.Ln2)
	r := newF(bigPrec).Sub(newF(bigPrec).Set(x), newF(bigPrec).Mul(ln2, newF(bigPrec).SetFloat64(k)))
	r = newF(refPrec+64).Set(r)
	r.SetMantExp(r, -halvings)
	sum, term := newF(refPrec+64).SetInt64(1), newF(refPrec+64).SetInt64(1)
	for n := int64(1); term.Sign() != 0 && term.MantExp(nil) > -refPrec-70; n++ {
		term.Mul(term, r)
		term.Quo(term, newF(refPrec+64).SetInt64(n))
		sum.Add(sum, term)
	}
	for i := 0; i < halvings; i++ {
		sum.Mul(sum, sum)
	}
	return sum.SetMantExp(sum, int(k))
}

// bigLog returns ln x for x > 0: Newton's iteration y += 2(x-e^y)/(x+e^y),
// which triples the correct bits each step, from a float64 start.
func bigLog(x *big.Float) *big.Float {
	mant := newF(refPrec)
	e := x.MantExp(mant)
	mf, _ := mant.Float64()
	y := newF(refPrec + 64).SetFloat64(math.Log(mf) + float64(e)*math.Ln2)
	xx := newF(refPrec + 64).Set(x)
	for i := 0; i < 3; i++ {
		ey := bigExp(y)
		num := newF(refPrec+64).Sub(xx, ey)
		den := newF(refPrec+64).Add(xx, ey)
		num.Quo(num, den)
		y.Add(y, num.SetMantExp(num, 1))
	}
	return y
}

// bigSinCos returns sin x and cos x: x = k·π/2 + r exactly enough (π to
// 1400 bits), then Taylor on r/2^8 and the double-angle formulas.
func bigSinCos(x float64) (sin, cos *big.Float) {
	pi, _ := refConsts()
	pio2 := newF(bigPrec).Quo(pi, newF(bigPrec).SetInt64(2))
	xb := newF(bigPrec).SetFloat64(x)
	kf := newF(bigPrec).Quo(xb, pio2)
	kf.Add(kf, newF(bigPrec).SetFloat64(0.5))
	k, _ := kf.Int(nil)
	if kf.Sign() < 0 {
		k.Sub(k, big.NewInt(1)) // Int truncates; we want floor
	}
	r := newF(bigPrec).Sub(xb, newF(bigPrec).Mul(pio2, newF(bigPrec).SetInt(k)))
	r = newF(refPrec + 64).Set(r)
	r.SetMantExp(r, -halvings)
	r2 := newF(refPrec+64).Mul(r, r)
	s, c := newF(refPrec+64).Set(r), newF(refPrec+64).SetInt64(1)
	ts, tc := newF(refPrec+64).Set(r), newF(refPrec+64).SetInt64(1)
	for n := int64(1); tc.Sign() != 0 && tc.MantExp(nil) > -refPrec-70; n++ {
		ts.Mul(ts, r2)
		ts.Quo(ts, newF(refPrec+64).SetInt64(-(2*n)*(2*n+1)))
		s.Add(s, ts)
		tc.Mul(tc, r2)
		tc.Quo(tc, newF(refPrec+64).SetInt64(-(2*n-1)*(2*n)))
		c.Add(c, tc)
	}
	for i := 0; i < halvings; i++ {
		s2 := newF(refPrec+64).Mul(s, c)
		s2.SetMantExp(s2, 1)
		c2 := newF(refPrec+64).Mul(c, c)
		c2.Sub(c2, newF(refPrec+64).Mul(s, s))
		s, c = s2, c2
	}
	q := new(big.Int).And(k, big.NewInt(3)).Int64()
	switch q {
	case 1:
		s, c = c, s.Neg(s)
	case 2:
		s, c = s.Neg(s), c.Neg(c)
	case 3:
		s, c = c.Neg(c), s
	}
	return s, c
}

// ulpErr returns |got - want| in units of the last place of want as a
// float64 (2^-1074 in the subnormal range). A want beyond the float64 range
// counts as matched by an infinite got of the same sign.
func ulpErr(got float64, want *big.Float) float64 {
	if want.Sign() == 0 {
		if got == 0 {
			return 0
		}
		return math.Inf(1)
	}
	e := want.MantExp(nil) - 1 // |want| in [2^e, 2^(e+1))
	if e >= 1024 {
		if math.IsInf(got, want.Sign()) {
			return 0
		}
		e = 1023
	}
	if math.IsInf(got, 0) || got != got {
		return math.Inf(1)
	}
	if e < -1022 {
		e = -1022
	}
	d := newF(refPrec).Sub(bf(got), want)
	d.SetMantExp(d, 52-e)
	f, _ := d.Float64()
	return math.Abs(f)
}
