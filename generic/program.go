package generic

import (
	"reflect"
	"unsafe"

	"github.com/simdoptim/optim/internal/ir"
)

// This file connects the rules' descriptions to the operation list (IR) of
// package internal/ir, in which each description states its reference
// kernel's loop body. The IR is how this module generates its SIMD kernels,
// not part of its API, so it is internal; the descriptions hand their
// bodies to it (ir.Register) when this package initializes, and the
// generators and tests build the programs there (ir.Build).

func init() {
	rules := make([]ir.Rule, KindCount)
	for k, r := range table {
		rules[k] = ir.Rule{Name: r.Name, Body: func(b *ir.Builder, v uint32) { r.program(builder{b}, Variant(v)) }}
	}
	ir.Register(coeffNames(), rules)
}

// coeffNames lists the fields of Coeffs in layout order, after checking
// that every field has the element type, so that field k lies at byte
// offset k*sizeof(T) for both element types: that is what lets assembly
// read coefficient k at a fixed offset.
func coeffNames() []string {
	t32 := reflect.TypeOf(Coeffs[float32]{})
	t64 := reflect.TypeOf(Coeffs[float64]{})
	var out []string
	for i := 0; i < t32.NumField(); i++ {
		f32, f64 := t32.Field(i), t64.Field(i)
		if f32.Offset != uintptr(i)*unsafe.Sizeof(float32(0)) || f64.Offset != uintptr(i)*unsafe.Sizeof(float64(0)) {
			panic("generic: Coeffs is not a dense array of its element type")
		}
		out = append(out, f32.Name)
	}
	return out
}

// builder records a rule's loop body: internal/ir's Builder, whose
// coefficients are the fields of Coeffs by name, plus the steps that many
// rules' bodies share (family.go has those of Adam's family).
type builder struct{ *ir.Builder }

// gradient loads g and negates it when maximizing (XOR with Sign), as every
// reference kernel starts.
func (b builder) gradient() ir.Value { return b.Xor(b.Load(ir.StreamG), b.Coeff("Sign")) }

// lerp is torch's lerp(start, end, w), as the reference's lerp: the high
// form with LerpComp, else the low form with Lerp.
func (b builder) lerp(start, end ir.Value, high bool) ir.Value {
	d := b.Sub(end, start)
	if high {
		return b.Sub(end, b.Mul(d, b.Coeff("LerpComp")))
	}
	return b.Add(start, b.Mul(b.Coeff("Lerp"), d))
}
