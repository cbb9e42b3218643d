package optim

import (
	"fmt"
	"math"
	"runtime"
	"unsafe"
)

// Parallel steps.
//
// An update is elementwise, so splitting it changes no bit: a parameter
// stepped in pieces by several goroutines ends exactly as one stepped
// whole. Step therefore splits the concatenation of all parameters (of all
// groups) into one contiguous range per worker, cut at cache-line
// boundaries, so that one huge parameter and many small ones balance alike
// and no two workers write the same cache line.
//
// The split is static: worker w always steps the same range. Dynamic
// shares taken from a counter (8 per worker) were measured against it
// (BenchmarkPartition, at the commit that had both: 2^22 elements in one
// parameter and in 400 mixed ones, 10 runs each): no significant difference
// (-10% and -1%, p = 0.12 and 0.53). Static keeps each worker on the same
// memory every step, which first touch (touchTask) needs, and is simpler.
//
// The workers are goroutines started when a parallel step first needs
// them (no more than it uses); between calls they spin briefly, then park
// (pool.go), so they cost nothing while idle and a step starts none and
// allocates nothing. Close stops them; an Optimizer that is
// garbage-collected without Close stops them too (runtime.AddCleanup: the
// workers hold no reference to the Optimizer between steps).

// defaultParallelMin is the default of ParallelMin, so steps and
// reductions split from 2^16 elements. It was measured with the spinning
// hand-off of pool.go (BenchmarkSplitThreshold and BenchmarkReductionSplit,
// two workers against one with the split forced, on the 2-vCPU development
// machine): a second worker made a float32 AdamW step 1.5x faster at 2^15
// elements and 1.7-1.9x at 2^16 and above, and GradNorm and ClipGradNorm
// 1.2x at 2^16, but the hand-off's round trip varies between 0.25 and 1 µs
// with where the host runs the two vCPUs, and at 2^14 the slow case lost.
// The stateless layer's kernels.Parallel, which starts goroutines per call,
// keeps kernels.ParallelMin.
const defaultParallelMin = 1 << 15

// parallelMin is defaultParallelMin, a variable only so that tests can
// lower it.
var parallelMin = defaultParallelMin

// maxParallelMin bounds SetParallelMin, so that twice the threshold is an
// int on every platform.
const maxParallelMin = math.MaxInt32 / 2

// maxWorkers bounds SetWorkers: far above any core count, small enough
// that the per-worker tables stay small.
const maxWorkers = 1024

// cacheLine is the split granularity in bytes.
const cacheLine = 64

// workerSet is an optimizer's worker goroutines and the settings that size
// a parallel call, shared by the optimizer types.
type workerSet struct {
	workers int // SetWorkers' n (0: GOMAXPROCS)
	// minShare is SetParallelMin's threshold (0: the package's default).
	minShare int
	pool     *pool // the parked goroutines, nil before the first parallel call
	cleanup  runtime.Cleanup
}

// segment is a piece of one parameter: elements [lo, hi) of params[param].
type segment struct {
	param  int
	lo, hi int
}

// SetWorkers sets how many goroutines Step may use: 1 is a
// single-threaded Step on the caller's goroutine; 0 means
// runtime.GOMAXPROCS(0), the default. Each worker gets at least
// ParallelMin elements (2^15 unless SetParallelMin changed it), so a step
// over fewer than twice that runs on the caller alone whatever the
// setting, and small optimizers never hand work to other goroutines:
// Workers says how many a step will use. Results are bit-identical for
// every worker count.
func (o *Optimizer[T]) SetWorkers(n int) error {
	changed, err := o.setWorkers(n)
	if changed {
		o.plan = nil
	}
	return err
}

// setWorkers is SetWorkers but for the split, which the optimizer drops
// when the count changed.
func (o *workerSet) setWorkers(n int) (changed bool, err error) {
	if err := checkWorkers(n); err != nil {
		return false, err
	}
	changed = n != o.workers
	if changed {
		o.Close()
	}
	o.workers = n
	return changed, nil
}

// checkWorkers validates the n of SetWorkers, the optimizer's and
// Averaged's.
func checkWorkers(n int) error {
	if n < 0 || n > maxWorkers {
		return argErr("SetWorkers", "n", float64(n), fmt.Sprintf("0 (GOMAXPROCS) to %d", maxWorkers))
	}
	return nil
}

