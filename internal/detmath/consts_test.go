package detmath

import (
	"math/big"
	"testing"
)

// sumF returns the exact sum of float64 parts.
func sumF(parts ...float64) *big.Float {
	s := newF(bigPrec)
	for _, p := range parts {
		s.Add(s, newF(bigPrec).SetFloat64(p))
	}
	return s
}

// relErrBits returns -log2 |got/want - 1|, the number of correct bits.
func relErrBits(got, want *big.Float) int {
	d := newF(bigPrec).Sub(got, want)
	if d.Sign() == 0 {
		return bigPrec
	}
	d.Quo(d, want)
	return -d.MantExp(nil) + 1
}

func TestConstants(t *testing.T) {
	pi, ln2Ref := refConsts()
	if b := relErrBits(sumF(ln2[:]...), ln2Ref); b < 160 {
		t.Errorf("ln2: %d correct bits, want >= 160", b)
	}
	pio2Ref := newF(bigPrec).Quo(pi, newF(bigPrec).SetInt64(2))
	if b := relErrBits(sumF(pio2.hi, pio2.lo), pio2Ref); b < 106 {
		t.Errorf("pio2: %d correct bits, want >= 106", b)
	}
	// The table must be exactly the first 1280 bits of 2/π.
	w := newF(bigPrec).Quo(newF(bigPrec).SetInt64(2), pi)
	two64 := newF(bigPrec).SetMantExp(newF(bigPrec).SetInt64(1), 64)
	for i, want := range twoOverPi {
		w.Mul(w, two64)
		iv, _ := w.Int(nil)
		if got := iv.Uint64(); got != want {
			t.Fatalf("twoOverPi[%d] = %#016x, want %#016x", i, want, got)
		}
		w.Sub(w, newF(bigPrec).SetInt(iv))
	}
	// The series coefficients, to double-double precision.
	fact := func(n int64) *big.Float { return newF(bigPrec).SetInt(new(big.Int).MulRange(1, n)) }
	one := newF(bigPrec).SetInt64(1)
	check := func(name string, c []dd, want func(j int64) *big.Float) {
		for j, cj := range c {
			w := want(int64(j))
			if b := relErrBits(sumF(cj.hi, cj.lo), w); b < 104 {
				t.Errorf("%s[%d]: %d correct bits, want >= 104", name, j, b)
			}
		}
	}
	sign := func(j int64, f *big.Float) *big.Float {
		if j%2 == 1 {
			return f.Neg(f)
		}
		return f
	}
	check("expCoef", expCoef, func(j int64) *big.Float { return newF(bigPrec).Quo(one, fact(j)) })
	check("cosCoef", cosCoef, func(j int64) *big.Float { return sign(j, newF(bigPrec).Quo(one, fact(2*j))) })
	check("sinCoef", sinCoef, func(j int64) *big.Float { return sign(j, newF(bigPrec).Quo(one, fact(2*j+1))) })
	check("atanhCoef", atanhCoef, func(j int64) *big.Float {
		return newF(bigPrec).Quo(one, newF(bigPrec).SetInt64(2*j+1))
	})
}
