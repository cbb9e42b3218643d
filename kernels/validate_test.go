package kernels

import (
	"errors"
	"iter"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/simdoptim/optim/generic"
)

// runnableCompiled returns the compiled sets this CPU runs.
func runnableCompiled() []*Set {
	var out []*Set
	for _, s := range Compiled() {
		if s.Supported() {
			out = append(out, s)
		}
	}
	return out
}

// TestRejectsUndefinedSign: the assembly XORs Sign into every gradient and
// generic tests its sign bit, which agree only for ±0. Any other Sign once
// gave 1.05 on generic and 1 on AVX2/AVX-512 with a nil error; now every
// set refuses it, naming the field, and writes nothing.
func TestRejectsUndefinedSign(t *testing.T) {
	for _, s := range runnableCompiled() {
		for _, sign := range []float64{-1, 1, math.NaN(), math.Copysign(math.NaN(), -1), math.Inf(-1), math.SmallestNonzeroFloat32, -0.5} {
			testSign[float32](t, s, sign)
			testSign[float64](t, s, sign)
		}
		for _, sign := range []float64{0, math.Copysign(0, -1)} {
			c := Coeffs[float32]{Sign: float32(sign), NegLR: -0.1}
			p := []float32{1}
			if err := SGD(s, 0, &c, p, []float32{0.5}, nil); err != nil {
				t.Errorf("%s: Sign %v refused: %v", s.Name(), sign, err)
			}
			if want := float32(1 - 0.1*0.5*math.Copysign(1, sign)); math.Abs(float64(p[0]-want)) > 1e-6 {
				t.Errorf("%s: Sign %v: p = %v, want %v", s.Name(), sign, p[0], want)
			}
		}
	}
}

func testSign[T Float](t *testing.T, s *Set, sign float64) {
	t.Helper()
	p, g, st := []T{1}, []T{0.5}, [3][]T{{2}, {3}, {4}}
	c := Coeffs[T]{Sign: T(sign), NegLR: -0.1, Beta2: 0.9, OneMinusBeta2: 0.1, Lerp: 0.1, LerpComp: 0.9, BC2Sqrt: 1, Eps: 1e-8}
	for kind := Kind(0); kind < kindCount; kind++ {
		err := callValidated(kind, s, 0, &c, p, g, st[0], st[1], st[2])
		var ce *CoeffError
		if !errors.As(err, &ce) || ce.Field != "Sign" || ce.Kind != kind {
			t.Errorf("%s %T %v: Sign %v: err = %v, want a *CoeffError for Sign", s.Name(), c.Sign, kind, sign, err)
			continue
		}
		if p[0] != 1 || st[0][0] != 2 || st[1][0] != 3 {
			t.Fatalf("%s %T %v: refused call wrote p=%v state=%v", s.Name(), c.Sign, kind, p, st)
		}
	}
}

// TestOtherCoefficientsAgree is the search for divergences beyond Sign:
// every other coefficient field, set in turn to each special value (±0,
// ±Inf, NaN, subnormals, ±1, the extremes), gives every set the bits of
// generic (NaN payloads aside) under every variant of every rule. The
// validated layer need not reject any of them: no set reads them
// differently. Lerp and LerpComp in particular are read by both per
// VarLerpHigh, whatever their values.
func TestOtherCoefficientsAgree(t *testing.T) {
	sets := runnableCompiled()
	if len(sets) == 1 {
		t.Skip("only generic runs here")
	}
	if testing.Short() && underRace {
		// 30 s under the race detector, for wrong bits, not data races:
		// every step of make test but race runs it.
		t.Skip("-short under -race")
	}
	testCoeffsAgree[float32](t, sets)
	testCoeffsAgree[float64](t, sets)
}

