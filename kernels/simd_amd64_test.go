//go:build !noasm

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/cpuid/v2"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/cpufeat"
)

// runnable reports whether this CPU runs the named assembly set: cpuid
// asked directly for the features internal/cpufeat lists as required.
func runnable(name string) bool {
	isa, err := cpufeat.ParseISA(name)
	return err == nil && isa.Arch() == "amd64" && cpuid.CPU.Supports(isa.Features()...)
}

// runnableSets returns the assembly sets this CPU runs, logging the others.
func runnableSets(t *testing.T) []*Set {
	var out []*Set
	for _, s := range archSets() {
		if runnable(s.name) {
			out = append(out, s)
		} else {
			t.Logf("%s: not run, this CPU (%s) lacks its features; only assembled and vetted", s.name, cpuid.CPU.BrandName)
		}
	}
	return out
}

func TestArchSets(t *testing.T) {
	var names []string
	for _, s := range archSets() {
		names = append(names, s.name)
		for k := Kind(0); k < kindCount; k++ {
			if s.f32[k] == nil || s.f64[k] == nil {
				t.Errorf("%s: no kernel for %v", s.name, k)
			}
		}
	}
	if len(names) != 2 || names[0] != "avx512" || names[1] != "avx2" {
		t.Errorf("archSets() = %v, want [avx512 avx2] (fastest first)", names)
	}
}

// reachableVariants enumerates every variant the coefficient functions of
// package generic can return, from every combination of their options.
func reachableVariants() [kindCount]map[Variant]bool {
	var out [kindCount]map[Variant]bool
	for k := range out {
		out[k] = map[Variant]bool{}
	}
	bools := []bool{false, true}
	for _, wd := range []float64{0, 0.01} {
		for _, max := range bools {
			for _, mom := range []float64{0, 0.9} {
				for _, nest := range bools {
					for _, first := range bools {
						_, v := generic.SGDCoeffs[float32](0.1, mom, 0.1, wd, nest, max, first)
						out[KindSGD][v] = true
					}
				}
				for _, centered := range bools {
					for _, alpha := range []float64{0.99, 0.3} {
						_, v := generic.RMSPropCoeffs[float32](0.01, alpha, 1e-8, wd, mom, centered, max)
						out[KindRMSProp][v] = true
					}
				}
			}
			_, v := generic.AdagradCoeffs[float32](0.01, 0.1, wd, 1e-10, max, 3)
			out[KindAdagrad][v] = true
			for _, beta1 := range []float64{0.9, 0.3} {
				for _, ams := range bools {
					for _, dec := range bools {
						_, v := generic.AdamCoeffs[float32](1e-3, beta1, 0.999, 1e-8, wd, ams, dec, max, 5)
						out[KindAdam][v] = true
					}
				}
			}
		}
	}
	return out
}

// TestEveryVariantHasAssembly checks that no variant in use falls back to
// Go: every variant the coefficient functions produce has an assembly
// kernel in each set's generated switch.
func TestEveryVariantHasAssembly(t *testing.T) {
	reach := reachableVariants()
	for _, s := range archSets() {
		for k := Kind(0); k < kindCount; k++ {
			have := map[Variant]bool{}
			for _, v := range asmVariants[s.name][k] {
				have[v] = true
			}
			for v := range reach[k] {
				if !have[v] {
					t.Errorf("%s %v: variant %#x has no assembly kernel", s.name, k, uint32(v))
				}
			}
			if len(have) != len(reach[k]) {
				t.Errorf("%s %v: %d assembly variants, %d reachable", s.name, k, len(have), len(reach[k]))
			}
		}
	}
}

// TestMatchesGeneric runs every assembly kernel this CPU supports on every
// length 0..300 at every offset 0..15 into guarded buffers, and compares
// every result bit with package generic.
func TestMatchesGeneric(t *testing.T) {
	sets := runnableSets(t)
	if len(sets) == 0 {
		t.Skip("this CPU runs no amd64 assembly set")
	}
	maxLen, maxOff := 300, 15
	if testing.Short() || raceEnabled {
		maxLen, maxOff = 70, 3
	}
	for _, s := range sets {
		for k := Kind(0); k < kindCount; k++ {
			for _, v := range asmVariants[s.name][k] {
				t.Run(fmt.Sprintf("%s/%v/v%02x", s.name, k, uint32(v)), func(t *testing.T) {
					compare[float32](t, s, k, v, maxLen, maxOff)
					compare[float64](t, s, k, v, maxLen, maxOff)
				})
			}
		}
	}
}

// guardBits fill the space around every slice, one NaN payload per stream
// so that even a copy from one stream's guard into another's is seen.
const guardBits32, guardBits64 = 0x7fa5a5a0, 0x7ff5a5a5a5a5a5a0

