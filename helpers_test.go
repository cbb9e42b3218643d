package optim

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"unsafe"

	"github.com/simdoptim/optim/kernels"
)

// Helpers shared by this package's tests: the element type of the public
// API, bit comparison with canonical NaNs, special and random values, guarded
// buffers, fuzz seeds, and the rule behind a pointer. Kernel equivalence is
// tested in package kernels.

// testFloat is the element type of the public API.
type testFloat interface{ float32 | float64 }

// canonicalNaN replaces every NaN (any sign, any payload) when comparing:
// the specification fixes the bits of every non-NaN result but not NaN
// payloads.
const canonicalNaN = 0x7ff8_0000_0000_0000

// bits returns x's bit pattern, widened to 64 bits, with NaNs canonicalized.
func bits[T testFloat](x T) uint64 {
	if x != x {
		return canonicalNaN
	}
	return rawBits(x)
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
		return T(math.Float32frombits(uint32(b)))
	}
	return T(math.Float64frombits(b))
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

// specialValues are values that every update must carry through exactly as
// generic does: zeros, infinities, NaNs with payloads, subnormals, the
// extremes of the normal range, and values near 1.
func specialValues[T testFloat]() []T {
	var zero T
	var b []uint64
	if unsafe.Sizeof(zero) == 4 {
		b = []uint64{0, 0x8000_0000, 0x7f80_0000, 0xff80_0000, 0x7fc0_0000, 0xffc0_1234, 0x7fa0_0001,
			0x0000_0001, 0x8000_0001, 0x007f_ffff, 0x0040_0000, 0x0080_0000, 0x8080_0000,
			0x7f7f_ffff, 0xff7f_ffff, 0x3f80_0000, 0x3f7f_ffff, 0x3f80_0001, 0x5f00_0000, 0x2000_0000}
	} else {
		b = []uint64{0, 0x8000_0000_0000_0000, 0x7ff0_0000_0000_0000, 0xfff0_0000_0000_0000,
			0x7ff8_0000_0000_0000, 0xfff8_0000_0000_1234, 0x7ff4_0000_0000_0001,
			0x0000_0000_0000_0001, 0x8000_0000_0000_0001, 0x000f_ffff_ffff_ffff, 0x0008_0000_0000_0000,
			0x0010_0000_0000_0000, 0x8010_0000_0000_0000, 0x7fef_ffff_ffff_ffff, 0xffef_ffff_ffff_ffff,
			0x3ff0_0000_0000_0000, 0x3fef_ffff_ffff_ffff, 0x3ff0_0000_0000_0001, 0x5ff0_0000_0000_0000,
			0x2000_0000_0000_0000}
	}
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

func supportedNames() []string {
	var out []string
	for _, s := range SupportedSets() {
		out = append(out, s.Name())
	}
	return out
}

func ruleKind(r Rule) kernels.Kind { return derefRule(r).kind() }

// derefRule returns the value behind a pointer rule.
func derefRule(r Rule) Rule {
	switch p := r.(type) {
	case *SGD:
		return *p
	case *Adagrad:
		return *p
	case *RMSProp:
		return *p
	case *Adam:
		return *p
	}
	return r
}

// fuzzSeedBytes is raw input with special values in both widths.
func fuzzSeedBytes() []byte {
	var b []byte
	for _, x := range specialValues[float64]() {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	for _, x := range specialValues[float32]() {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	for i := range 64 {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(i-32)/8))
	}
	return b
}
