package optim

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/simdoptim/optim/kernels"
)

// Weight averaging, as torch.optim.swa_utils: an Averaged keeps its own
// copy of a model's slices and folds the model into it at every Update, by
// an exponential moving average (EMA, get_ema_multi_avg_fn) or the equal
// average of stochastic weight averaging (SWA, get_swa_multi_avg_fn). Both
// are torch 2.x's torch._foreach_lerp_, here generic.Lerp run by the
// kernel set's fused pass (kernels.Grad's Lerp): one read of each slice
// and one write of the copy, the same bits on every set and worker count.
//
// An Averaged of a bfloat16 or float16 model is itself 16-bit, as torch's
// deepcopy of the model: each Update widens the average and the model
// block by block to float32, runs the float32 lerp by a float32 weight and
// rounds the result once to the format, to nearest even, as torch's CPU
// lerp does on 16-bit tensors (lowLerp).

// Average is how an Averaged folds the model into its average: EMA or
// SWA. The zero Average is SWA, torch's default average.
type Average struct {
	ema   bool
	decay float64
}

// EMA is the exponential moving average of torch's
// get_ema_multi_avg_fn(decay): each Update after the first moves the
// average towards the model by the weight 1 − decay, computed in float64
// as Python does and rounded once to the element type (torch's lerp
// weight, a Scalar converted to the tensor's dtype), or to float32 for a
// BFloat16 or Float16 average, whose lerp torch computes in float32
// (weight.to<float>()). NewAveraged refuses a decay outside [0, 1], as
// torch does; torch's default is 0.999.
func EMA(decay float64) Average { return Average{ema: true, decay: decay} }

// SWA is the equal average of stochastic weight averaging, torch's
// get_swa_multi_avg_fn(): the Update that follows n averaged models moves
// the average towards the model by the weight 1/(n+1), which torch
// computes as a float32 tensor (1 / (n_averaged + 1) with n_averaged an
// int64 tensor: a reciprocal in the default dtype) whatever the model's
// dtype, so a float64 average uses float32's 1/(n+1), widened exactly,
// and a BFloat16 or Float16 average float32's 1/(n+1) as it is.
//
// torch's AveragedModel without an averaging function runs this function
// on CUDA but, on the CPU, get_swa_avg_fn's avg + (model − avg)/(n+1),
// which can differ from it in the last bit.
func SWA() Average { return Average{} }

// Decay returns an EMA's decay; ok is false for SWA.
func (a Average) Decay() (decay float64, ok bool) { return a.decay, a.ema }

func (a Average) String() string {
	if a.ema {
		return "EMA(" + strconv.FormatFloat(a.decay, 'g', -1, 64) + ")"
	}
	return "SWA"
}

// validate checks EMA's decay as torch's get_ema_multi_avg_fn does (NaN is
// refused too).
func (a Average) validate() error {
	if a.ema && !(a.decay >= 0 && a.decay <= 1) {
		return &HyperparameterError{Group: -1, Func: "EMA", Field: "decay", Value: a.decay, Want: "in [0, 1]"}
	}
	return nil
}

// weight returns the lerp weight of the Update that follows n averaged
// models (n >= 1), in T as torch hands it to lerp.
func weight[T float32 | float64](a Average, n int64) T {
	if a.ema {
		return T(1 - a.decay)
	}
	return T(float32(1) / float32(n+1)) // float32 divided, then widened: exact
}

// Model is what an Averaged follows: the slices of a model's parameters,
// which it averages, and of its buffers (torch's module buffers, such as
// BatchNorm's running statistics), which it copies at every Update, or
// averages too with UseBuffers (torch's use_buffers=True), all of float32,
// float64, BFloat16 or Float16. The slices are read at every Update, as
// the optimizer reads and writes its parameters in place: write the
// model's new values into them, never replace them.
type Model[T float32 | float64 | BFloat16 | Float16] struct {
	Params [][]T
	// Names, when not nil, names each param: one non-empty name of valid
	// UTF-8 per param (torch's named_parameters). BufferNames names the
	// buffers likewise. Name both or neither; no name may be given twice
	// across the two. A training-state file saves the averaged model's
	// tensors under these names.
	Names       []string
	Buffers     [][]T
	BufferNames []string
	UseBuffers  bool
}

