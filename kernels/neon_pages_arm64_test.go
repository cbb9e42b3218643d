//go:build !noasm && (linux || darwin)

package kernels

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"unsafe"
)

// guardedPage is one read-write page between two inaccessible pages, so any
// access just before or just after it faults.
type guardedPage struct {
	mem  []byte
	page []byte
}

func newGuardedPage(t *testing.T) *guardedPage {
	size := os.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, 3*size, syscall.PROT_NONE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	page := mem[size : 2*size]
	if err := syscall.Mprotect(page, syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
		syscall.Munmap(mem)
		t.Skipf("mprotect: %v", err)
	}
	return &guardedPage{mem, page}
}

// slice returns n elements that start at the page's first byte (atEnd
// false) or end at its last byte (atEnd true), filled with ones.
func guardedSlice[T Float](g *guardedPage, n int, atEnd bool) []T {
	all := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(g.page))), len(g.page)/int(unsafe.Sizeof(T(0))))
	s := all[:n]
	if atEnd {
		s = all[len(all)-n:]
	}
	for i := range s {
		s[i] = 1
	}
	return s
}

// TestNEONStaysInsideSlices places every slice against an inaccessible page
// on one side, for short lengths covering every tail, so that a kernel that
// reads (not only writes) one byte outside its slices crashes the test.
func TestNEONStaysInsideSlices(t *testing.T) {
	var pages [5]*guardedPage
	for s := range pages {
		pages[s] = newGuardedPage(t)
		defer syscall.Munmap(pages[s].mem)
	}
	for kind, vs := range producibleVariants() {
		for _, v := range vs {
			t.Run(fmt.Sprintf("%v/%#x", Kind(kind), uint32(v)), func(t *testing.T) {
				staysInside[float32](t, &pages, Kind(kind), v)
				staysInside[float64](t, &pages, Kind(kind), v)
			})
		}
	}
}

func staysInside[T Float](t *testing.T, pages *[5]*guardedPage, kind Kind, v Variant) {
	used := [5]bool{true, true}
	used[2], used[3], used[4] = Uses(kind, v)
	neon := Kernel[T](&neonSet, kind)
	var c Coeffs[T]
	c.NegLR, c.Beta2, c.OneMinusBeta2, c.BC2Sqrt, c.Eps = -0.1, 0.9, 0.1, 0.5, 1e-3
	for n := 0; n <= 40; n++ {
		for _, atEnd := range []bool{false, true} {
			var s [5][]T
			for i := range s {
				if used[i] {
					s[i] = guardedSlice[T](pages[i], n, atEnd)
				}
			}
			neon(v, &c, s[0], s[1], s[2], s[3], s[4])
		}
	}
}
