package optim

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/klauspost/cpuid/v2"
	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/cpufeat"
	"github.com/simdoptim/optim/kernels"
)

// This file checks every supported kernel set against generic, the
// specification, over every length 0..300 at every alignment offset 0..15,
// with guard values around every slice. It also holds the helpers that the
// other test files of this package share: the variant list, bit comparison
// with canonical NaNs, and special-value generation.

// testFloat is the element type of the public API, which the helpers here
// also serve.
type testFloat interface{ float32 | float64 }

// testVariant is one kernel variant with coefficients from the generic
// builders.
type testVariant[T testFloat] struct {
	kind kernels.Kind
	v    generic.Variant
	c    generic.Coeffs[T]
}

func (tv testVariant[T]) String() string { return tv.kind.String() + "/" + variantString(tv.v) }

// variantString names the bits of v, "plain" for none.
func variantString(v generic.Variant) string {
	names := []string{"WD", "Decoupled", "Mom", "Nesterov", "First", "Centered", "AMSGrad", "LerpHigh"}
	var out []string
	for i, n := range names {
		if v&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return "plain"
	}
	return strings.Join(out, "|")
}

// allVariants returns every valid variant of every rule (36 in all), built by
// the coefficient builders from option combinations: SGD {0,WD} x {0, Mom,
// Mom|First, Mom|Nesterov, Mom|Nesterov|First}; Adagrad {0,WD}; RMSProp
// {0,WD} x {0, Centered, Centered|LerpHigh} x {0,Mom}; Adam {0, WD,
// Decoupled} x {0, AMSGrad} x {0, LerpHigh}. maximize sets Sign to -0.
func allVariants[T testFloat](maximize bool) []testVariant[T] {
	var out []testVariant[T]
	add := func(kind kernels.Kind, c generic.Coeffs[T], v generic.Variant) {
		out = append(out, testVariant[T]{kind, v, c})
	}
	for _, wd := range []float64{0, 0.0625} {
		type sgdOpt struct {
			mom, damp       float64
			nesterov, first bool
		}
		for _, o := range []sgdOpt{{0, 0, false, false}, {0.9, 0.25, false, false}, {0.9, 0.25, false, true}, {0.75, 0, true, false}, {0.75, 0, true, true}} {
			c, v := generic.SGDCoeffs[T](0.125, o.mom, o.damp, wd, o.nesterov, maximize, o.first)
			add(kernels.KindSGD, c, v)
		}
		c, v := generic.AdagradCoeffs[T](0.1, 0.01, wd, 1e-10, maximize, 3)
		add(kernels.KindAdagrad, c, v)
		for _, centered := range []int{0, 1, 2} {
			alpha := 0.99
			if centered == 2 {
				alpha = 0.375 // 1-alpha >= 0.5: torch's high lerp form
			}
			for _, mom := range []float64{0, 0.5} {
				c, v := generic.RMSPropCoeffs[T](0.01, alpha, 1e-8, wd, mom, centered > 0, maximize)
				add(kernels.KindRMSProp, c, v)
			}
		}
	}
	for _, decay := range []int{0, 1, 2} {
		for _, ams := range []bool{false, true} {
			for _, beta1 := range []float64{0.9, 0.25} {
				wd := 0.0
				if decay > 0 {
					wd = 0.0625
				}
				c, v := generic.AdamCoeffs[T](0.001, beta1, 0.999, 1e-8, wd, ams, decay == 2, maximize, 5)
				add(kernels.KindAdam, c, v)
			}
		}
	}
	return out
}

func TestAllVariantsDistinct(t *testing.T) {
	vs := allVariants[float64](false)
	seen := map[string]bool{}
	for _, tv := range vs {
		if seen[tv.String()] {
			t.Errorf("variant %v listed twice", tv)
		}
		seen[tv.String()] = true
	}
	if len(seen) != 36 {
		t.Errorf("%d distinct variants, want 36", len(seen))
	}
}

// canonicalNaN replaces every NaN (any sign, any payload) when comparing:
// the specification fixes the bits of every non-NaN result but not NaN
// payloads.
const canonicalNaN = 0x7ff8_0000_0000_0000

// bits returns x's bit pattern, widened to 64 bits, with NaNs canonicalized.
func bits[T testFloat](x T) uint64 {
	if x != x {
		return canonicalNaN
	}
	if unsafe.Sizeof(x) == 4 {
		return uint64(math.Float32bits(float32(x)))
	}
	return math.Float64bits(float64(x))
}

