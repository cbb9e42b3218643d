package optim

import mbits "math/bits"

// torch coalesces a sparse gradient before SparseAdam uses it: it sorts
// the entries by row with std::sort (an unstable sort; torch 1.13's CPU
// sort of the row indices, with their positions carried along) and adds
// the values of each run of equal rows in the sorted order. A row that
// appears three times or more is a sum whose rounding depends on that
// order, so this file reproduces libstdc++'s std::sort step for step:
// introsort (median-of-three quicksort with the unguarded partition,
// heapsort past a depth of 2·⌊log2 n⌋, runs of at most 16 left to a
// final insertion sort). Checked against torch 1.13's permutations in
// Python on random inputs with many repeats, sorted and reversed inputs,
// and median-of-three killer sequences that reach the heapsort.

// coalesceEntry is one gradient entry: its row and its position in the
// gradient.
type coalesceEntry struct{ row, pos int }

// torchSort sorts a by row exactly as libstdc++'s std::sort does, which
// fixes where entries of equal rows end up.
func torchSort(a []coalesceEntry) {
	n := len(a)
	if n == 0 {
		return
	}
	stdIntrosortLoop(a, 0, n, 2*(mbits.Len(uint(n))-1))
	if n > stdSortThreshold {
		stdInsertionSort(a, 0, stdSortThreshold)
		for i := stdSortThreshold; i < n; i++ {
			stdUnguardedLinearInsert(a, i)
		}
	} else {
		stdInsertionSort(a, 0, n)
	}
}

// stdSortThreshold is libstdc++'s _S_threshold.
const stdSortThreshold = 16

func rowLess(x, y coalesceEntry) bool { return x.row < y.row }

func stdIntrosortLoop(a []coalesceEntry, first, last, depth int) {
	for last-first > stdSortThreshold {
		if depth == 0 {
			stdHeapSort(a, first, last)
			return
		}
		depth--
		stdMoveMedianToFirst(a, first, first+1, first+(last-first)/2, last-1)
		cut := stdUnguardedPartition(a, first+1, last, first)
		stdIntrosortLoop(a, cut, last, depth)
		last = cut
	}
}

func stdMoveMedianToFirst(a []coalesceEntry, result, x, y, z int) {
	switch {
	case rowLess(a[x], a[y]):
		switch {
		case rowLess(a[y], a[z]):
			a[result], a[y] = a[y], a[result]
		case rowLess(a[x], a[z]):
			a[result], a[z] = a[z], a[result]
		default:
			a[result], a[x] = a[x], a[result]
		}
	case rowLess(a[x], a[z]):
		a[result], a[x] = a[x], a[result]
	case rowLess(a[y], a[z]):
		a[result], a[z] = a[z], a[result]
	default:
		a[result], a[y] = a[y], a[result]
	}
}

// stdUnguardedPartition relies on the pivot at a[pivot] and the median's
// neighbours to stop its scans, as libstdc++'s does.
func stdUnguardedPartition(a []coalesceEntry, first, last, pivot int) int {
	for {
		for rowLess(a[first], a[pivot]) {
			first++
		}
		last--
		for rowLess(a[pivot], a[last]) {
			last--
		}
		if first >= last {
			return first
		}
		a[first], a[last] = a[last], a[first]
		first++
	}
}

func stdInsertionSort(a []coalesceEntry, first, last int) {
	if first == last {
		return
	}
	for i := first + 1; i < last; i++ {
		if rowLess(a[i], a[first]) {
			v := a[i]
			copy(a[first+1:i+1], a[first:i])
			a[first] = v
		} else {
			stdUnguardedLinearInsert(a, i)
		}
	}
}

func stdUnguardedLinearInsert(a []coalesceEntry, i int) {
	v := a[i]
	for next := i - 1; rowLess(v, a[next]); next-- {
		a[i] = a[next]
		i = next
	}
	a[i] = v
}

// stdHeapSort is std::__partial_sort(first, last, last): make_heap, then
// sort_heap.
func stdHeapSort(a []coalesceEntry, first, last int) {
	if n := last - first; n >= 2 {
		for parent := (n - 2) / 2; ; parent-- {
			stdAdjustHeap(a, first, parent, n, a[first+parent])
			if parent == 0 {
				break
			}
		}
	}
	for last-first > 1 {
		last--
		v := a[last]
		a[last] = a[first]
		stdAdjustHeap(a, first, 0, last-first, v)
	}
}

func stdAdjustHeap(a []coalesceEntry, first, hole, n int, v coalesceEntry) {
	top, second := hole, hole
	for second < (n-1)/2 {
		second = 2 * (second + 1)
		if rowLess(a[first+second], a[first+second-1]) {
			second--
		}
		a[first+hole] = a[first+second]
		hole = second
	}
	if n&1 == 0 && second == (n-2)/2 {
		second = 2 * (second + 1)
		a[first+hole] = a[first+second-1]
		hole = second - 1
	}
	// push_heap
	for parent := (hole - 1) / 2; hole > top && rowLess(a[first+parent], v); parent = (hole - 1) / 2 {
		a[first+hole] = a[first+parent]
		hole = parent
	}
	a[first+hole] = v
}
