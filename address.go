package optim

import (
	"cmp"
	"slices"
	"unsafe"
)

func base[T element](s []T) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(s))) }

func byteLen[T element](s []T) uintptr { return uintptr(len(s)) * unsafe.Sizeof(T(0)) }

// element is what the optimizers store: float32 and float64 values, and
// the bits of the 16-bit formats (uint16, or BFloat16 and Float16 as an
// Averaged holds them).
type element interface{ float32 | float64 | ~uint16 }

// overlaps reports whether a and b share memory.
func overlaps[T element](a, b []T) bool {
	return len(a) > 0 && len(b) > 0 && base(a) < base(b)+byteLen(b) && base(b) < base(a)+byteLen(a)
}

// span is the memory of one non-empty slice the optimizer writes.
type span struct {
	lo, hi uintptr // [lo, hi)
	slot   Slot
}

func region[T element](s []T, slot Slot) span {
	return span{base(s), base(s) + byteLen(s), slot}
}

// regions are disjoint spans sorted by address. Go's garbage collector
// does not move heap objects, so the addresses stay valid while the
// optimizer holds the slices.
type regions []span

func (r regions) clone() regions { return slices.Clone(r) }

// insert adds s unless it is empty; it fails, changing nothing, if s
// overlaps a span already there.
func (r *regions) insert(op string, s span) error {
	if s.lo == s.hi {
		return nil
	}
	if other, ok := r.overlapping(s.lo, s.hi-s.lo); ok {
		a, b := other, s.slot
		if b.Kind == other.Kind && b.Index < other.Index {
			a, b = b, a
		}
		return &OverlapError{Op: op, A: a, B: b}
	}
	k, _ := r.find(s.lo)
	*r = slices.Insert(*r, k, s)
	return nil
}

// merge adds spans sorted by address that overlap nothing there, such as
// those of one new allocation, in one pass: inserting them one by one
// would move every span above each, O(n²) for n parameters.
func (r *regions) merge(spans []span) {
	if len(spans) == 0 {
		return
	}
	out := make(regions, 0, len(*r)+len(spans))
	a, b := *r, spans
	for len(a) > 0 && len(b) > 0 {
		if a[0].lo < b[0].lo {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	*r = append(append(out, a...), b...)
}

// find returns where the span starting at lo is, or would be inserted.
func (r regions) find(lo uintptr) (int, bool) {
	return slices.BinarySearchFunc(r, lo, func(e span, lo uintptr) int { return cmp.Compare(e.lo, lo) })
}

// remove deletes the span that starts at lo, if there is one.
func (r *regions) remove(lo uintptr) {
	k, ok := r.find(lo)
	if ok {
		*r = slices.Delete(*r, k, k+1)
	}
}

// overlapping returns the slot of a span that shares memory with
// [lo, lo+n), if any. The spans are disjoint and sorted, so only the last
// one starting below the end can overlap.
func (r regions) overlapping(lo, n uintptr) (Slot, bool) {
	if n == 0 {
		return Slot{}, false
	}
	hi := lo + n
	a, b := 0, len(r)
	for a < b {
		mid := int(uint(a+b) >> 1)
		if r[mid].lo < hi {
			a = mid + 1
		} else {
			b = mid
		}
	}
	if a > 0 && r[a-1].hi > lo {
		return r[a-1].slot, true
	}
	return Slot{}, false
}
