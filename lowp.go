package optim

import (
	"unsafe"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// BFloat16 is a bfloat16 value: the upper 16 bits of a float32 (1 sign
// bit, 8 exponent bits, 7 mantissa bits), torch.bfloat16. Its bits are
// the uint16 itself, so BFloat16(b) and uint16(h) convert to and from
// bits. The conversions match torch's bits, with one canonical NaN
// (docs/semantics.md#bfloat16-and-float16): BFloat16From rounds to
// nearest even and gives BFloat16NaN for every NaN; Float32 is exact.
type BFloat16 uint16

// Float16 is an IEEE 754 binary16 value (1 sign bit, 5 exponent bits, 10
// mantissa bits, with subnormals), torch.float16. Float16From rounds to
// nearest even, overflows to an infinity and gives Float16NaN for every
// NaN; Float32 is exact.
type Float16 uint16

// The canonical NaNs, which every narrowing gives for any NaN, whatever
// its sign and payload: positive and quiet, with no payload.
const (
	BFloat16NaN BFloat16 = BFloat16(generic.BF16NaN) // 0x7FC0
	Float16NaN  Float16  = Float16(generic.F16NaN)   // 0x7E00
)

// BFloat16From returns x rounded to bfloat16, to nearest even; any NaN
// gives BFloat16NaN.
func BFloat16From(x float32) BFloat16 { return BFloat16(generic.BF16FromFloat32(x)) }

// Float32 returns h's value, exactly; a NaN keeps its bits (shifted).
func (h BFloat16) Float32() float32 { return generic.Float32FromBF16(uint16(h)) }

// IsNaN reports whether h is a NaN.
func (h BFloat16) IsNaN() bool { return h&0x7FFF > 0x7F80 }

// Float16From returns x rounded to float16, to nearest even, with
// subnormals; a finite x too large for float16 (|x| >= 65520) gives an
// infinity of its sign, and any NaN gives Float16NaN.
func Float16From(x float32) Float16 { return Float16(generic.F16FromFloat32(x)) }

// Float32 returns h's value, exactly; a NaN keeps its sign and payload
// and is made quiet.
func (h Float16) Float32() float32 { return generic.Float32FromF16(uint16(h)) }

// IsNaN reports whether h is a NaN.
func (h Float16) IsNaN() bool { return h&0x7FFF > 0x7C00 }

// NarrowBFloat16 sets dst[i] = BFloat16From(src[i]) for every i, with the
// kernel set in use (ISA), which gives the same bits on every CPU. dst and
// src must have the same length (else a *ShapeError) and must not overlap
// in memory (else an *OverlapError); on error nothing is written.
func NarrowBFloat16(dst []BFloat16, src []float32) error {
	d := u16s(dst)
	if err := checkConv("NarrowBFloat16", len(dst), len(src), unsafe.Pointer(unsafe.SliceData(d)), unsafe.Pointer(unsafe.SliceData(src)), 2, 4); err != nil {
		return err
	}
	return kernels.NarrowBF16(chosen.set, d, src)
}

// WidenBFloat16 sets dst[i] = src[i].Float32() for every i, with the
// kernel set in use. dst and src must have the same length (else a
// *ShapeError) and must not overlap (else an *OverlapError); on error
// nothing is written.
func WidenBFloat16(dst []float32, src []BFloat16) error {
	s := u16s(src)
	if err := checkConv("WidenBFloat16", len(dst), len(src), unsafe.Pointer(unsafe.SliceData(dst)), unsafe.Pointer(unsafe.SliceData(s)), 4, 2); err != nil {
		return err
	}
	return kernels.WidenBF16(chosen.set, dst, s)
}

// NarrowFloat16 sets dst[i] = Float16From(src[i]) for every i, with the
// kernel set in use. dst and src must have the same length (else a
// *ShapeError) and must not overlap (else an *OverlapError); on error
// nothing is written.
func NarrowFloat16(dst []Float16, src []float32) error {
	d := u16s(dst)
	if err := checkConv("NarrowFloat16", len(dst), len(src), unsafe.Pointer(unsafe.SliceData(d)), unsafe.Pointer(unsafe.SliceData(src)), 2, 4); err != nil {
		return err
	}
	return kernels.NarrowF16(chosen.set, d, src)
}

// WidenFloat16 sets dst[i] = src[i].Float32() for every i, with the kernel
// set in use. dst and src must have the same length (else a *ShapeError)
// and must not overlap (else an *OverlapError); on error nothing is
// written.
func WidenFloat16(dst []float32, src []Float16) error {
	s := u16s(src)
	if err := checkConv("WidenFloat16", len(dst), len(src), unsafe.Pointer(unsafe.SliceData(dst)), unsafe.Pointer(unsafe.SliceData(s)), 4, 2); err != nil {
		return err
	}
	return kernels.WidenF16(chosen.set, dst, s)
}

// u16s views a slice of a 16-bit storage type as its bits, for package
// kernels, which works on uint16.
func u16s[H BFloat16 | Float16](x []H) []uint16 {
	return unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(x))), len(x))
}

// halves views bits as a slice of a 16-bit storage type, u16s' inverse.
func halves[H BFloat16 | Float16](x []uint16) []H {
	return unsafe.Slice((*H)(unsafe.Pointer(unsafe.SliceData(x))), len(x))
}

// checkConv validates a bulk conversion: equal lengths, no overlap.
func checkConv(op string, nDst, nSrc int, dst, src unsafe.Pointer, dstSize, srcSize int) error {
	if nDst != nSrc {
		return &ShapeError{Op: op, What: "src", Index: -1, Got: nSrc, Want: nDst}
	}
	if nDst > 0 {
		d, s := uintptr(dst), uintptr(src)
		if d < s+uintptr(nSrc*srcSize) && s < d+uintptr(nDst*dstSize) {
			return &OverlapError{Op: op, A: Slot{Kind: "dst", Index: -1}, B: Slot{Kind: "src", Index: -1}}
		}
	}
	return nil
}
