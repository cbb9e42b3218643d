package kernels

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/testvals"
)

// This file holds what the kernel tests share: the kernels under test (every
// rule, every variant of its description, every supported set), bit
// comparison, value generation and the guard-value buffers. The guard-page
// helper is in guardpages_test.go.

// testCase is one rule under one variant.
type testCase struct {
	kind Kind
	v    Variant
}

func (tc testCase) String() string { return fmt.Sprintf("%v/%s", tc.kind, variantName(tc.v)) }

// variantName names v's bits, "plain" for none.
func variantName(v Variant) string {
	if v == 0 {
		return "plain"
	}
	return strings.ReplaceAll(v.Expr(""), " | ", "|")
}

// allCases lists every variant of every rule's description: the kernels
// that have assembly.
func allCases() []testCase {
	var out []testCase
	for _, r := range generic.Rules() {
		for _, v := range r.Variants() {
			out = append(out, testCase{r.Kind, v})
		}
	}
	return out
}

// used reports which streams (p, g, s0, s1, s2) a case reads or writes.
func (tc testCase) used() [5]bool {
	u := generic.Rules()[tc.kind].Uses(tc.v)
	return [5]bool{true, true, u[0], u[1], u[2]}
}

// nonNegative reports which streams hold squares: their values are drawn
// mostly non-negative, as in training, so that results are not mostly NaN.
func (tc testCase) nonNegative() [5]bool {
	var out [5]bool
	for i, s := range generic.Rules()[tc.kind].Slots {
		out[2+i] = s.NonNegative
	}
	return out
}

var streamNames = [5]string{"p", "g", "s0", "s1", "s2"}

// testedSets returns the compiled assembly sets this CPU supports, logging
// those it does not (they are compiled and vetted, and their register
// allocation is checked in the asm module, but running them would fault).
func testedSets(t testing.TB) []*Set {
	var out []*Set
	for _, s := range archSets() {
		if s.Supported() {
			out = append(out, s)
		} else {
			t.Logf("%s: not run, this CPU lacks its instructions", s.name)
		}
	}
	return out
}

// forEachSet runs f in a subtest per compiled assembly set, skipping those
// this CPU does not support.
func forEachSet(t *testing.T, f func(t *testing.T, s *Set)) {
	if len(archSets()) == 0 {
		t.Skipf("no assembly set is compiled for %s in this build", runtime.GOARCH)
	}
	for _, s := range archSets() {
		t.Run(s.name, func(t *testing.T) {
			if !s.Supported() {
				t.Skipf("this CPU does not support %s", s.name)
			}
			f(t, s)
		})
	}
}

// sizeOf is the size of T in bytes.
func sizeOf[T Float]() int {
	var zero T
	return int(unsafe.Sizeof(zero))
}

// rawBits returns x's exact bit pattern, NaN payload included, widened to 64
// bits.
func rawBits[T Float](x T) uint64 {
	if sizeOf[T]() == 4 {
		return uint64(math.Float32bits(float32(x)))
	}
	return math.Float64bits(float64(x))
}

// fromBits returns the T with bit pattern b (the low 32 bits for float32).
func fromBits[T Float](b uint64) T { return testvals.FromBits[T](b) }

// sameBits compares bits, except that any two NaNs are equal: the
// specification fixes every non-NaN bit but not NaN payloads. A guard value
// is a NaN, so guards are compared with rawBits instead.
func sameBits[T Float](a, b T) bool {
	return rawBits(a) == rawBits(b) || a != a && b != b
}

// firstDiff returns the first index where got and want differ (see
// sameBits), or -1.
func firstDiff[T Float](got, want []T) int {
	if len(got) != len(want) {
		return min(len(got), len(want))
	}
	if bytes.Equal(asBytes(got), asBytes(want)) {
		return -1 // the common case, without a per-element loop
	}
	for i := range got {
		if !sameBits(got[i], want[i]) {
			return i
		}
	}
	return -1
}

// asBytes views s's memory as bytes.
func asBytes[T Float](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*sizeOf[T]())
}

func dtypeName[T Float]() string {
	if sizeOf[T]() == 4 {
		return "float32"
	}
	return "float64"
}