const guard = 16 // guard elements after each slice

func compare[T Float](t *testing.T, s *Set, kind Kind, v Variant, maxLen, maxOff int) {
	r := rand.New(rand.NewPCG(uint64(kind), uint64(v)))
	asm, ref := Kernel[T](s, kind), Kernel[T](Generic(), kind)
	u0, u1, u2 := Uses(kind, v)
	used := [5]bool{true, true, u0, u1, u2}
	size := maxOff + maxLen + guard
	var src, got, want [5][]T
	for i := range src {
		src[i], got[i], want[i] = make([]T, size), make([]T, size), make([]T, size)
	}
	// Drawing values is the slow part: draw a pool once and take every
	// slice's contents from a random place in it.
	pool := make([]T, 8192)
	for j := range pool {
		pool[j] = randomValue[T](r)
	}
	for n := 0; n <= maxLen; n++ {
		for off := 0; off <= maxOff; off++ {
			c := randomCoeffs[T](r)
			var gs, ws [5][]T
			for i := range src {
				if !used[i] {
					continue // unused state slices are nil
				}
				for j := range src[i] {
					src[i][j] = guardValue[T](i)
				}
				from := r.IntN(len(pool) - n)
				copy(src[i][off:off+n], pool[from:from+n])
				copy(got[i], src[i])
				copy(want[i], src[i])
				gs[i], ws[i] = got[i][off:off+n], want[i][off:off+n]
			}
			ref(v, &c, ws[0], ws[1], ws[2], ws[3], ws[4])
			asm(v, &c, gs[0], gs[1], gs[2], gs[3], gs[4])
			for i := range src {
				if !used[i] {
					continue
				}
				for j := range got[i] {
					if !sameBits(got[i][j], want[i][j]) {
						where := "inside"
						if j < off || j >= off+n {
							where = "OUTSIDE"
						}
						t.Fatalf("%s %v variant %#x %T n=%d off=%d: stream %d element %d (%s the slice): got %v (%#x), want %v (%#x)",
							s.name, kind, uint32(v), c.Eps, n, off, i, j-off, where, got[i][j], bitsOf(got[i][j]), want[i][j], bitsOf(want[i][j]))
					}
				}
			}
		}
	}
}

func guardValue[T Float](stream int) T {
	var x T
	switch p := any(&x).(type) {
	case *float32:
		*p = math.Float32frombits(guardBits32 + uint32(stream))
	case *float64:
		*p = math.Float64frombits(guardBits64 + uint64(stream))
	}
	return x
}

func isGuard[T Float](x T) bool {
	for s := 0; s < 5; s++ {
		if bitsOf(x) == bitsOf(guardValue[T](s)) {
			return true
		}
	}
	return false
}

func bitsOf[T Float](x T) uint64 {
	switch y := any(x).(type) {
	case float32:
		return uint64(math.Float32bits(y))
	default:
		return math.Float64bits(float64(x))
	}
}

// sameBits compares bits, except that any two NaNs are equal (payloads are
// not specified) unless one of them is the guard pattern.
func sameBits[T Float](a, b T) bool {
	if bitsOf(a) == bitsOf(b) {
		return true
	}
	return a != a && b != b && !isGuard(a) && !isGuard(b)
}

// randomValue draws from normal numbers across many binades and, one time
// in four, a special value: ±0, ±Inf, NaN, subnormals, extremes.
func randomValue[T Float](r *rand.Rand) T {
	_, is32 := any(T(0)).(float32)
	if r.IntN(4) == 0 {
		specials := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), 1, -1}
		if is32 {
			specials = append(specials, 1e-40, -1e-45, math.MaxFloat32, -1.1754942e-38)
		} else {
			specials = append(specials, 5e-324, -1e-310, math.MaxFloat64, -2.2250738585072009e-308)
		}
		return T(specials[r.IntN(len(specials))])
	}
	return T((r.Float64()*2 - 1) * math.Ldexp(1, r.IntN(40)-20))
}

func randomCoeffs[T Float](r *rand.Rand) Coeffs[T] {
	field := func() T {
		if r.IntN(16) == 0 {
			return randomValue[T](r)
		}
		return T(r.Float64() * math.Ldexp(1, r.IntN(8)-4))
	}
	c := Coeffs[T]{NegLR: -field(), WeightDecay: field(), Decay: field(), Momentum: field(), Dampening: field(),
		Beta2: field(), OneMinusBeta2: field(), Lerp: field(), LerpComp: field(), BC2Sqrt: field(), Eps: field()}
	if r.IntN(2) == 0 {
		c.Sign = T(math.Copysign(0, -1))
	}
	return c
}
