//go:build unix

package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/ir"
)

// guardedSlice returns a slice of n elements of size bytes in r, flush
// against the trailing guard page (atEnd) or the leading one.
func guardedSlice(r *guardedRegion, n, size int, atEnd bool) unsafe.Pointer {
	base := unsafe.Pointer(unsafe.SliceData(r.data))
	if atEnd {
		return unsafe.Add(base, len(r.data)-n*size)
	}
	return base
}

// TestConvGuardPages runs every conversion kernel of every supported set
// (both forms where the CPU has an extension) on every length of
// convLengths with src and dst each in its own mapping, flush against an
// inaccessible page: first ending at the page after it, then starting
// right after the page before it. Reading or writing one byte past either
// end faults; the results are compared with the reference.
func TestConvGuardPages(t *testing.T) {
	lengths := convLengths()
	maxLen := lengths[len(lengths)-1]
	src, dst := newGuardedRegion(t, 4*maxLen), newGuardedRegion(t, 4*maxLen)
	r := rand.New(rand.NewPCG(7, 8))
	for _, prog := range ir.ConvPrograms() {
		k := prog.Kind
		for _, c := range convKernelsUnderTest(t, k) {
			for _, atEnd := range []bool{true, false} {
				for _, n := range lengths {
					f, h := convInputs(r, n)
					if prog.Narrow {
						in := unsafe.Slice((*float32)(guardedSlice(src, n, 4, atEnd)), n)
						out := unsafe.Slice((*uint16)(guardedSlice(dst, n, 2, atEnd)), n)
						copy(in, f)
						want := make([]uint16, n)
						map[ir.ConvKind]func([]uint16, []float32){ir.ConvNarrowBF16: generic.NarrowBF16, ir.ConvNarrowF16: generic.NarrowF16}[k](want, f)
						runNarrow(c.path, k, out, in)
						for i := range want {
							if out[i] != want[i] {
								t.Fatalf("%s %s n=%d at end %v: dst[%d] = %#04x, want %#04x", c.name, prog.Name, n, atEnd, i, out[i], want[i])
							}
						}
						continue
					}
					in := unsafe.Slice((*uint16)(guardedSlice(src, n, 2, atEnd)), n)
					out := unsafe.Slice((*float32)(guardedSlice(dst, n, 4, atEnd)), n)
					copy(in, h)
					want := make([]float32, n)
					map[ir.ConvKind]func([]float32, []uint16){ir.ConvWidenBF16: generic.WidenBF16, ir.ConvWidenF16: generic.WidenF16}[k](want, h)
					runWiden(c.path, k, out, in)
					for i := range want {
						if math.Float32bits(out[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s %s n=%d at end %v: dst[%d] = %#08x, want %#08x", c.name, prog.Name, n, atEnd, i, math.Float32bits(out[i]), math.Float32bits(want[i]))
						}
					}
				}
			}
		}
	}
}