// specialValues are values every kernel must carry through exactly as
// generic does: zeros, infinities, NaNs with payloads, subnormals, the
// extremes of the normal range, and values near 1.
func specialValues[T Float]() []T { return testvals.Specials[T]() }

// randomValue returns mostly ordinary values of either sign over a wide
// exponent range, and now and then a special value, random bits, a
// subnormal, or a value whose products overflow or underflow.
func randomValue[T Float](r *rand.Rand, specials []T) T {
	switch k := r.IntN(32); {
	case k <= 1:
		return specials[r.IntN(len(specials))]
	case k == 2:
		return fromBits[T](r.Uint64())
	case k == 3: // a subnormal
		if sizeOf[T]() == 4 {
			return fromBits[T](r.Uint64() & 0x807f_ffff)
		}
		return fromBits[T](r.Uint64() & 0x800f_ffff_ffff_ffff)
	case k == 4: // huge or tiny
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
// inputs by copying is much cheaper than generating them, which matters
// under -race and qemu.
type valuePool[T Float] struct {
	signed, nonNegative []T
}

func newValuePool[T Float](r *rand.Rand) *valuePool[T] {
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

// randomCoeffs returns coefficients of ordinary sizes, now and then a
// special value, and Sign -0 (maximize) when maximize is set. Every field
// is random, not only those a rule reads: a kernel must not read others.
func randomCoeffs[T Float](r *rand.Rand, maximize bool) Coeffs[T] {
	specials := specialValues[T]()
	field := func() T {
		if r.IntN(16) == 0 {
			return randomValue(r, specials)
		}
		return T(r.Float64() * math.Ldexp(1, r.IntN(8)-4))
	}
	c := Coeffs[T]{NegLR: -field(), WeightDecay: field(), Decay: field(), Momentum: field(), Dampening: field(),
		Beta2: field(), OneMinusBeta2: field(), Lerp: field(), LerpComp: field(), BC2Sqrt: field(), Eps: field()}
	if maximize {
		c.Sign = T(math.Copysign(0, -1))
	}
	return c
}

// Guard values fill the memory around every slice: NaNs with a payload no
// kernel produces, one per stream so that even a copy from one stream's
// guard into another's shows; compared by raw bits.
func guardValue[T Float](stream int) T {
	if sizeOf[T]() == 4 {
		return fromBits[T](0x7fa5_a5a0 + uint64(stream))
	}
	return fromBits[T](0x7ff5_a5a5_a5a5_a5a0 + uint64(stream))
}

// guardPad is the number of guard elements checked on each side of a slice:
// more than one AVX-512 vector of float32.
const guardPad = 32

// guardedBuf holds one stream's slice at a chosen offset from a 64-byte
// boundary inside a larger buffer whose surroundings hold guard values.
type guardedBuf[T Float] struct {
	stream int
	buf    []T
	start  int // index of a 64-byte aligned element with guardPad elements before it
	guards []T // a buffer's worth of guard values
}

func newGuardedBuf[T Float](stream, maxLen int) *guardedBuf[T] {
	buf := make([]T, guardPad+64/sizeOf[T]()+16+maxLen+guardPad)
	start := guardPad
	for uintptr(unsafe.Pointer(&buf[start]))%64 != 0 {
		start++
	}
	guards := make([]T, len(buf))
	for i := range guards {
		guards[i] = guardValue[T](stream)
	}
	return &guardedBuf[T]{stream, buf, start, guards}
}

// place fills the neighbourhood of the slice [off, off+n) with guards and
// returns the slice, its capacity its length.
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
				return fmt.Errorf("element %d outside %s (offset %d, length %d) was overwritten with %#x",
					i-lo, streamNames[b.stream], off, n, rawBits(b.buf[i]))
			}
		}
		return nil
	}
	if err := outside(lo-guardPad, lo); err != nil {
		return err
	}
	return outside(hi, hi+guardPad)
}

// stateArgs returns the state slices of length n that a case uses, nil for
// those it does not.
func stateArgs[T Float](s [5][]T, used [5]bool, n int) [3][]T {
	var out [3][]T
	for k := range out {
		if used[k+2] {
			out[k] = s[k+2][:n]
		}
	}
	return out
}
