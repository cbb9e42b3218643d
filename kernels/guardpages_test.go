//go:build unix

package kernels

import (
	"math/rand/v2"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// guardedRegion is mapped memory with an inaccessible page on each side of
// its data pages, so that a kernel reading or writing one byte before or
// after a slice placed flush against either guard page faults.
type guardedRegion struct {
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
	return &guardedRegion{data: mem[page : page+dataLen]}
}

// atEnd returns a slice of n elements that ends exactly at the trailing
// guard page.
func atEnd[T Float](r *guardedRegion, n int) []T {
	all := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(r.data))), len(r.data)/sizeOf[T]())
	return all[len(all)-n:]
}

// atStart returns a slice of n elements that starts right after the leading
// guard page.
func atStart[T Float](r *guardedRegion, n int) []T {
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(r.data))), n)
}

// TestGuardPages runs every kernel of every supported set, every variant,
// both element types, on every length 0..300 with each stream (p, g and
// every used state slice) in its own mapping, flush against an inaccessible
// page: first ending at the page after it, then starting right after the
// page before it. Reading or writing one byte past either end faults; the
// results are also compared with generic.
func TestGuardPages(t *testing.T) {
	forEachSet(t, func(t *testing.T, s *Set) {
		for _, tc := range allCases() {
			t.Run(tc.String(), func(t *testing.T) {
				guardPages[float32](t, s, tc)
				guardPages[float64](t, s, tc)
			})
		}
	})
}

func guardPages[T Float](t *testing.T, s *Set, tc testCase) {
	maxLen, _ := sweep()
	var regions [5]*guardedRegion
	for k := range regions {
		regions[k] = newGuardedRegion(t, maxLen*sizeOf[T]())
	}
	r := rand.New(rand.NewPCG(2, uint64(tc.v)<<8|uint64(sizeOf[T]())))
	pool := newValuePool[T](r)
	used, nonNeg := tc.used(), tc.nonNegative()
	var in, want [5][]T
	for k := range in {
		in[k], want[k] = make([]T, maxLen), make([]T, maxLen)
	}
	kernel, ref := Kernel[T](s, tc.kind), Kernel[T](Generic(), tc.kind)
	for _, place := range []struct {
		name string
		at   func(*guardedRegion, int) []T
	}{{"ending at a guard page", atEnd[T]}, {"starting after a guard page", atStart[T]}} {
		for n := 0; n <= maxLen; n++ {
			c := randomCoeffs[T](r, n%2 == 1)
			var args [5][]T
			for k := range args {
				if used[k] {
					pool.fill(r, in[k][:n], nonNeg[k])
					copy(want[k], in[k][:n])
					args[k] = place.at(regions[k], n)
					copy(args[k], in[k][:n])
				}
			}
			ws := stateArgs(want, used, n)
			ref(tc.v, &c, want[0][:n], want[1][:n], ws[0], ws[1], ws[2])
			kernel(tc.v, &c, args[0], args[1], args[2], args[3], args[4])
			for k := range args {
				if used[k] {
					if i := firstDiff(args[k], want[k][:n]); i >= 0 {
						t.Fatalf("%s %s n=%d %s: %s[%d] = %#x, generic gives %#x",
							s.name, dtypeName[T](), n, place.name, streamNames[k], i, rawBits(args[k][i]), rawBits(want[k][i]))
					}
				}
			}
		}
	}
}