// Workers returns the number of goroutines the next Step will run on, the
// caller's included, with the current parameters: SetWorkers' n
// (runtime.GOMAXPROCS(0) at the time of the call when n is 0), but no more
// than one per ParallelMin elements of all parameters together, so 1
// below twice ParallelMin. Skipped parameters (nil gradients) count: the
// split is made over all of them. The reductions (GradNorm, clipping,
// NonFinite, Unscale) split each gradient by its own length the same way.
func (o *Optimizer[T]) Workers() int { return o.parallelism(o.total) }

// workerLimit returns the most goroutines a step may use: SetWorkers' n, or
// runtime.GOMAXPROCS(0) when n is 0.
func (o *workerSet) workerLimit() int {
	if o.workers == 0 {
		return runtime.GOMAXPROCS(0)
	}
	return o.workers
}

// SetParallelMin sets the split threshold of this optimizer's steps and
// reductions: the least number of elements a worker is given, so a step
// over fewer than twice n runs on the caller alone. 0 restores the
// default, 2^15, measured as the size from which a second worker pays on
// a 2-core machine (see docs/guide.md, "Every core"): below it, handing a
// share to another core costs more than it saves. A machine whose cores
// hand off more slowly may raise it, and a benchmark that wants every
// worker busy may lower it. It changes no bit of any result.
func (o *workerSet) SetParallelMin(n int) error {
	if n < 0 || n > maxParallelMin {
		return argErr("SetParallelMin", "n", float64(n), fmt.Sprintf("0 (the default, %d) to %d", defaultParallelMin, maxParallelMin))
	}
	o.minShare = n
	return nil
}

// ParallelMin returns the split threshold (see SetParallelMin).
func (o *workerSet) ParallelMin() int {
	if o.minShare > 0 {
		return o.minShare
	}
	return parallelMin
}

// Close stops the optimizer's worker goroutines, if any were started. The
// optimizer stays usable: a later parallel step starts them again.
func (o *workerSet) Close() error {
	if o.pool != nil {
		o.cleanup.Stop()
		o.pool.close()
		o.pool = nil
	}
	return nil
}

// parallelism returns the number of workers a step over total elements
// uses.
func (o *workerSet) parallelism(total int) int {
	share := o.ParallelMin()
	if total < 2*share || o.workers == 1 {
		return 1 // before asking GOMAXPROCS: this is every small step's path
	}
	return max(min(o.workerLimit(), total/share), 1)
}

// makePlan splits all parameters into n contiguous shares, cut at cache
// lines, and returns the segments of every share with their bounds:
// worker w steps segs[bounds[w]:bounds[w+1]].
func makePlan[T element](params [][]T, total, n int) (segs []segment, bounds []int) {
	size := int(unsafe.Sizeof(T(0)))
	bounds = make([]int, n+1)
	w, done := 0, 0
	next := total / n // the element count at which share w ends
	for i, p := range params {
		lo := 0
		for lo < len(p) {
			hi := len(p)
			if w < n-1 && done+hi-lo > next {
				// Cut at the first cache-line boundary at or after the
				// ideal point, so that no two workers write one line.
				cut := lo + (next - done)
				addr := (base(p) + uintptr(cut*size)) % cacheLine
				if addr != 0 {
					cut += int((cacheLine - addr) / uintptr(size))
				}
				hi = min(cut, len(p))
			}
			if hi > lo {
				segs = append(segs, segment{i, lo, hi})
			}
			done += hi - lo
			lo = hi
			if w < n-1 && done >= next {
				w++
				bounds[w] = len(segs)
				next = total * (w + 1) / n
			}
		}
	}
	for w++; w <= n; w++ {
		bounds[w] = len(segs)
	}
	return segs, bounds
}

// parallelPlan is the split of the current parameters for n workers.
type parallelPlan[T float32 | float64] struct {
	n      int
	segs   []segment
	bounds []int
	grads  [][]T // this step's gradients, cleared after it (not to keep them alive)
	// grads16 are StepLowGrads' 16-bit gradients, in place of grads.
	grads16 [][]uint16
	touched bool // the state pages were first-touched by their workers
}

// stepTask is the work of one parallel step; run steps worker w's share.
type stepTask[T float32 | float64] struct{ o *Optimizer[T] }

