package kernels

import (
	"fmt"
	"strings"
	"unsafe"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/cpufeat"
	"github.com/simdoptim/optim/internal/ir"
)

// The conversions between float32 and the 16-bit storage formats, bfloat16
// and float16, whose bits generic/lowp.go defines. A value of either format
// is held as its bits in a uint16 (package optim names the types BFloat16
// and Float16). Each set's assembly converts whole groups of convUnit
// elements, generated from the descriptions in internal/ir/conv.go
// (lowp_<arch>.go lists them); the reference converts the few elements
// left, so every set gives the reference's bits by construction.
//
// A set may have a second form of some conversions that uses an optional
// extension (internal/cpufeat.Ext): AVX512_BF16's VCVTNEPS2BF16 in avx512
// (and VCVTNE2PS2BF16 in its fused bfloat16 update kernels, extBF16).
// It runs where the CPU has the extension and OPTIM_ISA does not switch it
// off (OPTIM_ISA=nobf16), with the same bits as the form without it.

// convUnit is what every conversion kernel is called on a multiple of
// (kernelgen.ConvUnit).
const convUnit = 16

// The signatures of the conversion kernels: n is a multiple of convUnit.
type (
	narrowFunc = func(n int, dst *uint16, src *float32)
	widenFunc  = func(n int, dst *float32, src *uint16)
)

// convAsm holds one form's assembly kernels, indexed by ir.ConvKind: a
// narrowFunc or a widenFunc, or nil where the form has none.
type convAsm [ir.ConvKindCount]any

// convForm is one form of a set's conversion kernels: the set's own
// instructions (ext ""), or those of the extension named ext.
type convForm struct {
	set *Set
	ext string
	k   convAsm
}

// convPath is the kernels one conversion call runs: a set's, with or
// without its extensions' forms. A nil kernel is the reference.
type convPath struct {
	name string // the set's name, then "+" and each extension used: "avx512+bf16"
	k    convAsm
}

// convPaths returns the ways set s can convert: its own kernels, then, for
// each extension that has a form for s, the kernels with that form laid
// over them. The first is the set's own (the reference for generic).
func convPaths(s *Set) []convPath {
	base := convPath{name: s.name}
	var exts []convForm
	for _, f := range convForms {
		switch {
		case f.set != s:
		case f.ext == "":
			base.k = f.k
		default:
			exts = append(exts, f)
		}
	}
	out := []convPath{base}
	for _, f := range exts {
		p := convPath{name: s.name + "+" + f.ext, k: base.k}
		for kind, k := range f.k {
			if k != nil {
				p.k[kind] = k
			}
		}
		out = append(out, p)
	}
	return out
}

// extOf returns the extension named name.
func extOf(name string) (cpufeat.Ext, bool) {
	for _, e := range cpufeat.Exts() {
		if e.String() == name {
			return e, true
		}
	}
	return 0, false
}

// convFor returns the kernels that set s runs: its own, with the form of
// every extension the CPU has and OPTIM_ISA leaves on (decided once, at
// initialization, for every compiled set).
func convFor(s *Set) *convPath {
	if p, ok := convChosen[s]; ok {
		return p
	}
	return choosePath(s)
}

// extBF16 reports that the avx512 set's fused bfloat16 update kernels run
// their AVX512_BF16 form (the glue in update_amd64.go reads it; see
// Set.LowpExt in asm/internal/kernelgen): the CPU has the extension and
// OPTIM_ISA leaves it on, decided once at initialization, as for the
// conversions. Both forms give the same bits; tests switch it to run both.
var extBF16 = cpufeat.BF16.Enabled()

var convChosen = func() map[*Set]*convPath {
	m := map[*Set]*convPath{}
	for _, s := range Compiled() {
		m[s] = choosePath(s)
	}
	return m
}()

func choosePath(s *Set) *convPath {
	paths := convPaths(s)
	p := paths[0]
	for _, ep := range paths[1:] {
		_, name, _ := strings.Cut(ep.name, "+")
		if e, ok := extOf(name); ok && e.Enabled() {
			p = ep
		}
	}
	return &p
}

// ConvKernels names the conversion kernels set s runs: the set's name, then
// "+" and the extension used, as in "avx512+bf16".
func ConvKernels(s *Set) string { return convFor(s).name }

// NarrowBF16 sets dst[i] to src[i] rounded to bfloat16 (the reference is
// generic.BF16FromFloat32: to nearest even, every NaN to 0x7FC0), for
// every i, with set s. dst and src must have the same length and must not
// overlap in memory; on error nothing is written.
func NarrowBF16(s *Set, dst []uint16, src []float32) error {
	return narrow(s, ir.ConvNarrowBF16, dst, src)
}