func testCoeffsAgree[T Float](t *testing.T, sets []*Set) {
	r := rand.New(rand.NewPCG(1, 2))
	specials := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, math.Inf(1), math.Inf(-1), math.NaN(),
		math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat64}
	// Long enough for every set's unrolled main loop (at most 64 elements)
	// and a tail.
	const n = 64 + 7
	data := make([]T, 5*n)
	for i := range data {
		data[i] = T(r.NormFloat64())
		if i%11 == 0 {
			data[i] = T(specials[r.IntN(len(specials))])
		}
	}
	base := Coeffs[T]{NegLR: -0.01, WeightDecay: 0.01, Decay: 0.999, Momentum: 0.9, Dampening: 0.9,
		Beta2: 0.999, OneMinusBeta2: 0.001, Lerp: 0.1, LerpComp: 0.9, BC2Sqrt: 0.03, Eps: 1e-8}
	fields := reflect.ValueOf(&base).Elem()
	want, got := make([]T, 5*n), make([]T, 5*n)
	run := func(k generic.Kernel[T], v Variant, c *Coeffs[T], b []T) {
		k(v, c, b[:n], b[n:2*n], b[2*n:3*n], b[3*n:4*n], b[4*n:])
	}
	for f := 0; f < fields.NumField(); f++ {
		name := fields.Type().Field(f).Name
		if name == "Sign" {
			continue // validated instead: see TestRejectsUndefinedSign
		}
		// Data and coefficients are otherwise random in the equivalence
		// tests; here the values that could reveal a different reading.
		values, signs := []float64{math.Copysign(0, -1), -1, math.Inf(1), math.Inf(-1), math.NaN(),
			math.SmallestNonzeroFloat32, -math.MaxFloat64}, []T{0, T(math.Copysign(0, -1))}
		if testing.Short() {
			values, signs = []float64{-1, math.NaN()}, signs[1:]
		}
		for _, x := range values {
			c := base
			reflect.ValueOf(&c).Elem().Field(f).SetFloat(float64(T(x)))
			for _, sign := range signs {
				c.Sign = sign
				for kind, v := range coeffCases() {
					copy(want, data)
					run(Kernel[T](&genericSet, kind), v, &c, want)
					for _, s := range sets[:len(sets)-1] {
						copy(got, data)
						run(Kernel[T](s, kind), v, &c, got)
						for i := range got {
							if !sameOrBothNaN(got[i], want[i]) {
								t.Fatalf("%s %T %v variant %#x, %s = %v: element %d of stream %d is %v, generic %v",
									s.Name(), c.Sign, kind, uint32(v), name, T(x), i%n, i/n, got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}

// coeffCases are the kernels and variants TestOtherCoefficientsAgree runs:
// every variant of every rule (the product of its axes), and each once more
// with every bit outside its axes set, which a kernel must ignore as
// generic does (kernels accept any variant below VarCount). All 1024
// variants of every rule took minutes under qemu for the same coverage.
func coeffCases() iter.Seq2[Kind, Variant] {
	return func(yield func(Kind, Variant) bool) {
		for _, r := range generic.Rules() {
			var axes Variant
			for _, axis := range r.Axes {
				for _, b := range axis {
					axes |= b
				}
			}
			others := (generic.VarCount - 1) &^ axes
			for _, v := range r.Variants() {
				if !yield(r.Kind, v) || !yield(r.Kind, v|others) {
					return
				}
			}
		}
	}
}

// sameOrBothNaN compares bits, except that any two NaNs are equal: NaN
// payloads depend on operand order, which no kernel promises.
func sameOrBothNaN[T Float](a, b T) bool {
	if a != a && b != b {
		return true
	}
	return a == b && math.Signbit(float64(a)) == math.Signbit(float64(b))
}

// TestValidatedFunctionsRunTheirKernel checks the generated validated
// functions (update_rules.go): under every variant, each rule's function
// gives its state parameters to its kernel as s0, s1 and s2 and computes
// exactly what that kernel computes on the same slices.
func TestValidatedFunctionsRunTheirKernel(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const n = 37
	for _, tc := range allCases() {
		c := randomCoeffs[float64](r, false)
		start := make([][]float64, 5)
		for i := range start {
			start[i] = make([]float64, n)
			for j := range start[i] {
				start[i][j] = r.Float64()
			}
		}
		got, want := cloneAll(start), cloneAll(start)
		if err := callValidated(tc.kind, Generic(), tc.v, &c, got[0], got[1], got[2], got[3], got[4]); err != nil {
			t.Fatalf("%v: %v", tc, err)
		}
		Kernel[float64](Generic(), tc.kind)(tc.v, &c, want[0], want[1], want[2], want[3], want[4])
		for i := range got {
			if j := firstDiff(got[i], want[i]); j >= 0 {
				t.Errorf("%v: %s[%d] = %v, the kernel gives %v", tc, streamNames[i], j, got[i][j], want[i][j])
			}
		}
	}
}

func cloneAll(s [][]float64) [][]float64 {
	out := make([][]float64, len(s))
	for i := range s {
		out[i] = append([]float64(nil), s[i]...)
	}
	return out
}
