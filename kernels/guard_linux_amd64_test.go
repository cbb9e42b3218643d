//go:build !noasm

package kernels

import (
	"fmt"
	"runtime/debug"
	"syscall"
	"testing"
	"unsafe"
)

// guardedPage is one read-write page between two inaccessible ones.
type guardedPage struct {
	mem  []byte
	page int
}

func newGuardedPage(t *testing.T) *guardedPage {
	page := syscall.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, 3*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	for _, off := range []int{0, 2 * page} {
		if err := syscall.Mprotect(mem[off:off+page], syscall.PROT_NONE); err != nil {
			t.Fatal(err)
		}
	}
	return &guardedPage{mem, page}
}

// slice returns n elements that start (atEnd false) or end (atEnd true)
// exactly at an inaccessible page.
func guardedSlice[T Float](g *guardedPage, n int, atEnd bool) []T {
	var zero T
	size := int(unsafe.Sizeof(zero))
	start := g.page
	if atEnd {
		start = 2*g.page - n*size
	}
	s := unsafe.Slice((*T)(unsafe.Pointer(&g.mem[start])), n)
	for i := range s {
		s[i] = T(i%7) * 0.25
	}
	return s
}

// TestNoAccessOutsideSlices runs every assembly kernel this CPU supports
// on slices that touch an inaccessible page on one side, for every length
// up to several unrolled iterations: a single byte read or written past
// either end faults.
func TestNoAccessOutsideSlices(t *testing.T) {
	sets := runnableSets(t)
	if len(sets) == 0 {
		t.Skip("this CPU runs no amd64 assembly set")
	}
	var pages [5]*guardedPage
	for i := range pages {
		pages[i] = newGuardedPage(t)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	for _, s := range sets {
		for k := Kind(0); k < kindCount; k++ {
			for _, v := range asmVariants[s.name][k] {
				for _, atEnd := range []bool{false, true} {
					if err := runGuarded[float32](s, k, v, &pages, atEnd); err != nil {
						t.Error(err)
					}
					if err := runGuarded[float64](s, k, v, &pages, atEnd); err != nil {
						t.Error(err)
					}
				}
			}
		}
	}
}

func runGuarded[T Float](s *Set, k Kind, v Variant, pages *[5]*guardedPage, atEnd bool) (err error) {
	n := 0
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s %v variant %#x %T n=%d atEnd=%v: %v", s.name, k, uint32(v), T(0), n, atEnd, r)
		}
	}()
	u0, u1, u2 := Uses(k, v)
	used := [5]bool{true, true, u0, u1, u2}
	var c Coeffs[T]
	c.Beta2, c.OneMinusBeta2, c.BC2Sqrt, c.Eps = 0.5, 0.5, 1, 1
	kernel := Kernel[T](s, k)
	for n = 0; n <= 200; n++ {
		var sl [5][]T
		for i := range sl {
			if used[i] {
				sl[i] = guardedSlice[T](pages[i], n, atEnd)
			}
		}
		kernel(v, &c, sl[0], sl[1], sl[2], sl[3], sl[4])
	}
	return nil
}
