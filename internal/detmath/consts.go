package detmath

// The constants below were computed once with math/big at 1600 bits (π by
// Machin's formula, ln 2 by the series of 2·atanh(1/3)); TestConstants
// recomputes them and checks every bit.

// ln2 is ln 2 as a sum of three float64s (about 160 bits), so that k·ln2
// for |k| <= 1100 is known far beyond the 106 bits the double-double keeps.
var ln2 = [3]float64{
	0x1.62e42fefa39efp-01,
	0x1.abc9e3b39803fp-56,
	0x1.7b57a079a1934p-111,
}

// pio2 is π/2 as a sum of two float64s (about 107 bits): it turns the
// reduced argument, a fraction of a quarter turn, into radians.
var pio2 = dd{0x1.921fb54442d18p+00, 0x1.1a62633145c07p-54}

// twoOverPi holds the bits of 2/π after the binary point, 64 to a word,
// most significant first: 1280 bits, enough for Payne-Hanek reduction of
// every finite float64 (largest exponent 1023, plus 192 bits of window).
var twoOverPi = [20]uint64{
	0xa2f9836e4e441529, 0xfc2757d1f534ddc0, 0xdb6295993c439041, 0xfe5163abdebbc561,
	0xb7246e3a424dd2e0, 0x06492eea09d1921c, 0xfe1deb1cb129a73e, 0xe88235f52ebb4484,
	0xe99c7026b45f7e41, 0x3991d639835339f4, 0x9c845f8bbdf9283b, 0x1ff897ffde05980f,
	0xef2f118b5a0a6d1f, 0x6d367ecf27cb09b7, 0x4f463f669e5fea2d, 0x7527bac7ebe5f17b,
	0x3d0739f78a5292ea, 0x6bfb5fb11f8d5d08, 0x56033046fc7b6bab, 0xf0cfbc209af4361d,
}

// Series coefficients, formed in double-double from exact integers at
// package initialisation so that no rounded decimal literal hides in them.
var (
	// expCoef[n] = 1/n!: exp(r) for |r| <= ln2/2 to below 2^-110.
	expCoef = invFactorials(0, 1, 27)
	// cosCoef[j] = (-1)^j/(2j)!, sinCoef[j] = (-1)^j/(2j+1)!: cos(r) and
	// sin(r)/r as series in r² for |r| <= π/4, to below 2^-110.
	cosCoef = invFactorials(0, 2, 17)
	sinCoef = invFactorials(1, 2, 17)
	// atanhCoef[j] = 1/(2j+1): atanh(s)/s as a series in s², |s| <= 0.172.
	atanhCoef = oddReciprocals(24)
)

// invFactorials returns n terms c[j] = ±1/(first+step·j)!, alternating in
// sign when step is 2 (the sine and cosine series) and all positive otherwise.
func invFactorials(first, step, n int) []dd {
	c := make([]dd, n)
	f := dd{1, 0}
	for i := 2; i <= first; i++ {
		f = mulF(f, float64(i))
	}
	for j := 0; j < n; j++ {
		c[j] = div(dd{1, 0}, f)
		if step == 2 && j%2 == 1 {
			c[j] = neg(c[j])
		}
		m := first + step*j
		for i := m + 1; i <= m+step; i++ {
			f = mulF(f, float64(i))
		}
	}
	return c
}

// oddReciprocals returns c[j] = 1/(2j+1) for j < n.
func oddReciprocals(n int) []dd {
	c := make([]dd, n)
	for j := range c {
		c[j] = div(dd{1, 0}, dd{float64(2*j + 1), 0})
	}
	return c
}