// Averaged is an averaged copy of a model, torch.optim.swa_utils'
// AveragedModel. It is made with a copy of the model's slices (torch's
// deepcopy), the first Update copies the model again (torch's n_averaged
// = 0), and every later Update folds the model into the average by its
// Average. It is not safe for concurrent use.
//
// The average has the model's element type. Of a BFloat16 or Float16
// model it is 16-bit too (torch's deepcopy of a bfloat16 or float16
// module), and each Update computes its lerp as torch's CPU lerp of 16-bit
// tensors does: the average and the model widened exactly to float32, the
// float32 lerp by the float32 weight, the result rounded once to the
// format, to nearest even (any NaN to the canonical BFloat16NaN or
// Float16NaN); copies, the first Update's and the buffers', are bit for
// bit. torch fuses the float32 multiply-add that generic.Lerp rounds, so a
// rare element can differ from torch's by that rounding (2 of 34,884 in
// the recorded runs), as for float32 (docs/guide.md, Weight averaging).
type Averaged[T float32 | float64 | BFloat16 | Float16] struct {
	avg Average
	// src are the model's slices and dst their averaged copies: the
	// params (the first params of them), then the buffers. dst[:mean] are
	// averaged, the rest copied.
	src, dst     [][]T
	params, mean int
	names        []string // as src; nil when unnamed
	n            int64    // torch's n_averaged
	total        int      // elements of all slices
	// lerp moves dst towards x by the weight w, a value of the element
	// type's weight type (float64 for float64, else float32); buf is the
	// worker's float32 blocks, which only a 16-bit lerp uses.
	lerp func(dst, x []T, w float64, buf *lowBlocks)
	wide bool         // T is float64: its weights are float64's
	bufs []*lowBlocks // 16-bit: one per worker (the caller's first); nil for float32 and float64
	// The current Update: whether it copies every slice (n is 0), and
	// its weight. They are fields so that the workers read them.
	copying bool
	w       float64
	// Parallel updates: SetWorkers' n, the parked goroutines, the split.
	workers int
	pool    *pool
	cleanup runtime.Cleanup
	plan    *averagePlan
	task    averageTask[T]
}

// NewAveraged returns an averaged copy of params (a model without
// buffers). See Averaged.
func NewAveraged[T float32 | float64 | BFloat16 | Float16](avg Average, params ...[]T) (*Averaged[T], error) {
	return newAveraged("NewAveraged", avg, Model[T]{Params: params}, Kernels())
}

// NewAveragedModel returns an averaged copy of the model m: its params
// averaged, its buffers copied or, with UseBuffers, averaged too.
func NewAveragedModel[T float32 | float64 | BFloat16 | Float16](avg Average, m Model[T]) (*Averaged[T], error) {
	return newAveraged("NewAveragedModel", avg, m, Kernels())
}

// newAveraged is NewAveragedModel with the kernel set to run.
func newAveraged[T float32 | float64 | BFloat16 | Float16](op string, avg Average, m Model[T], set *kernels.Set) (*Averaged[T], error) {
	if err := avg.validate(); err != nil {
		return nil, err
	}
	names, err := checkModelNames(op, m)
	if err != nil {
		return nil, err
	}
	a := &Averaged[T]{avg: avg, names: names, params: len(m.Params)}
	var low bool
	a.lerp, a.wide, low = averageLerp[T](set)
	if low {
		a.bufs = []*lowBlocks{new(lowBlocks)}
	}
	a.src = slices.Concat(m.Params, m.Buffers)
	a.mean = len(m.Params)
	if m.UseBuffers {
		a.mean = len(a.src)
	}
	for _, s := range a.src {
		a.total += len(s)
	}
	// One array for every copy, so that an Update streams through
	// contiguous memory, as one big slice would.
	backing := make([]T, a.total)
	a.dst = make([][]T, len(a.src))
	for i, s := range a.src {
		a.dst[i] = backing[:len(s):len(s)]
		backing = backing[len(s):]
		copy(a.dst[i], s)
	}
	a.task.a = a
	return a, nil
}

// averageLerp returns the lerp of T's slices on set, whether T is float64
// (whose weights are float64's, not float32's), and whether T is 16-bit
// (whose lerp needs float32 blocks).
func averageLerp[T float32 | float64 | BFloat16 | Float16](set *kernels.Set) (lerp func(dst, x []T, w float64, buf *lowBlocks), wide, low bool) {
	var f any
	switch any(*new(T)).(type) {
	case float32:
		k := kernels.Grad[float32](set).Lerp
		f = func(dst, x []float32, w float64, _ *lowBlocks) { k(dst, x, float32(w)) } // w is a float32: exact
	case float64:
		k := kernels.Grad[float64](set).Lerp
		f = func(dst, x []float64, w float64, _ *lowBlocks) { k(dst, x, w) }
		wide = true
	case BFloat16:
		f, low = lowLerp[BFloat16](set, kernels.WidenBF16, kernels.NarrowBF16), true
	case Float16:
		f, low = lowLerp[Float16](set, kernels.WidenF16, kernels.NarrowF16), true
	}
	return f.(func([]T, []T, float64, *lowBlocks)), wide, low
}

