//go:build !noasm

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/simdoptim/optim/generic"
)

// producibleVariants returns, per kind, every variant that the coefficients
// functions of package generic can return, found by trying every option
// that selects operations.
func producibleVariants() [kindCount][]Variant {
	var sets [kindCount]map[Variant]bool
	for k := range sets {
		sets[k] = map[Variant]bool{}
	}
	bools := []bool{false, true}
	for _, wd := range []float64{0, 0.1} {
		for _, mom := range []float64{0, 0.9} {
			for _, nesterov := range bools {
				for _, first := range bools {
					_, v := generic.SGDCoeffs[float32](0.1, mom, 0.1, wd, nesterov, false, first)
					sets[KindSGD][v] = true
				}
			}
			for _, centered := range bools {
				for _, alpha := range []float64{0.99, 0.3} { // lerp weight 1-alpha below and above 0.5
					_, v := generic.RMSPropCoeffs[float32](0.1, alpha, 1e-8, wd, mom, centered, false)
					sets[KindRMSProp][v] = true
				}
			}
		}
		_, v := generic.AdagradCoeffs[float32](0.1, 0.01, wd, 1e-10, false, 3)
		sets[KindAdagrad][v] = true
		for _, beta1 := range []float64{0.9, 0.3} {
			for _, ams := range bools {
				for _, decoupled := range bools {
					_, v := generic.AdamCoeffs[float32](0.1, beta1, 0.999, 1e-8, wd, ams, decoupled, false, 3)
					sets[KindAdam][v] = true
				}
			}
		}
	}
	var out [kindCount][]Variant
	for k, s := range sets {
		for v := range s {
			out[k] = append(out[k], v)
		}
		slices.Sort(out[k])
	}
	return out
}

var ruleFiles = [kindCount]string{"sgd", "adagrad", "rmsprop", "adam"}

// TestNEONComplete checks that every variant a coefficients function can
// produce reaches an assembly kernel, for both element types, and that the
// generated switches hold no other case.
func TestNEONComplete(t *testing.T) {
	src, err := os.ReadFile("update_arm64.go")
	if err != nil {
		t.Fatal(err)
	}
	asm, err := os.ReadFile("update_arm64.s")
	if err != nil {
		t.Fatal(err)
	}
	funcRE := regexp.MustCompile(`(?s)\nfunc (\w+)NEON(F32|F64)\(v generic.Variant.*?\n}\n`)
	caseRE := regexp.MustCompile(`case 0x([0-9a-f]+):\n\s*(\w+)\(`)
	got := map[string]bool{}
	for _, f := range funcRE.FindAllStringSubmatch(string(src), -1) {
		for _, c := range caseRE.FindAllStringSubmatch(f[0], -1) {
			want := fmt.Sprintf("%s_v%s_neon_%s", f[1], c[1], strings.ToLower(f[2]))
			if c[2] != want {
				t.Errorf("case 0x%s of %sNEON%s calls %s, want %s", c[1], f[1], f[2], c[2], want)
			}
			got[want] = true
		}
	}
	n := 0
	for kind, vs := range producibleVariants() {
		for _, v := range vs {
			for _, suffix := range []string{"f32", "f64"} {
				name := fmt.Sprintf("%s_v%02x_neon_%s", ruleFiles[kind], uint32(v), suffix)
				n++
				if !got[name] {
					t.Errorf("%v variant %#x (%s): no case in the generated switch", Kind(kind), uint32(v), suffix)
				}
				if !strings.Contains(string(asm), "TEXT ·"+name+"(SB)") {
					t.Errorf("%s: no assembly function", name)
				}
				delete(got, name)
			}
		}
	}
	for name := range got {
		t.Errorf("%s: dispatched but no coefficients function produces its variant", name)
	}
	if n != 72 {
		t.Errorf("%d (kind, variant, type) kernels, want 72", n)
	}
	if s, ok := Lookup("neon"); !ok || s != &neonSet || Compiled()[0] != &neonSet {
		t.Errorf("the neon set is not registered first")
	}
}

// sample returns a random element: mostly ordinary values, often one of
// the IEEE special cases, subnormals included.
func sample[T Float](r *rand.Rand) T {
	var zero T
	f32 := unsafe.Sizeof(zero) == 4
	switch r.IntN(12) {
	case 0:
		specials := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), 1, -1}
		return T(specials[r.IntN(len(specials))])
	case 1: // subnormal of T, random mantissa and sign
		if f32 {
			return T(math.Float32frombits(r.Uint32()&0x807fffff | 1))
		}
		return T(math.Float64frombits(r.Uint64()&0x800fffffffffffff | 1))
	case 2: // wide exponent range: products underflow to subnormals or overflow
		lo := -1100
		if f32 {
			lo = -160
		}
		return T(math.Ldexp(r.Float64()*2-1, lo+r.IntN(-lo+140)))
	}
	return T(math.Ldexp(r.Float64()*2-1, r.IntN(12)-6))
}

