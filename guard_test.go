//go:build unix

package optim

import (
	"math/rand/v2"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/simdoptim/optim/kernels"
)

// guardedRegion is mapped memory with an inaccessible page on each side of
// its data pages, so that a kernel reading or writing one byte before or
// after a slice placed flush against either guard page faults.
type guardedRegion struct {
	mem  []byte // the whole mapping
	data []byte // the accessible pages between the guard pages
}

func newGuardedRegion(t *testing.T, dataBytes int) *guardedRegion {
	t.Helper()
	page := unix.Getpagesize()
	dataLen := (dataBytes + page - 1) / page * page
	mem, err := unix.Mmap(-1, 0, page+dataLen+page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Munmap(mem); err != nil {
			t.Errorf("munmap: %v", err)
		}
	})
	for _, guard := range [][]byte{mem[:page], mem[page+dataLen:]} {
		if err := unix.Mprotect(guard, unix.PROT_NONE); err != nil {
			t.Fatalf("mprotect: %v", err)
		}
	}
	return &guardedRegion{mem: mem, data: mem[page : page+dataLen]}
}

// atEnd returns a slice of n elements that ends exactly at the trailing
// guard page.
func atEnd[T testFloat](r *guardedRegion, n int) []T {
	size := int(unsafe.Sizeof(T(0)))
	end := unsafe.Pointer(unsafe.SliceData(r.data[len(r.data)-size:])) // last element slot
	first := unsafe.Add(end, -(n-1)*size)
	if n == 0 {
		first = unsafe.Add(end, size) // the guard page's first byte; never dereferenced
	}
	return unsafe.Slice((*T)(first), n)
}

// atStart returns a slice of n elements that starts right after the leading
// guard page.
func atStart[T testFloat](r *guardedRegion, n int) []T {
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(r.data))), n)
}

// TestKernelsGuardPages runs every kernel of every supported set, every
// variant, both element types, on every length 0..300 with each stream
// (p, g and every used state slice) in its own mapping, flush against an
// inaccessible page: first ending at the page after it, then starting right
// after the page before it. Reading or writing past either end faults.
func TestKernelsGuardPages(t *testing.T) {
	sets := SupportedSets()
	t.Run("float32", func(t *testing.T) { testKernelsGuardPages[float32](t, sets) })
	t.Run("float64", func(t *testing.T) { testKernelsGuardPages[float64](t, sets) })
	t.Logf("exercised kernel sets: %v", supportedNames())
}

func testKernelsGuardPages[T testFloat](t *testing.T, sets []*kernels.Set) {
	const maxLen = 300
	size := int(unsafe.Sizeof(T(0)))
	var regions [5]*guardedRegion
	for k := range regions {
		regions[k] = newGuardedRegion(t, maxLen*size)
	}
	r := rand.New(rand.NewPCG(2, uint64(size)))
	pool := newValuePool[T](r)
	in := make([][]T, 5)
	want := make([][]T, 5)
	for k := range in {
		in[k] = make([]T, maxLen)
		want[k] = make([]T, maxLen)
	}
	failures := 0
	for _, place := range []struct {
		name string
		at   func(*guardedRegion, int) []T
	}{{"ending at the guard page", atEnd[T]}, {"starting after the guard page", atStart[T]}} {
		for vi, tv := range allVariants[T](false) {
			if vi%2 == 1 {
				tv.c.Sign = -tv.c.Sign // maximize in half the variants
			}
			used := [5]bool{true, true}
			used[2], used[3], used[4] = kernels.Uses(tv.kind, tv.v)
			nonNeg := stateNonNegative(tv.kind)
			ref := kernels.Kernel[T](kernels.Generic(), tv.kind)
			for n := 0; n <= maxLen; n++ {
				for k := range in {
					if used[k] {
						pool.fill(r, in[k][:n], k >= 2 && nonNeg[k-2])
						copy(want[k][:n], in[k][:n])
					}
				}
				ws := stateArgs(want, used, n)
				ref(tv.v, &tv.c, want[0][:n], want[1][:n], ws[0], ws[1], ws[2])
				for _, set := range sets {
					var args [5][]T
					for k := range args {
						if used[k] {
							args[k] = place.at(regions[k], n)
							copy(args[k], in[k][:n])
						}
					}
					kernels.Kernel[T](set, tv.kind)(tv.v, &tv.c, args[0], args[1], args[2], args[3], args[4])
					for k := range args {
						if used[k] && k != 1 {
							if i := firstDiff(args[k], want[k][:n]); i >= 0 {
								if failures++; failures > 20 {
									t.Fatal("too many failures")
								}
								t.Errorf("%s %s %v n=%d %s: %s[%d] = %#x, generic gives %#x",
									set.Name(), dtypeName[T](), tv, n, place.name, streamNames[k], i, rawBits(args[k][i]), rawBits(want[k][i]))
							}
						}
					}
				}
			}
		}
	}
}