// lowBlocks are a worker's float32 blocks for a 16-bit lerp: the average's
// and the model's values.
type lowBlocks [2][1024]float32

// lowLerp returns the lerp of 16-bit slices as torch computes it on the
// CPU: dst and x widened exactly to float32, one block at a time, the
// float32 lerp of the set (generic.Lerp) by the float32 weight, and the
// result rounded back to the format, to nearest even (any NaN to the
// canonical NaN).
func lowLerp[H BFloat16 | Float16](set *kernels.Set,
	widen func(*kernels.Set, []float32, []uint16) error,
	narrow func(*kernels.Set, []uint16, []float32) error) func(dst, x []H, w float64, buf *lowBlocks) {
	lerp := kernels.Grad[float32](set).Lerp
	return func(dst, x []H, w float64, buf *lowBlocks) {
		d, s := u16s(dst), u16s(x[:len(dst)])
		for len(d) > 0 {
			n := min(len(d), len(buf[0]))
			avg, model := buf[0][:n], buf[1][:n]
			// The conversions cannot fail: equal lengths, disjoint memory.
			_ = widen(set, avg, d[:n])
			_ = widen(set, model, s[:n])
			lerp(avg, model, float32(w)) // w is a float32: exact
			_ = narrow(set, d[:n], avg)
			d, s = d[n:], s[n:]
		}
	}
}

// NameError reports names that cannot be used: an empty name, a name
// given twice, a list of names that does not match its slices in number,
// a name that is not valid UTF-8, names for some slices (or some of an
// optimizer's groups) only; and a name that no parameter has (GradOf).
// Nothing has changed.
type NameError struct {
	Op     string
	Group  int    // the group whose Names are at fault, or -1
	Name   string // the name at fault, if one is
	Reason string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("optim: %s: %s%s", e.Op, groupPrefix(e.Group), e.Reason)
}

// checkModelNames validates m's names and returns them, params' then
// buffers', or nil when m is unnamed.
func checkModelNames[T float32 | float64 | BFloat16 | Float16](op string, m Model[T]) ([]string, error) {
	if m.Names == nil && m.BufferNames == nil {
		return nil, nil
	}
	lists := []struct {
		what  string
		names []string
		n     int
	}{{"param", m.Names, len(m.Params)}, {"buffer", m.BufferNames, len(m.Buffers)}}
	var out []string
	seen := map[string]string{}
	for _, l := range lists {
		if len(l.names) != l.n {
			return nil, &NameError{Op: op, Group: -1, Reason: fmt.Sprintf(
				"%d %s names for %d %ss: name every param and buffer, or none", len(l.names), l.what, l.n, l.what)}
		}
		for i, name := range l.names {
			slot := fmt.Sprintf("%s %d", l.what, i)
			switch {
			case name == "":
				return nil, &NameError{Op: op, Group: -1, Reason: fmt.Sprintf("the name of %s is empty", slot)}
			case !utf8.ValidString(name):
				return nil, &NameError{Op: op, Group: -1, Name: name, Reason: fmt.Sprintf("the name %q of %s is not valid UTF-8", name, slot)}
			case seen[name] != "":
				return nil, &NameError{Op: op, Group: -1, Name: name, Reason: fmt.Sprintf("the name %q is given to %s and %s", name, seen[name], slot)}
			}
			seen[name] = slot
			out = append(out, name)
		}
	}
	return out, nil
}

