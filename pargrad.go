package optim

import (
	"math"

	"github.com/simdoptim/optim/generic"
)

// Parallel gradient reductions and passes.
//
// The optimizer's workers also run the gradient kernels (norms, clipping,
// the non-finite checks) on large slices. A sum is split into runs of 2^k
// blocks that start at a multiple of 2^k blocks: each run is a complete
// subtree of the slice's pairwise block tree (generic/reduce.go), so the
// worker's sum of it, added back with SumTree.PushNode in order, gives
// exactly the single-threaded bits whatever the worker count. Maxima are
// exact and flags are ors, so any split serves them; elementwise passes
// (scale, clamp, unscale, AccumulateGrad's sum) are split like a step.
//
// Slices below twice ParallelMin elements are reduced on the caller: the
// split pays only when every worker gets a large share.

// gradOp is the kernel a parallel gradient task runs on each piece.
type gradOp int

const (
	opSumSquares gradOp = iota
	opSumSquaresScaled
	opSumAbs
	opSumPow
	opMaxAbs
	opScale
	opClamp
	opUnscaleCheck
	opNonFinite
	opAccumulate
)

// gradPiece is a run of blocks [lo, hi) of elements of the current slice.
type gradPiece struct {
	lo, hi int
	blocks uint64 // a power of two, for PushNode (the last may be partial)
}

// gradTask splits one slice's kernel between the workers.
type gradTask[T float32 | float64] struct {
	base    *generic.GradKernels[T]
	op      gradOp
	x       []T
	y       []T     // opAccumulate's added gradient, x being the sum
	s, p, m float64 // the op's scalar arguments
	c       T
	pieces  []gradPiece
	bounds  []int     // worker w runs pieces[bounds[w]:bounds[w+1]]
	results []float64 // per piece: its sum or max; for flags, 0 or 1
}

func (t *gradTask[T]) run(w int) {
	k := t.base
	for i := t.bounds[w]; i < t.bounds[w+1]; i++ {
		x := t.x[t.pieces[i].lo:t.pieces[i].hi]
		var r float64
		switch t.op {
		case opSumSquares:
			r = k.SumSquares(x)
		case opSumSquaresScaled:
			r = k.SumSquaresScaled(x, t.s)
		case opSumAbs:
			r = k.SumAbs(x)
		case opSumPow:
			r = k.SumPow(x, t.p, t.m)
		case opMaxAbs:
			r = k.MaxAbs(x)
		case opScale:
			k.Scale(x, t.c)
		case opClamp:
			k.Clamp(x, t.c)
		case opUnscaleCheck:
			if k.UnscaleCheck(x, t.c) {
				r = 1
			}
		case opNonFinite:
			if k.NonFinite(x) {
				r = 1
			}
		case opAccumulate:
			k.Accumulate(x, t.y[t.pieces[i].lo:t.pieces[i].hi], t.c)
		}
		t.results[i] = r
	}
}

// parallelGrad holds the optimizer's parallel gradient kernels: a
// generic.GradKernels whose functions split large slices between the
// workers, made once so that a call allocates nothing.
type parallelGrad[T float32 | float64] struct {
	kernels generic.GradKernels[T]
	task    gradTask[T]
}

// workerGradKernels returns the gradient kernels the optimizer's workers
// run: the dispatched set's, split between the workers when there are
// several.
func (o *Optimizer[T]) workerGradKernels() *generic.GradKernels[T] {
	base := gradKernels[T]()
	if o.workerLimit() <= 1 {
		return base
	}
	if o.pgrad == nil || o.pgrad.task.base != base {
		o.pgrad = o.newParallelGrad(base)
	}
	return &o.pgrad.kernels
}

