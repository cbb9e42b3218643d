package optim

import (
	"slices"
	"unsafe"
)

func base[T float32 | float64](s []T) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(s))) }

// sortByAddress sorts idx, indices of non-empty slices, by base address.
func sortByAddress[T float32 | float64](idx []int, s [][]T) {
	slices.SortFunc(idx, func(a, b int) int {
		pa, pb := base(s[a]), base(s[b])
		switch {
		case pa < pb:
			return -1
		case pa > pb:
			return 1
		}
		return 0
	})
}

// startsBefore reports whether non-empty p starts before the end of g.
func startsBefore[T float32 | float64](p, g []T) bool {
	return base(p) < base(g)+uintptr(len(g))*unsafe.Sizeof(g[0])
}