func (t *stepTask[T]) run(w int) {
	o := t.o
	pl := o.plan
	if o.copies != nil {
		for _, s := range pl.segs[pl.bounds[w]:pl.bounds[w+1]] {
			copyStepPart(o, s.param, s.lo, s.hi, pl.grads, pl.grads16)
		}
		return
	}
	for _, s := range pl.segs[pl.bounds[w]:pl.bounds[w+1]] {
		i := s.param
		if pl.grads[i] == nil || o.kernels[i] == nil {
			continue // no gradient: skipped; or a matrix rule's, stepped whole
		}
		k := o.which[i]
		st := &o.state[i]
		o.kernels[i](o.variants[k], &o.coeffs[k], o.params[i][s.lo:s.hi], pl.grads[i][s.lo:s.hi],
			part(st[0], s.lo, s.hi), part(st[1], s.lo, s.hi), part(st[2], s.lo, s.hi))
	}
}

// part is s[lo:hi], or nil for an unused (nil) state slice.
func part[T element](s []T, lo, hi int) []T {
	if s == nil {
		return nil
	}
	return s[lo:hi:hi]
}

// applyParallel is apply with n > 1 workers.
func (o *Optimizer[T]) applyParallel(grads [][]T, n int) error {
	pl := o.plan
	if pl == nil || pl.n != n || len(pl.grads) != len(o.params) {
		pl = o.newPlan(n)
	}
	o.prepareStep(grads)
	o.ensurePool(n)
	if !pl.touched {
		pl.touched = true
		// Each worker must touch its own share, so the call is made as
		// a large one, which waits for parked workers (pool.do).
		o.pool.do(&touchTask[T]{o}, n, wakeEarlyMin)
	}
	// Copied, not kept: keeping the caller's variadic slice would make it
	// escape, an allocation in every Step call.
	copy(pl.grads, grads)
	failed := o.pool.do(&o.task, n, o.total/n)
	clear(pl.grads)
	if failed != nil {
		return fmt.Errorf("optim: Step: a worker panicked, so the step is incomplete: %v", failed)
	}
	return nil
}

// touchTask writes one element of every page of each worker's share of the
// state, with its own value: the first write to a page places it, under
// Linux's first-touch policy, on the NUMA node of the thread that wrote it,
// so that on a multi-socket server each worker later streams local memory.
// This works because the Go runtime maps large allocations (the state of
// any parameter big enough to be split) from fresh, untouched pages and
// does not write zeros into them; New only writes Adagrad's initial value,
// on the caller. Rewriting a value changes nothing else, so it is safe
// whenever the plan is (re)made.
type touchTask[T float32 | float64] struct{ o *Optimizer[T] }

func (t *touchTask[T]) run(w int) {
	o := t.o
	pl := o.plan
	step := 4096 / int(unsafe.Sizeof(T(0)))
	for _, s := range pl.segs[pl.bounds[w]:pl.bounds[w+1]] {
		for _, st := range o.state[s.param] {
			for j := s.lo; j < len(st) && j < s.hi; j += step {
				v := st[j]
				st[j] = v
			}
		}
	}
}

func (o *Optimizer[T]) newPlan(n int) *parallelPlan[T] {
	// The matrix rules' parameters are stepped whole (matrix.go): the
	// workers split the others.
	params := o.params
	if o.mats.any() {
		params = make([][]T, len(o.params))
		for i, p := range o.params {
			if o.kernels[i] != nil {
				params[i] = p
			}
		}
	}
	total := 0
	for _, p := range params {
		total += len(p)
	}
	segs, bounds := makePlan(params, total, n)
	o.plan = &parallelPlan[T]{n: n, segs: segs, bounds: bounds, grads: make([][]T, len(o.params))}
	o.task.o = o
	return o.plan
}

// ensurePool makes sure that goroutines for n workers (the caller is one
// of them) are running. Goroutines start only when a step can use them:
// SetWorkers(1024) on a step that splits in two starts one, and a later
// step over more elements (or after GOMAXPROCS grew) starts the rest.
// The first start arranges for them to stop when o is collected.
func (o *Optimizer[T]) ensurePool(n int) { ensurePool(o, &o.workerSet, n) }

// ensurePool is Optimizer.ensurePool for any owner of a workerSet ws:
// the goroutines stop when owner is collected.
func ensurePool[O any](owner *O, ws *workerSet, n int) {
	if ws.pool == nil {
		ws.pool = newPool()
		ws.cleanup = runtime.AddCleanup(owner, func(p *pool) { p.close() }, ws.pool)
	}
	ws.pool.grow(n - 1)
}
