// Package testvals holds the test inputs that the tests of several packages
// share: the special floating-point values every kernel must carry through
// exactly as generic does, and the decoding of a fuzzer's raw bytes into
// floats. Only tests import it.
package testvals

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// Float is the element type of the tests' slices.
type Float interface{ float32 | float64 }

// Specials are zeros, infinities, NaNs with payloads, subnormals, the
// extremes of the normal range, and values near 1.
func Specials[T Float]() []T {
	var b []uint64
	if unsafe.Sizeof(T(0)) == 4 {
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
		out[i] = FromBits[T](x)
	}
	return out
}

// FromBits is the T whose IEEE-754 bits are the low bits of b.
func FromBits[T Float](b uint64) T {
	if unsafe.Sizeof(T(0)) == 4 {
		return T(math.Float32frombits(uint32(b)))
	}
	return T(math.Float64frombits(b))
}

// FuzzSeed is raw fuzz input holding the special values of both widths and
// a few ordinary ones.
func FuzzSeed() []byte {
	var b []byte
	for _, x := range Specials[float64]() {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	for _, x := range Specials[float32]() {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	for i := range 64 {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(i-32)/8))
	}
	return b
}

// FuzzInput turns a fuzzer's bytes into float values, little-endian, so
// that every NaN, infinity and subnormal can appear, cycling through Data
// (zeros when it is empty).
type FuzzInput[T Float] struct {
	Data []byte
	pos  int
}

// Next is the next value.
func (in *FuzzInput[T]) Next() T {
	size := int(unsafe.Sizeof(T(0)))
	var b uint64
	if len(in.Data) > 0 {
		for k := range size {
			b |= uint64(in.Data[(in.pos+k)%len(in.Data)]) << (8 * k)
		}
		in.pos = (in.pos + size) % len(in.Data)
	}
	return FromBits[T](b)
}

// Fill sets every element of s to the next value.
func (in *FuzzInput[T]) Fill(s []T) {
	for i := range s {
		s[i] = in.Next()
	}
}
