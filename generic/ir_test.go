package generic

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

// eval interprets p on element i of the streams, with scalars in T.
func eval[T Float](p Program, c *Coeffs[T], streams *[NumStreams][]T, i int) {
	coeffs := reflect.ValueOf(c).Elem()
	val := make([]T, p.Values)
	for _, in := range p.Body {
		var r T
		switch in.Op {
		case OpLoad:
			r = streams[in.Stream][i]
		case OpStore:
			streams[in.Stream][i] = val[in.A]
			continue
		case OpCoeff:
			r = T(coeffs.Field(in.Coeff).Float())
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
			r = MaxNaN(val[in.A], val[in.B])
		}
		val[in.Dst] = r
	}
}

func xor[T Float](a, b T) T {
	if _, ok := any(a).(float32); ok {
		return T(math.Float32frombits(math.Float32bits(float32(a)) ^ math.Float32bits(float32(b))))
	}
	return T(math.Float64frombits(math.Float64bits(float64(a)) ^ math.Float64bits(float64(b))))
}

var specials = []float64{0, math.Copysign(0, -1), 1, -1, math.Inf(1), math.Inf(-1), math.NaN(), 1e-30, -1e30, 5e-324}

func value(r *rand.Rand) float64 {
	if r.IntN(8) == 0 {
		return specials[r.IntN(len(specials))]
	}
	return (r.Float64()*2 - 1) * math.Ldexp(1, r.IntN(8)-4)
}

func bitsEqual[T Float](a, b T) bool {
	if a != a && b != b {
		return true // NaN payloads are canonicalized
	}
	if _, ok := any(a).(float32); ok {
		return math.Float32bits(float32(a)) == math.Float32bits(float32(b))
	}
	return math.Float64bits(float64(a)) == math.Float64bits(float64(b))
}

// TestProgramsMatchReference interprets every rule's program under every
// variant and compares it bit for bit with the rule's reference kernel.
// Coefficients are set through reflection, which the race detector's
// pointer checks accept (a cast to a longer array aborted under -race).
func TestProgramsMatchReference(t *testing.T) {
	for _, r := range Rules() {
		for _, v := range r.Variants() {
			p := Build(r.Kind, v)
			t.Run(p.Name(), func(t *testing.T) {
				check(t, p, Reference[float64](r.Kind))
				check(t, p, Reference[float32](r.Kind))
			})
		}
	}
}

func check[T Float](t *testing.T, p Program, ref Kernel[T]) {
	r := rand.New(rand.NewPCG(1, uint64(p.Variant)))
	const n = 512
	var c Coeffs[T]
	cs := reflect.ValueOf(&c).Elem()
	for trial := 0; trial < 20; trial++ {
		for i := range CoeffNames {
			cs.Field(i).SetFloat(float64(T(math.Abs(value(r)))))
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
		ref(p.Variant, &c, a[0], a[1], a[2], a[3], a[4])
		for i := 0; i < n; i++ {
			eval(p, &c, &b, i)
		}
		for s := range a {
			for i := range a[s] {
				if !bitsEqual(a[s][i], b[s][i]) {
					t.Fatalf("%T trial %d stream %d [%d]: reference %v, program %v", c.Eps, trial, s, i, a[s][i], b[s][i])
				}
			}
		}
	}
}
