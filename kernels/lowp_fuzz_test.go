package kernels

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/ir"
)

// FuzzConv converts the fuzzer's bytes, read as float32 (for the
// narrowings) and as 16-bit values (for the widenings), with every
// conversion kernel of every supported set, through the validated
// functions and through each path, and compares the bits with the
// reference: exactly, NaNs included, since the reference defines every
// NaN's bits (the canonical NaN of a narrowing, a widening's quieted
// payload). off shifts the slices' start, so that the kernels see every
// alignment.
func FuzzConv(f *testing.F) {
	seed := make([]byte, 4*70)
	for i := range 70 {
		binary.LittleEndian.PutUint32(seed[4*i:], []uint32{0x7FC00000, 0xFFFFFFFF, 0x7F800001, 0x3F808000, 0x477FF000, 0x33000000, 0x00018000}[i%7]+uint32(i))
	}
	f.Add(seed, uint8(0))
	f.Add(seed[:66], uint8(3))
	f.Add([]byte{0, 0, 0xc0, 0x7f}, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, off uint8) {
		o := int(off % 8)
		if len(data) < 4*o {
			return
		}
		n := len(data)/4 - o
		x := make([]float32, n+o)[o:]
		h := make([]uint16, 2*n+o)[o:]
		for i := range x {
			x[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*(i+o):]))
		}
		for i := range h {
			h[i] = binary.LittleEndian.Uint16(data[2*i+4*o:])
		}
		for _, prog := range ir.ConvPrograms() {
			k := prog.Kind
			for _, c := range append(convKernelsUnderTest(t, k), convUnderTest{"generic", &convPath{name: "generic"}}) {
				if prog.Narrow {
					want, got := make([]uint16, n), make([]uint16, n)
					map[ir.ConvKind]func([]uint16, []float32){ir.ConvNarrowBF16: generic.NarrowBF16, ir.ConvNarrowF16: generic.NarrowF16}[k](want, x)
					runNarrow(c.path, k, got, x)
					for i := range want {
						if got[i] != want[i] {
							t.Fatalf("%s %s(%#08x) = %#04x, generic gives %#04x", c.name, prog.Name, math.Float32bits(x[i]), got[i], want[i])
						}
					}
					continue
				}
				want, got := make([]float32, len(h)), make([]float32, len(h))
				map[ir.ConvKind]func([]float32, []uint16){ir.ConvWidenBF16: generic.WidenBF16, ir.ConvWidenF16: generic.WidenF16}[k](want, h)
				runWiden(c.path, k, got, h)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s %s(%#04x) = %#08x, generic gives %#08x", c.name, prog.Name, h[i], math.Float32bits(got[i]), math.Float32bits(want[i]))
					}
				}
			}
		}
		// The validated functions run the chosen path of each set.
		for _, s := range Compiled() {
			if !s.Supported() {
				continue
			}
			got, want := make([]uint16, n), make([]uint16, n)
			if err := NarrowBF16(s, got, x); err != nil {
				t.Fatal(err)
			}
			generic.NarrowBF16(want, x)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("NarrowBF16 with %s: %#08x gives %#04x, generic %#04x", s.name, math.Float32bits(x[i]), got[i], want[i])
				}
			}
			wide, wantWide := make([]float32, len(h)), make([]float32, len(h))
			if err := WidenF16(s, wide, h); err != nil {
				t.Fatal(err)
			}
			generic.WidenF16(wantWide, h)
			for i := range wide {
				if math.Float32bits(wide[i]) != math.Float32bits(wantWide[i]) {
					t.Fatalf("WidenF16 with %s: %#04x gives %#08x, generic %#08x", s.name, h[i], math.Float32bits(wide[i]), math.Float32bits(wantWide[i]))
				}
			}
		}
	})
}