func coeffsFor[T Float](r *rand.Rand, maximize bool) Coeffs[T] {
	var c Coeffs[T]
	fields := (*[12]T)(unsafe.Pointer(&c))
	for i := range fields {
		if r.IntN(6) == 0 {
			fields[i] = sample[T](r)
		} else {
			fields[i] = T(r.Float64())
		}
	}
	c.Sign = 0
	if maximize {
		c.Sign = T(math.Copysign(0, -1))
	}
	return c
}

func sameBits[T Float](a, b T) bool {
	if a != a && b != b {
		return true // NaN payloads are canonicalized
	}
	if unsafe.Sizeof(a) == 4 {
		return math.Float32bits(float32(a)) == math.Float32bits(float32(b))
	}
	return math.Float64bits(float64(a)) == math.Float64bits(float64(b))
}

// guard fills the memory around the slices. It is a NaN that no kernel
// produces from these inputs, compared by bits.
func guard[T Float]() T {
	if unsafe.Sizeof(T(0)) == 4 {
		return T(math.Float32frombits(0x7fa5a5a5))
	}
	return T(math.Float64frombits(0x7ff5a5a5a5a5a5a5))
}

func guardIntact[T Float](x T) bool {
	if unsafe.Sizeof(x) == 4 {
		return math.Float32bits(float32(x)) == 0x7fa5a5a5
	}
	return math.Float64bits(float64(x)) == 0x7ff5a5a5a5a5a5a5
}

// TestNEONMatchesGeneric runs every NEON kernel on every length from 0 to
// 300 at every offset from 0 to 15 elements into a buffer whose other
// elements are guard values, and compares every written element with the
// reference bit for bit and every guard with its original bits.
func TestNEONMatchesGeneric(t *testing.T) {
	for kind, vs := range producibleVariants() {
		for _, v := range vs {
			t.Run(fmt.Sprintf("%v/%#x/f32", Kind(kind), uint32(v)), func(t *testing.T) {
				t.Parallel()
				matchesGeneric[float32](t, Kind(kind), v)
			})
			t.Run(fmt.Sprintf("%v/%#x/f64", Kind(kind), uint32(v)), func(t *testing.T) {
				t.Parallel()
				matchesGeneric[float64](t, Kind(kind), v)
			})
		}
	}
}

func matchesGeneric[T Float](t *testing.T, kind Kind, v Variant) {
	const maxLen, maxOff, pad = 300, 15, 16
	r := rand.New(rand.NewPCG(uint64(kind), uint64(v)))
	used := [5]bool{true, true}
	used[2], used[3], used[4] = Uses(kind, v)
	// Inputs are windows at random starts into pools of random values,
	// which is much cheaper under emulation than drawing every element.
	const poolLen = 4096
	var pool [5][]T
	for s := range pool {
		pool[s] = make([]T, poolLen)
		for i := range pool[s] {
			pool[s][i] = sample[T](r)
		}
	}
	var src [5][]T
	var got, want [5][]T
	for s := range got {
		got[s] = make([]T, pad+maxOff+maxLen+pad)
		want[s] = make([]T, len(got[s]))
	}
	neon, ref := Kernel[T](&neonSet, kind), Kernel[T](Generic(), kind)
	for n := 0; n <= maxLen; n++ {
		for off := 0; off <= maxOff; off++ {
			for s := range src {
				start := r.IntN(poolLen - maxLen)
				src[s] = pool[s][start : start+maxLen]
			}
			c := coeffsFor[T](r, off%2 == 1)
			var gs, ws [5][]T
			for s := range got {
				for i := range got[s] {
					got[s][i] = guard[T]()
				}
				if used[s] {
					copy(got[s][pad+off:], src[s][:n])
					gs[s] = got[s][pad+off : pad+off+n : pad+off+n]
					ws[s] = want[s][pad+off : pad+off+n : pad+off+n]
				}
				copy(want[s], got[s])
			}
			neon(v, &c, gs[0], gs[1], gs[2], gs[3], gs[4])
			ref(v, &c, ws[0], ws[1], ws[2], ws[3], ws[4])
			for s := range got {
				for i := range got[s] {
					inside := used[s] && i >= pad+off && i < pad+off+n
					if inside && !sameBits(got[s][i], want[s][i]) {
						t.Fatalf("n=%d off=%d: stream %d element %d: neon %v (%#x), generic %v; inputs p=%v g=%v s0=%v s1=%v s2=%v, coeffs %+v",
							n, off, s, i-pad-off, got[s][i], bitsOf(got[s][i]), want[s][i],
							src[0][i-pad-off], src[1][i-pad-off], src[2][i-pad-off], src[3][i-pad-off], src[4][i-pad-off], c)
					}
					if !inside && !guardIntact(got[s][i]) {
						t.Fatalf("n=%d off=%d: stream %d: element %d outside the slice was written: %v", n, off, s, i-pad-off, got[s][i])
					}
				}
			}
		}
	}
}

func bitsOf[T Float](x T) uint64 {
	if unsafe.Sizeof(x) == 4 {
		return uint64(math.Float32bits(float32(x)))
	}
	return math.Float64bits(float64(x))
}