// Update folds the model's current values into the average, as torch's
// update_parameters: the first Update (NAveraged 0) copies every slice;
// each later one moves every averaged slice towards the model's by the
// Average's weight (see EMA and SWA) and copies the others. It then
// counts one more averaged model. It allocates nothing.
//
// The only error is a count that cannot grow (NAveraged at the largest
// int64), found before anything changes.
func (a *Averaged[T]) Update() error {
	if a.n == math.MaxInt64 {
		return &StateError{Op: "Update", Param: -1, Key: "n_averaged", Reason: fmt.Sprintf(
			"n_averaged %d is the most an int64 holds: no further model can be counted", a.n)}
	}
	a.copying = a.n == 0
	if !a.copying {
		a.w = float64(weight[float32](a.avg, a.n)) // float32's weight: float32, BFloat16, Float16
		if a.wide {
			a.w = weight[float64](a.avg, a.n)
		}
	}
	if n := a.parallelism(); n > 1 {
		if err := a.updateParallel(n); err != nil {
			return err
		}
	} else {
		for i := range a.dst {
			a.updateRange(0, i, 0, len(a.dst[i]))
		}
	}
	a.n++
	return nil
}

// updateRange updates elements [lo, hi) of slice i on worker w. Both the
// copy and the lerp are elementwise, so any split of a slice gives the
// same bits.
func (a *Averaged[T]) updateRange(w, i, lo, hi int) {
	d, s := a.dst[i][lo:hi], a.src[i][lo:hi]
	if a.copying || i >= a.mean {
		copy(d, s) // bit for bit, NaN payloads included, as torch's copy_
		return
	}
	var buf *lowBlocks
	if a.bufs != nil {
		buf = a.bufs[w]
	}
	a.lerp(d, s, a.w, buf)
}

// Params returns the averaged params, in the order of the model's: the
// Averaged's own memory, which the next Update changes (copy out of it to
// keep a value). Evaluate the averaged model with them.
func (a *Averaged[T]) Params() [][]T { return slices.Clone(a.dst[:a.params]) }

// Buffers returns the averaged model's buffers, as Params.
func (a *Averaged[T]) Buffers() [][]T { return slices.Clone(a.dst[a.params:]) }

// Names returns the params' names (nil when unnamed).
func (a *Averaged[T]) Names() []string {
	if a.names == nil {
		return nil
	}
	return slices.Clone(a.names[:a.params])
}

// BufferNames returns the buffers' names (nil when unnamed).
func (a *Averaged[T]) BufferNames() []string {
	if a.names == nil {
		return nil
	}
	return slices.Clone(a.names[a.params:])
}

// NAveraged returns the number of models averaged so far, torch's
// n_averaged: the number of Updates, plus the count of a restored state.
func (a *Averaged[T]) NAveraged() int64 { return a.n }

// Average returns the Averaged's Average.
func (a *Averaged[T]) Average() Average { return a.avg }

// AveragedState is an Averaged's state, as torch's AveragedModel keeps it:
// n_averaged, and the averaged model's params and buffers (the Average and
// UseBuffers are the program's, as torch's averaging function is not in
// its state_dict). torch's AveragedModel.state_dict() holds n_averaged as
// a 0-d int64 tensor "n_averaged" and the tensors under "module." followed
// by their names.
type AveragedState[T float32 | float64 | BFloat16 | Float16] struct {
	NAveraged int64
	Params    [][]T
	Buffers   [][]T
}

// State returns the Averaged's state. Its slices are the Averaged's own
// memory, as Params' and Buffers': write them out (a checkpoint) before
// the next Update.
func (a *Averaged[T]) State() AveragedState[T] {
	return AveragedState[T]{NAveraged: a.n, Params: a.Params(), Buffers: a.Buffers()}
}

// Restore replaces the Averaged's state with a copy of st, bit for bit, as
// torch's load_state_dict: as many params and buffers as the model's, each
// of its length, and NAveraged in [0, MaxInt64). It is all validated first:
// on error nothing has changed.
func (a *Averaged[T]) Restore(st AveragedState[T]) error {
	if err := a.checkState("Restore", st); err != nil {
		return err
	}
	a.setState(st)
	return nil
}

// checkState validates st as Restore does. It is apart from setState for
// a file that holds the Averaged with other components, and verifies them
// all before it changes any.
func (a *Averaged[T]) checkState(op string, st AveragedState[T]) error {
	if st.NAveraged < 0 || st.NAveraged == math.MaxInt64 {
		return &StateError{Op: op, Param: -1, Key: "n_averaged", Reason: fmt.Sprintf(
			"n_averaged = %d, want a count in [0, %d)", st.NAveraged, int64(math.MaxInt64))}
	}
	given := [2][][]T{st.Params, st.Buffers}
	have := [2][][]T{a.dst[:a.params], a.dst[a.params:]}
	for k, what := range [2]string{"param", "buffer"} {
		if len(given[k]) != len(have[k]) {
			return &StateError{Op: op, Param: -1, Reason: fmt.Sprintf(
				"%d %ss given for the averaged model's %d", len(given[k]), what, len(have[k]))}
		}
		for i, s := range given[k] {
			if len(s) != len(have[k][i]) {
				j := i + k*a.params
				return &StateError{Op: op, Param: -1, Key: a.name(j), Reason: fmt.Sprintf(
					"%s has length %d, want %d", a.slotName(j), len(s), len(have[k][i]))}
			}
		}
	}
	return nil
}