// rawBits returns x's exact bit pattern, NaN payload included.
func rawBits[T testFloat](x T) uint64 {
	if unsafe.Sizeof(x) == 4 {
		return uint64(math.Float32bits(float32(x)))
	}
	return math.Float64bits(float64(x))
}

// fromBits returns the T with bit pattern b (the low 32 bits for float32).
func fromBits[T testFloat](b uint64) T {
	var zero T
	if unsafe.Sizeof(zero) == 4 {
		f := math.Float32frombits(uint32(b))
		return *(*T)(unsafe.Pointer(&f))
	}
	f := math.Float64frombits(b)
	return *(*T)(unsafe.Pointer(&f))
}

// firstDiff returns the first index where got and want differ in
// canonicalized bits, or -1.
func firstDiff[T testFloat](got, want []T) int {
	if len(got) != len(want) {
		return min(len(got), len(want))
	}
	if bytes.Equal(asBytes(got), asBytes(want)) {
		return -1 // the common case, without a per-element loop (slow under -race)
	}
	for i := range got {
		if bits(got[i]) != bits(want[i]) {
			return i
		}
	}
	return -1
}

// asBytes views s's memory as bytes.
func asBytes[T testFloat](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(s[0])))
}

func dtypeName[T testFloat]() string {
	var zero T
	if unsafe.Sizeof(zero) == 4 {
		return "float32"
	}
	return "float64"
}

// specialBits are values that every kernel must carry through exactly as
// generic does: zeros, infinities, NaNs with payloads, subnormals, the
// extremes of the normal range, and values near 1.
func specialValues[T testFloat]() []T {
	var zero T
	if unsafe.Sizeof(zero) == 4 {
		b := []uint32{0, 0x8000_0000, 0x7f80_0000, 0xff80_0000, 0x7fc0_0000, 0xffc0_1234, 0x7fa0_0001,
			0x0000_0001, 0x8000_0001, 0x007f_ffff, 0x0040_0000, 0x0080_0000, 0x8080_0000,
			0x7f7f_ffff, 0xff7f_ffff, 0x3f80_0000, 0x3f7f_ffff, 0x3f80_0001, 0x5f00_0000, 0x2000_0000}
		out := make([]T, len(b))
		for i, x := range b {
			out[i] = fromBits[T](uint64(x))
		}
		return out
	}
	b := []uint64{0, 0x8000_0000_0000_0000, 0x7ff0_0000_0000_0000, 0xfff0_0000_0000_0000,
		0x7ff8_0000_0000_0000, 0xfff8_0000_0000_1234, 0x7ff4_0000_0000_0001,
		0x0000_0000_0000_0001, 0x8000_0000_0000_0001, 0x000f_ffff_ffff_ffff, 0x0008_0000_0000_0000,
		0x0010_0000_0000_0000, 0x8010_0000_0000_0000, 0x7fef_ffff_ffff_ffff, 0xffef_ffff_ffff_ffff,
		0x3ff0_0000_0000_0000, 0x3fef_ffff_ffff_ffff, 0x3ff0_0000_0000_0001, 0x5ff0_0000_0000_0000,
		0x2000_0000_0000_0000}
	out := make([]T, len(b))
	for i, x := range b {
		out[i] = fromBits[T](x)
	}
	return out
}

// randomValue returns mostly ordinary values of either sign over a wide
// exponent range, and now and then a special value or random bits.
func randomValue[T testFloat](r *rand.Rand, specials []T) T {
	switch k := r.IntN(32); {
	case k == 0:
		return specials[r.IntN(len(specials))]
	case k == 1:
		return fromBits[T](r.Uint64())
	case k == 2: // a subnormal
		var zero T
		if unsafe.Sizeof(zero) == 4 {
			return fromBits[T](r.Uint64() & 0x807f_ffff)
		}
		return fromBits[T](r.Uint64() & 0x800f_ffff_ffff_ffff)
	case k == 3: // huge or tiny
		e := 100
		if r.IntN(2) == 0 {
			e = -100
		}
		return T(math.Ldexp(r.Float64()+0.5, e))
	default:
		x := math.Ldexp(r.Float64()+0.5, r.IntN(16)-8)
		if r.IntN(2) == 0 {
			x = -x
		}
		return T(x)
	}
}

// valuePool holds random values to copy windows from: filling each case's
// inputs by copying is much cheaper than generating them, which matters under
// -race and qemu.
type valuePool[T testFloat] struct {
	signed, nonNegative []T
}

