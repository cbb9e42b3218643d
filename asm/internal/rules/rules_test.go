package rules

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/simdoptim/optim/generic"
)

// eval interprets k on element i of the streams, with scalars in T.
func eval[T generic.Float](k Kernel, c *generic.Coeffs[T], streams *[NumStreams][]T, i int) {
	coeffs := (*[32]T)(unsafeCoeffs(c))
	val := make([]T, k.Values)
	for _, in := range k.Body {
		var r T
		switch in.Op {
		case OpLoad:
			r = streams[in.Stream][i]
		case OpStore:
			streams[in.Stream][i] = val[in.A]
			continue
		case OpCoeff:
			r = coeffs[in.Coeff]
		case OpAdd:
			r = val[in.A] + val[in.B]
		case OpSub:
			r = val[in.A] - val[in.B]
		case OpMul:
			r = T(val[in.A] * val[in.B])
		case OpDiv:
			r = val[in.A] / val[in.B]
		case OpSqrt:
			r = T(math.Sqrt(float64(val[in.A])))
		case OpXor:
			r = xor(val[in.A], val[in.B])
		case OpMaxNaN:
			r = generic.MaxNaN(val[in.A], val[in.B])
		}
		val[in.Dst] = r
	}
}

func xor[T generic.Float](a, b T) T {
	switch x := any(a).(type) {
	case float32:
		return T(math.Float32frombits(math.Float32bits(x) ^ math.Float32bits(float32(b))))
	default:
		return T(math.Float64frombits(math.Float64bits(float64(a)) ^ math.Float64bits(float64(b))))
	}
}

var specials = []float64{0, math.Copysign(0, -1), 1, -1, math.Inf(1), math.Inf(-1), math.NaN(), 1e-30, -1e30, 5e-324}

func value(r *rand.Rand) float64 {
	if r.IntN(8) == 0 {
		return specials[r.IntN(len(specials))]
	}
	return (r.Float64()*2 - 1) * math.Ldexp(1, r.IntN(8)-4)
}

func bitsEqual[T generic.Float](a, b T) bool {
	if a != a && b != b {
		return true // NaN payloads are canonicalized
	}
	switch x := any(a).(type) {
	case float32:
		return math.Float32bits(x) == math.Float32bits(float32(b))
	default:
		return math.Float64bits(float64(a)) == math.Float64bits(float64(b))
	}
}

var references = map[string]generic.Kernel[float64]{"sgd": generic.SGD[float64], "adagrad": generic.Adagrad[float64],
	"rmsprop": generic.RMSProp[float64], "adam": generic.Adam[float64]}
var references32 = map[string]generic.Kernel[float32]{"sgd": generic.SGD[float32], "adagrad": generic.Adagrad[float32],
	"rmsprop": generic.RMSProp[float32], "adam": generic.Adam[float32]}

// TestDescriptionsMatchReference interprets every kernel description and
// compares it bit for bit with the reference in package generic.
func TestDescriptionsMatchReference(t *testing.T) {
	for _, k := range All() {
		t.Run(k.Name(), func(t *testing.T) {
			check(t, k, references[k.Rule])
			check(t, k, references32[k.Rule])
		})
	}
}

func check[T generic.Float](t *testing.T, k Kernel, ref generic.Kernel[T]) {
	r := rand.New(rand.NewPCG(1, uint64(k.Variant)))
	const n = 512
	var c generic.Coeffs[T]
	cs := (*[32]T)(unsafeCoeffs(&c))
	for trial := 0; trial < 20; trial++ {
		for i := range Coeffs {
			cs[i] = T(math.Abs(value(r)))
		}
		if trial%2 == 1 {
			c.Sign = T(math.Copysign(0, -1))
		} else {
			c.Sign = 0
		}
		var a, b [NumStreams][]T
		for s := range a {
			a[s], b[s] = make([]T, n), make([]T, n)
			for i := range a[s] {
				a[s][i] = T(value(r))
				b[s][i] = a[s][i]
			}
		}
		ref(k.Variant, &c, a[0], a[1], a[2], a[3], a[4])
		for i := 0; i < n; i++ {
			eval(k, &c, &b, i)
		}
		for s := range a {
			for i := range a[s] {
				if !bitsEqual(a[s][i], b[s][i]) {
					t.Fatalf("%T trial %d stream %s[%d]: reference %v, description %v", c.Eps, trial, StreamNames[s], i, a[s][i], b[s][i])
				}
			}
		}
	}
}
