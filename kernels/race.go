//go:build race

package kernels

import (
	"runtime"
	"unsafe"

	"github.com/simdoptim/optim/generic"
)

// raceAnnotated makes an assembly kernel's memory accesses visible to the
// race detector, which instruments Go code only: a data race on params was
// reported under the generic set and missed under AVX2 and AVX-512.
// Before the kernel runs it declares the reads of c and g and the writes of
// p and of the state slices the variant uses. The generic set is Go, which
// the detector already sees.
func raceAnnotated[T Float](s *Set, kind Kind, k generic.Kernel[T]) generic.Kernel[T] {
	if s == &genericSet {
		return k
	}
	return func(v Variant, c *Coeffs[T], p, g, s0, s1, s2 []T) {
		runtime.RaceReadRange(unsafe.Pointer(c), int(unsafe.Sizeof(*c)))
		n := len(p)
		raceRange(g, n, false)
		raceRange(p, n, true)
		u0, u1, u2 := Uses(kind, v)
		for i, used := range [3]bool{u0, u1, u2} {
			if used {
				raceRange([3][]T{s0, s1, s2}[i], n, true)
			}
		}
		k(v, c, p, g, s0, s1, s2)
	}
}

// raceRange declares a read, or a write (which the detector also checks
// against reads), of the first n elements of x: a kernel touches len(p)
// elements of every slice, and its caller guarantees they exist.
func raceRange[T Float](x []T, n int, write bool) {
	if n == 0 {
		return
	}
	addr, size := unsafe.Pointer(unsafe.SliceData(x)), n*int(unsafe.Sizeof(x[0]))
	if write {
		runtime.RaceWriteRange(addr, size)
	} else {
		runtime.RaceReadRange(addr, size)
	}
}
