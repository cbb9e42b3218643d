package kernels

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/simdoptim/optim/internal/ir"
)

// BenchmarkConv times every conversion with generic and with every path
// of every assembly set this CPU runs (both forms where the CPU has an
// extension), at 65,536 elements (in cache) and 16M (memory-bound).
// b.SetBytes counts the bytes read and written, as BenchmarkKernels does:
//
//	go test -run - -bench Conv ./kernels
func BenchmarkConv(b *testing.B) {
	for _, prog := range ir.ConvPrograms() {
		k := prog.Kind
		paths := []convPath{{name: "generic"}}
		for _, s := range archSets() {
			if s.Supported() {
				for _, p := range convPaths(s) {
					if _, ext, ok := strings.Cut(p.name, "+"); ok {
						// An extension's path where it has a kernel of
						// its own for k, and the CPU has it.
						if e, known := extOf(ext); !known || !e.Supported() || reflect.ValueOf(p.k[k]).Pointer() == reflect.ValueOf(convPaths(s)[0].k[k]).Pointer() {
							continue
						}
					}
					paths = append(paths, p)
				}
			}
		}
		for _, n := range benchSizes {
			x := make([]float32, n)
			h := make([]uint16, n)
			for i := range x {
				x[i] = float32(math.Sin(float64(i)))
				h[i] = uint16(uint32(i) * 2654435761 >> 16)
			}
			f32, u16 := make([]float32, n), make([]uint16, n)
			for _, p := range paths {
				b.Run(fmt.Sprintf("%s/%s/n=%d", prog.Name, p.name, n), func(b *testing.B) {
					b.SetBytes(int64(n * (prog.SrcSize() + prog.DstSize())))
					for b.Loop() {
						if prog.Narrow {
							runNarrow(&p, k, u16, x)
						} else {
							runWiden(&p, k, f32, h)
						}
					}
				})
			}
		}
	}
}
