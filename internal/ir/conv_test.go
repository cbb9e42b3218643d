package ir_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/ir"
)

// evalConv interprets a conversion program on element i: values are held
// as their bits (float32 bits or 16-bit storage bits) in a uint32.
func evalConv(p ir.ConvProgram, dst, src []uint32, i int) {
	val := make([]uint32, p.Values)
	for _, in := range p.Body {
		var r uint32
		switch in.Op {
		case ir.OpLoad:
			r = src[i]
		case ir.OpStore:
			dst[i] = val[in.A]
			continue
		case ir.OpNarrow:
			x := math.Float32frombits(val[in.A])
			if in.Format == ir.BF16 {
				r = uint32(generic.BF16FromFloat32(x))
			} else {
				r = uint32(generic.F16FromFloat32(x))
			}
		case ir.OpExpand:
			var x float32
			if in.Format == ir.BF16 {
				x = generic.Float32FromBF16(uint16(val[in.A]))
			} else {
				x = generic.Float32FromF16(uint16(val[in.A]))
			}
			r = math.Float32bits(x)
		default:
			panic("unexpected op in a conversion program: " + in.Op.String())
		}
		val[in.Dst] = r
	}
}

// TestConvProgramsMatchReference interprets every conversion program and
// compares it with its bulk reference in package generic, bit for bit.
func TestConvProgramsMatchReference(t *testing.T) {
	progs := ir.ConvPrograms()
	if len(progs) != int(ir.ConvKindCount) {
		t.Fatalf("%d conversion programs, want %d", len(progs), ir.ConvKindCount)
	}
	refs := map[string]func(dst, src []uint32){
		"NarrowBF16": func(dst, src []uint32) { narrowRef(generic.NarrowBF16, dst, src) },
		"NarrowF16":  func(dst, src []uint32) { narrowRef(generic.NarrowF16, dst, src) },
		"WidenBF16":  func(dst, src []uint32) { widenRef(generic.WidenBF16, dst, src) },
		"WidenF16":   func(dst, src []uint32) { widenRef(generic.WidenF16, dst, src) },
	}
	r := rand.New(rand.NewPCG(1, 2))
	for k, p := range progs {
		if p.Kind != ir.ConvKind(k) {
			t.Errorf("program %d has kind %d", k, p.Kind)
		}
		ref, ok := refs[p.GoName]
		if !ok {
			t.Fatalf("%s: no reference generic.%s", p.Name, p.GoName)
		}
		n := 1 << 16
		src := make([]uint32, n)
		for i := range src {
			if p.Narrow {
				src[i] = r.Uint32()
			} else {
				src[i] = uint32(i)
			}
		}
		got, want := make([]uint32, n), make([]uint32, n)
		for i := range src {
			evalConv(p, got, src, i)
		}
		ref(want, src)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s(%#x) = %#x, reference %#x", p.Name, src[i], got[i], want[i])
			}
		}
		if p.SrcSize()+p.DstSize() != 6 || (p.SrcSize() == 4) != p.Narrow {
			t.Errorf("%s: element sizes %d and %d", p.Name, p.SrcSize(), p.DstSize())
		}
	}
}

func narrowRef(f func([]uint16, []float32), dst, src []uint32) {
	in, out := make([]float32, len(src)), make([]uint16, len(dst))
	for i, b := range src {
		in[i] = math.Float32frombits(b)
	}
	f(out, in)
	for i, h := range out {
		dst[i] = uint32(h)
	}
}

func widenRef(f func([]float32, []uint16), dst, src []uint32) {
	in, out := make([]uint16, len(src)), make([]float32, len(dst))
	for i, b := range src {
		in[i] = uint16(b)
	}
	f(out, in)
	for i, x := range out {
		dst[i] = math.Float32bits(x)
	}
}
