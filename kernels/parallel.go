package kernels

import (
	"fmt"
	"sync"
	"unsafe"
)

// ParallelMin is the least number of elements a worker is given, so the
// smallest split is two workers over 2^21 elements. It was measured
// (optim's BenchmarkSplitThreshold, float32 AdamW, 1 against 2 workers,
// benchstat of 6-10 runs): on the 2-vCPU development machine a second
// worker was 20-75% slower at every size from 2^12 to 2^20 elements, whose
// state fits in the caches, and 20% faster at 2^21 and 37% at 2^22, where
// the step streams from memory. Its workers were woken through channels,
// tens of µs per call, like the goroutines that Parallel starts per call;
// package optim's workers now spin between calls, hand off in under a
// microsecond, and split from 2^16 elements.
const ParallelMin = 1 << 20

// parallelMin is ParallelMin, a variable so that tests can split small
// slices.
var parallelMin = ParallelMin

// Parallel is the stateless layer split across goroutines: it validates
// exactly as each rule's function of this package does (nothing is written
// on error), then cuts the slices into up to workers contiguous pieces at
// 64-byte boundaries of p, at least ParallelMin elements each, and runs
// kind's kernel on every piece, one on the calling goroutine and the others
// on goroutines started for this call. An update is elementwise, so the
// result has the same bits for every worker count. Frameworks that call it
// every step and want no goroutine started per call use package optim's
// Optimizer, whose workers persist.
func Parallel[T Float](workers int, s *Set, kind Kind, v Variant, c *Coeffs[T], p, g, s0, s1, s2 []T) error {
	if workers < 1 {
		return fmt.Errorf("kernels: %v: Parallel with %d workers, want at least 1", kind, workers)
	}
	if err := validate(s, kind, v, c, p, g, s0, s1, s2); err != nil {
		return err
	}
	n := min(workers, len(p)/parallelMin)
	if n <= 1 {
		if len(p) > 0 {
			Kernel[T](s, kind)(v, c, p, g, s0, s1, s2)
		}
		return nil
	}
	k := Kernel[T](s, kind)
	size := int(unsafe.Sizeof(p[0]))
	base := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	piece := func(w int) (lo, hi int) {
		cut := func(w int) int {
			if w >= n {
				return len(p)
			}
			i := len(p) * w / n
			// Move the cut to the next cache line of p.
			if r := (base + uintptr(i*size)) % 64; r != 0 {
				i += int((64 - r) / uintptr(size))
			}
			return min(i, len(p))
		}
		return cut(w), cut(w + 1)
	}
	var wg sync.WaitGroup
	run := func(w int) {
		lo, hi := piece(w)
		if lo < hi {
			k(v, c, p[lo:hi:hi], g[lo:hi:hi], sub(s0, lo, hi), sub(s1, lo, hi), sub(s2, lo, hi))
		}
	}
	for w := 1; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(w)
		}()
	}
	run(0)
	wg.Wait()
	return nil
}

// sub is s[lo:hi], or s itself when it is too short to be a state slice the
// variant uses (unused slices may be nil or anything).
func sub[T Float](s []T, lo, hi int) []T {
	if len(s) < hi {
		return s
	}
	return s[lo:hi:hi]
}