// setState copies st, which checkState accepted, into the Averaged.
func (a *Averaged[T]) setState(st AveragedState[T]) {
	for i, s := range slices.Concat(st.Params, st.Buffers) {
		copy(a.dst[i], s)
	}
	a.n = st.NAveraged
}

// name returns slice i's name ("" when unnamed).
func (a *Averaged[T]) name(i int) string {
	if a.names == nil {
		return ""
	}
	return a.names[i]
}

// slotName names slice i in messages: "param 2 (fc.bias)", "buffer 0".
func (a *Averaged[T]) slotName(i int) string {
	s := fmt.Sprintf("param %d", i)
	if i >= a.params {
		s = fmt.Sprintf("buffer %d", i-a.params)
	}
	if n := a.name(i); n != "" {
		s += " (" + n + ")"
	}
	return s
}

// Parallel updates, as the optimizer's parallel steps (parallel.go): the
// concatenation of all slices split into one contiguous range per worker,
// cut at cache lines of the copies.

// SetWorkers sets how many goroutines Update may use, as the optimizer's
// SetWorkers: 1 runs it on the caller alone; 0, the default, means
// runtime.GOMAXPROCS(0). Each worker gets at least the optimizer's
// default ParallelMin (2^15) elements, so an Averaged of fewer than twice
// that updates on the caller whatever the setting. Results are
// bit-identical for every worker count.
func (a *Averaged[T]) SetWorkers(n int) error {
	if err := checkWorkers(n); err != nil {
		return err
	}
	if n != a.workers {
		a.Close()
		a.plan = nil
	}
	a.workers = n
	return nil
}

// Workers returns the number of goroutines the next Update will run on,
// the caller's included: SetWorkers' n (runtime.GOMAXPROCS(0) when n is
// 0), but no more than one per 2^15 elements (the optimizer's default
// ParallelMin).
func (a *Averaged[T]) Workers() int { return a.parallelism() }

func (a *Averaged[T]) parallelism() int {
	if a.total < 2*parallelMin || a.workers == 1 {
		return 1
	}
	limit := a.workers
	if limit == 0 {
		limit = runtime.GOMAXPROCS(0)
	}
	return max(min(limit, a.total/parallelMin), 1)
}

// Close stops the Averaged's worker goroutines, if any were started. It
// stays usable: a later parallel Update starts them again.
func (a *Averaged[T]) Close() error {
	if a.pool != nil {
		a.cleanup.Stop()
		a.pool.close()
		a.pool = nil
	}
	return nil
}

// averagePlan is the split of the slices between n workers: worker w
// updates segs[bounds[w]:bounds[w+1]].
type averagePlan struct {
	n      int
	segs   []segment
	bounds []int
}

// averageTask is one parallel Update; run is called by every worker.
type averageTask[T float32 | float64 | BFloat16 | Float16] struct{ a *Averaged[T] }

func (t *averageTask[T]) run(w int) {
	a := t.a
	for _, s := range a.plan.segs[a.plan.bounds[w]:a.plan.bounds[w+1]] {
		a.updateRange(w, s.param, s.lo, s.hi)
	}
}

// updateParallel runs Update's passes on n > 1 workers.
func (a *Averaged[T]) updateParallel(n int) error {
	if a.plan == nil || a.plan.n != n {
		segs, bounds := makePlan(a.dst, a.total, n)
		a.plan = &averagePlan{n: n, segs: segs, bounds: bounds}
	}
	if a.pool == nil {
		// The workers hold the pool, never a: a collected Averaged stops them.
		a.pool = newPool()
		a.cleanup = runtime.AddCleanup(a, func(p *pool) { p.close() }, a.pool)
	}
	for a.bufs != nil && len(a.bufs) < n {
		a.bufs = append(a.bufs, new(lowBlocks))
	}
	a.pool.grow(n - 1)
	if failed := a.pool.do(&a.task, n, a.total/n); failed != nil {
		return fmt.Errorf("optim: Update: a worker panicked, so the update is incomplete: %v", failed)
	}
	return nil
}