func (o *Optimizer[T]) newParallelGrad(base *generic.GradKernels[T]) *parallelGrad[T] {
	pg := &parallelGrad[T]{}
	pg.task.base = base
	sum := func(op gradOp) func(x []T) float64 {
		return func(x []T) float64 { return o.gradSum(op, x) }
	}
	pg.kernels = generic.GradKernels[T]{
		SumSquares: sum(opSumSquares),
		SumAbs:     sum(opSumAbs),
		SumSquaresScaled: func(x []T, s float64) float64 {
			o.pgrad.task.s = s
			return o.gradSum(opSumSquaresScaled, x)
		},
		SumPow: func(x []T, p, m float64) float64 {
			o.pgrad.task.p, o.pgrad.task.m = p, m
			return o.gradSum(opSumPow, x)
		},
		MaxAbs: func(x []T) float64 {
			n, ok := o.gradSplit(opMaxAbs, x, false)
			if !ok {
				return base.MaxAbs(x)
			}
			m := 0.0
			for _, r := range o.pgrad.task.results[:n] {
				m = generic.MaxNaN(m, r)
			}
			return m
		},
		Scale: func(x []T, c T) {
			o.pgrad.task.c = c
			if _, ok := o.gradSplit(opScale, x, false); !ok {
				base.Scale(x, c)
			}
		},
		Clamp: func(x []T, c T) {
			o.pgrad.task.c = c
			if _, ok := o.gradSplit(opClamp, x, false); !ok {
				base.Clamp(x, c)
			}
		},
		UnscaleCheck: func(x []T, inv T) bool {
			o.pgrad.task.c = inv
			n, ok := o.gradSplit(opUnscaleCheck, x, false)
			if !ok {
				return base.UnscaleCheck(x, inv)
			}
			return anySet(o.pgrad.task.results[:n])
		},
		NonFinite: func(x []T) bool {
			n, ok := o.gradSplit(opNonFinite, x, false)
			if !ok {
				return base.NonFinite(x)
			}
			return anySet(o.pgrad.task.results[:n])
		},
		Accumulate: func(acc, g []T, s T) {
			t := &o.pgrad.task
			t.y, t.c = g, s
			if _, ok := o.gradSplit(opAccumulate, acc, false); !ok {
				base.Accumulate(acc, g, s)
			}
			t.y = nil
		},
		Lerp: base.Lerp,
	}
	return pg
}

func anySet(r []float64) bool {
	for _, v := range r {
		if v != 0 {
			return true
		}
	}
	return false
}

// gradSum is a blocked sum of x split between the workers, with the bits of
// the single-threaded sum.
func (o *Optimizer[T]) gradSum(op gradOp, x []T) float64 {
	t := &o.pgrad.task
	n, ok := o.gradSplit(op, x, true)
	if !ok {
		switch op {
		case opSumSquares:
			return t.base.SumSquares(x)
		case opSumAbs:
			return t.base.SumAbs(x)
		case opSumSquaresScaled:
			return t.base.SumSquaresScaled(x, t.s)
		default:
			return t.base.SumPow(x, t.p, t.m)
		}
	}
	var tree generic.SumTree
	for i := range n {
		tree.PushNode(t.results[i], t.pieces[i].blocks)
	}
	return tree.Sum()
}

// gradSplit runs op on x split between the workers and returns the number
// of pieces whose results are in task.results, or ok false when x is too
// small to split (the caller then runs op itself). For sums (aligned) the
// pieces are runs of 2^k blocks aligned to their size.
func (o *Optimizer[T]) gradSplit(op gradOp, x []T, aligned bool) (pieces int, ok bool) {
	workers := min(o.workerLimit(), len(x)/o.ParallelMin())
	if workers < 2 {
		return 0, false
	}
	t := &o.pgrad.task
	t.op, t.x = op, x
	t.pieces = splitBlocks(t.pieces[:0], len(x), workers)
	if cap(t.results) < len(t.pieces) {
		t.results = make([]float64, len(t.pieces))
	}
	t.results = t.results[:len(t.pieces)]
	t.bounds = shareBounds(t.bounds[:0], t.pieces, workers)
	o.ensurePool(workers)
	failed := o.pool.do(t, workers, len(x)/workers)
	t.x = nil
	if failed != nil {
		// A kernel panicked on a valid slice: nothing sensible is left to
		// return, and a partial result must not pass for a whole one.
		panic(failed)
	}
	return len(t.pieces), true
}

// splitBlocks cuts n elements into runs of 2^k blocks of ReduceBlock
// elements, each starting at a multiple of its own size, with about four
// runs per worker (so that shares balance), appended to dst.
func splitBlocks(dst []gradPiece, n, workers int) []gradPiece {
	const b = generic.ReduceBlock
	nb := (n + b - 1) / b
	// The largest run: a power of two near nb / (4*workers).
	target := uint64(1)
	for target*2 <= uint64(max(nb/(4*workers), 1)) {
		target *= 2
	}
	for s := uint64(0); s < uint64(nb); {
		size := target
		for size > 1 && (s%size != 0 || s+size > uint64(nb)) {
			size /= 2
		}
		lo, hi := int(s)*b, min(int(s+size)*b, n)
		dst = append(dst, gradPiece{lo, hi, size})
		s += size
	}
	return dst
}

// shareBounds splits pieces into workers contiguous shares of about equal
// element counts, appended to dst: share w is pieces[dst[w]:dst[w+1]].
func shareBounds(dst []int, pieces []gradPiece, workers int) []int {
	total := pieces[len(pieces)-1].hi
	dst = append(dst, 0)
	i := 0
	for w := 1; w < workers; w++ {
		end := int(math.Round(float64(total) * float64(w) / float64(workers)))
		for i < len(pieces) && pieces[i].hi <= end {
			i++
		}
		dst = append(dst, i)
	}
	return append(dst, len(pieces))
}