// newValuePool fills a pool with randomValue; the nonNegative half takes
// absolute values most of the time (square averages are usually >= 0, and
// mostly-NaN results would test little).
func newValuePool[T testFloat](r *rand.Rand) *valuePool[T] {
	specials := specialValues[T]()
	vp := &valuePool[T]{make([]T, 1<<13), make([]T, 1<<13)}
	for i := range vp.signed {
		vp.signed[i] = randomValue(r, specials)
		x := randomValue(r, specials)
		if r.IntN(16) != 0 {
			x = T(math.Abs(float64(x)))
		}
		vp.nonNegative[i] = x
	}
	return vp
}

// fill copies a random window of the pool into dst.
func (vp *valuePool[T]) fill(r *rand.Rand, dst []T, nonNegative bool) {
	src := vp.signed
	if nonNegative {
		src = vp.nonNegative
	}
	copy(dst, src[r.IntN(len(src)-len(dst)+1):])
}

// stateNonNegative reports which state slices of kind hold sums of squares.
func stateNonNegative(kind kernels.Kind) [3]bool {
	switch kind {
	case kernels.KindAdagrad:
		return [3]bool{true, false, false}
	case kernels.KindRMSProp:
		return [3]bool{true, false, false}
	case kernels.KindAdam:
		return [3]bool{false, true, true}
	}
	return [3]bool{}
}

// expectedSets lists the sets this CPU and build must exercise, decided
// independently of the dispatcher: from cpuid on amd64 (the same feature
// sets the kernels need), and NEON, baseline on arm64.
func expectedSets() []string {
	want := []string{"generic"}
	if noasmBuild {
		return want
	}
	switch runtime.GOARCH {
	case "amd64":
		// cpuid asked directly for internal/cpufeat's list of features.
		for _, isa := range []cpufeat.ISA{cpufeat.AVX2, cpufeat.AVX512} {
			if cpuid.CPU.Supports(isa.Features()...) {
				want = append(want, isa.String())
			}
		}
	case "arm64":
		want = append(want, "neon")
	}
	return want
}

// checkExercised fails t if a set this CPU supports was not exercised.
func checkExercised(t *testing.T, exercised []string) {
	t.Helper()
	t.Logf("exercised kernel sets: %v (GOARCH=%s, noasm=%v)", exercised, runtime.GOARCH, noasmBuild)
	for _, name := range expectedSets() {
		if !slices.Contains(exercised, name) {
			t.Errorf("this CPU supports kernel set %q but it was not exercised (not compiled in, or not reported by SupportedSets)", name)
		}
	}
}

func supportedNames() []string {
	var out []string
	for _, s := range SupportedSets() {
		out = append(out, s.Name())
	}
	return out
}

// Guard values fill the memory around every slice: NaNs with a payload that
// no kernel produces, so any write outside a slice shows.
const (
	guard64 = 0x7ffc_dead_beef_0123
	guard32 = 0x7fde_ad01
)

func guardValue[T testFloat]() T {
	var zero T
	if unsafe.Sizeof(zero) == 4 {
		return fromBits[T](guard32)
	}
	return fromBits[T](guard64)
}

// guardPad is the number of guard elements checked on each side of a slice.
const guardPad = 32

// guardedBuf holds one slice at a chosen offset from a 64-byte boundary
// inside a larger buffer whose surroundings hold guard values.
type guardedBuf[T testFloat] struct {
	buf    []T
	start  int // index of a 64-byte aligned element with guardPad elements before it
	guards []T // a buffer's worth of guard values
}

func newGuardedBuf[T testFloat](maxLen int) *guardedBuf[T] {
	var zero T
	size := int(unsafe.Sizeof(zero))
	buf := make([]T, guardPad+64/size+16+maxLen+guardPad)
	start := guardPad
	for uintptr(unsafe.Pointer(&buf[start]))%64 != 0 {
		start++
	}
	guards := make([]T, len(buf))
	for i := range guards {
		guards[i] = guardValue[T]()
	}
	return &guardedBuf[T]{buf, start, guards}
}

// place fills the neighbourhood of the slice [off, off+n) with guards and
// returns the slice.
func (b *guardedBuf[T]) place(off, n int) []T {
	lo, hi := b.start+off, b.start+off+n
	copy(b.buf[lo-guardPad:hi+guardPad], b.guards)
	return b.buf[lo:hi:hi]
}