// NarrowF16 sets dst[i] to src[i] rounded to IEEE binary16 (the reference
// is generic.F16FromFloat32: to nearest even, with subnormals, overflow to
// an infinity and every NaN to 0x7E00), for every i, with set s. dst and
// src must have the same length and must not overlap; on error nothing is
// written.
func NarrowF16(s *Set, dst []uint16, src []float32) error {
	return narrow(s, ir.ConvNarrowF16, dst, src)
}

// WidenBF16 sets dst[i] to the float32 value of the bfloat16 bits src[i]
// (exact: generic.Float32FromBF16), for every i, with set s. dst and src
// must have the same length and must not overlap; on error nothing is
// written.
func WidenBF16(s *Set, dst []float32, src []uint16) error {
	return widen(s, ir.ConvWidenBF16, dst, src)
}

// WidenF16 sets dst[i] to the float32 value of the float16 bits src[i]
// (exact: generic.Float32FromF16), for every i, with set s. dst and src
// must have the same length and must not overlap; on error nothing is
// written.
func WidenF16(s *Set, dst []float32, src []uint16) error {
	return widen(s, ir.ConvWidenF16, dst, src)
}

// checkConv validates a conversion call. The kernel's name is looked up
// on error only: ir.ConvPrograms builds every program, which allocates, and
// a valid call allocates nothing.
func checkConv(s *Set, kind ir.ConvKind, nDst, nSrc int, dst, src unsafe.Pointer, dstSize, srcSize int) error {
	var problem string
	switch {
	case s == nil:
		problem = "nil kernel set"
	case !s.Supported():
		problem = fmt.Sprintf("kernel set %s is not supported by this CPU", s.name)
	case nDst != nSrc:
		problem = fmt.Sprintf("len(src) = %d, want len(dst) = %d", nSrc, nDst)
	case nDst > 0 && overlapBytes(dst, nDst*dstSize, src, nSrc*srcSize):
		problem = "dst and src overlap in memory"
	default:
		return nil
	}
	return fmt.Errorf("kernels: %s: %s", ir.ConvPrograms()[kind].GoName, problem)
}

// overlapBytes reports whether the byte ranges [a, a+na) and [b, b+nb)
// intersect.
func overlapBytes(a unsafe.Pointer, na int, b unsafe.Pointer, nb int) bool {
	a0, b0 := uintptr(a), uintptr(b)
	return a0 < b0+uintptr(nb) && b0 < a0+uintptr(na)
}

func narrow(s *Set, kind ir.ConvKind, dst []uint16, src []float32) error {
	if err := checkConv(s, kind, len(dst), len(src), unsafe.Pointer(unsafe.SliceData(dst)), unsafe.Pointer(unsafe.SliceData(src)), 2, 4); err != nil {
		return err
	}
	runNarrow(convFor(s), kind, dst, src)
	return nil
}

func widen(s *Set, kind ir.ConvKind, dst []float32, src []uint16) error {
	if err := checkConv(s, kind, len(dst), len(src), unsafe.Pointer(unsafe.SliceData(dst)), unsafe.Pointer(unsafe.SliceData(src)), 4, 2); err != nil {
		return err
	}
	runWiden(convFor(s), kind, dst, src)
	return nil
}

// runNarrow converts src into dst (of equal lengths) with path p: its
// kernel on the whole groups of convUnit elements, the reference on the
// rest.
func runNarrow(p *convPath, kind ir.ConvKind, dst []uint16, src []float32) {
	src = src[:len(dst)]
	m := 0
	if k, ok := p.k[kind].(narrowFunc); ok {
		m = len(dst) &^ (convUnit - 1)
		if m > 0 {
			raceBytes(unsafe.Pointer(&src[0]), 4*m, false)
			raceBytes(unsafe.Pointer(&dst[0]), 2*m, true)
			k(m, &dst[0], &src[0])
		}
	}
	if kind == ir.ConvNarrowBF16 {
		generic.NarrowBF16(dst[m:], src[m:])
	} else {
		generic.NarrowF16(dst[m:], src[m:])
	}
}

// runWiden converts src into dst (of equal lengths) with path p.
func runWiden(p *convPath, kind ir.ConvKind, dst []float32, src []uint16) {
	src = src[:len(dst)]
	m := 0
	if k, ok := p.k[kind].(widenFunc); ok {
		m = len(dst) &^ (convUnit - 1)
		if m > 0 {
			raceBytes(unsafe.Pointer(&src[0]), 2*m, false)
			raceBytes(unsafe.Pointer(&dst[0]), 4*m, true)
			k(m, &dst[0], &src[0])
		}
	}
	if kind == ir.ConvWidenBF16 {
		generic.WidenBF16(dst[m:], src[m:])
	} else {
		generic.WidenF16(dst[m:], src[m:])
	}
}