// check reports the first guard element around [off, off+n) that changed.
func (b *guardedBuf[T]) check(off, n int) error {
	lo, hi := b.start+off, b.start+off+n
	outside := func(from, to int) error {
		if bytes.Equal(asBytes(b.buf[from:to]), asBytes(b.guards[:to-from])) {
			return nil
		}
		for i := from; i < to; i++ {
			if rawBits(b.buf[i]) != rawBits(b.guards[0]) {
				return fmt.Errorf("element %d outside the slice (offset %d, length %d) was overwritten with %#x", i-lo, off, n, rawBits(b.buf[i]))
			}
		}
		return nil
	}
	if err := outside(lo-guardPad, lo); err != nil {
		return err
	}
	return outside(hi, hi+guardPad)
}

var streamNames = [5]string{"p", "g", "s0", "s1", "s2"}

func TestKernelsMatchGeneric(t *testing.T) {
	sets := SupportedSets()
	var names []string
	for _, s := range sets {
		names = append(names, s.Name())
	}
	t.Run("float32", func(t *testing.T) { testKernelsMatchGeneric[float32](t, sets) })
	t.Run("float64", func(t *testing.T) { testKernelsMatchGeneric[float64](t, sets) })
	checkExercised(t, names)
}

// testKernelsMatchGeneric runs every variant at every length 0..300 with
// rotating alignment offsets (so every variant meets every offset 0..15),
// each stream at its own offset, and compares every set's results with
// generic's bit for bit.
func testKernelsMatchGeneric[T testFloat](t *testing.T, sets []*kernels.Set) {
	const maxLen = 300
	r := rand.New(rand.NewPCG(1, uint64(unsafe.Sizeof(T(0)))))
	pool := newValuePool[T](r)
	var bufs [5]*guardedBuf[T]
	for i := range bufs {
		bufs[i] = newGuardedBuf[T](maxLen)
	}
	in := make([][]T, 5)
	want := make([][]T, 5)
	for i := range in {
		in[i] = make([]T, maxLen)
		want[i] = make([]T, maxLen)
	}
	failures := 0
	variants := [2][]testVariant[T]{allVariants[T](false), allVariants[T](true)}
	for vi := range variants[0] {
		for n := 0; n <= maxLen; n++ {
			maximize := (n+vi)%3 == 0
			tv := variants[0][vi]
			if maximize {
				tv = variants[1][vi]
			}
			used := [5]bool{true, true}
			used[2], used[3], used[4] = kernels.Uses(tv.kind, tv.v)
			nonNeg := stateNonNegative(tv.kind)
			// Rotate p's offset with n (every offset meets every variant)
			// and place every other stream at its own offset.
			var offs [5]int
			offs[0] = (n + 3*vi) % 16
			for k := 1; k < 5; k++ {
				offs[k] = r.IntN(16)
			}
			for k := range in {
				if used[k] {
					pool.fill(r, in[k][:n], k >= 2 && nonNeg[k-2])
					copy(want[k][:n], in[k][:n])
				}
			}
			ws := stateArgs(want, used, n)
			kernels.Kernel[T](kernels.Generic(), tv.kind)(tv.v, &tv.c, want[0][:n], want[1][:n], ws[0], ws[1], ws[2])
			for _, set := range sets {
				var args [5][]T
				for k := range args {
					if used[k] {
						args[k] = bufs[k].place(offs[k], n)
						copy(args[k], in[k][:n])
					}
				}
				kernels.Kernel[T](set, tv.kind)(tv.v, &tv.c, args[0], args[1], args[2], args[3], args[4])
				for k := range args {
					if !used[k] {
						continue
					}
					if err := bufs[k].check(offs[k], n); err != nil {
						t.Errorf("%s %v %v n=%d: %s: %v", set.Name(), dtypeName[T](), tv, n, streamNames[k], err)
						failures++
					}
					exp := want[k][:n]
					if k == 1 {
						exp = in[1][:n] // g is read only
					}
					if i := firstDiff(args[k], exp); i >= 0 {
						t.Errorf("%s %v %v maximize=%v n=%d offsets=%v: %s[%d] = %#x, generic gives %#x (inputs p=%#x g=%#x)",
							set.Name(), dtypeName[T](), tv, maximize, n, offs, streamNames[k], i,
							rawBits(args[k][i]), rawBits(exp[i]), rawBits(in[0][i]), rawBits(in[1][i]))
						failures++
					}
				}
				if failures > 20 {
					t.Fatal("too many failures")
				}
			}
		}
	}
}

// stateArgs returns the state slices of length n that a variant uses, nil
// for those it does not.
func stateArgs[T testFloat](s [][]T, used [5]bool, n int) [3][]T {
	var out [3][]T
	for k := range out {
		if used[k+2] {
			out[k] = s[k+2][:n]
		}
	}
	return out
}
