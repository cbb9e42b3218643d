package optim

import (
	"fmt"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// The matrix rules (Muon, Adafactor) on 16-bit storage. A LowOptimizer
// steps each of their parameters whole, as Optimizer does (matrix.go), on
// float32 copies of its values, gradient and state, and rounds each stored
// value back once (docs/semantics.md, "Optimizers on 16-bit storage",
// defines the bits). The widening and rounding are exact functions and the
// float32 step is Optimizer's, so no bit depends on the worker count, the
// kernel set or the architecture.

// lowMatWork is a worker's scratch for the matrix rules' steps: the
// float32 step's own (matWork), and the widened parameter, gradient and
// state, sized for the largest parameter so that Step allocates nothing.
type lowMatWork struct {
	matWork[float32]
	p, g []float32
	s    [3][]float32 // the widened state (kept in the parameters' format)
	st   [3][]float32 // this step's views of s, as the float32 step takes them
}

// growMatWork lists the matrix rules' parameters, counts their elements,
// sizes every worker's scratch for them and forgets their split between
// workers.
func (o *LowOptimizer[H]) growMatWork() {
	o.matParams = o.matParams[:0]
	o.matElems = 0
	for gi := range o.groups {
		if g := &o.groups[gi]; g.matrix {
			for i := g.first; i < g.end; i++ {
				o.matParams = append(o.matParams, i)
				o.matElems += len(o.params[i])
			}
		}
	}
	if len(o.matParams) == 0 {
		return
	}
	if o.mat == nil {
		o.mat = new(lowMatWork)
		o.matWorkers = []*lowMatWork{o.mat}
	}
	for _, w := range o.matWorkers {
		o.sizeMatWork(w)
	}
	o.mtask = lowMatTask[H]{o: o, grads: make([][]uint16, len(o.params))}
}

// sizeMatWork makes w large enough for every matrix rule's parameter.
func (o *LowOptimizer[H]) sizeMatWork(w *lowMatWork) {
	for _, i := range o.matParams {
		r, s, n := o.groups[o.groupOf(i)].rule, o.paramShape(i), len(o.params[i])
		w.fit(r, s, n)
		w.p, w.g = atLeast(w.p, n), atLeast(w.g, n)
		if !o.opts.StateFloat32 {
			for k, m := range slotsOf(r, s, n).lens {
				w.s[k] = atLeast(w.s[k], m)
			}
		}
	}
}

// atLeast returns x, or a new slice of n elements when x is shorter.
func atLeast(x []float32, n int) []float32 {
	if len(x) < n {
		return make([]float32, n)
	}
	return x
}

// stepMatrices steps every parameter of a matrix rule that has a gradient,
// as Optimizer.stepMatrices does: with several workers and several such
// parameters each worker steps a run of whole parameters with its own
// scratch, otherwise the caller steps them one after the other, Muon's
// products split between the workers. The gradients are validated.
func (o *LowOptimizer[H]) stepMatrices(grads [][]uint16) error {
	for _, i := range o.matParams {
		if grads[i] != nil {
			o.steps[i]++
			o.created[i] = true
		}
	}
	n := min(o.parallelism(o.matElems), len(o.matParams))
	if n <= 1 {
		w := o.mat
		w.ns.gemm.Workers, w.ns32.gemm.Workers = o.parallelism(o.matElems), o.parallelism(o.matElems)
		for _, i := range o.matParams {
			if grads[i] != nil {
				o.stepMatrix(w, i, grads[i])
			}
		}
		return nil
	}
	t := &o.mtask
	if len(t.bounds) != n+1 {
		for len(o.matWorkers) < n {
			w := new(lowMatWork)
			o.sizeMatWork(w)
			o.matWorkers = append(o.matWorkers, w)
		}
		t.bounds = splitRuns(o.matParams, func(i int) int { return len(o.params[i]) }, o.matElems, n)
	}
	for _, w := range o.matWorkers[:n] {
		w.ns.gemm.Workers, w.ns32.gemm.Workers = 1, 1
	}
	ensurePool(o, &o.workerSet, n)
	copy(t.grads, grads)
	failed := o.pool.do(t, n, wakeEarlyMin) // whole matrices: a large call
	clear(t.grads)
	if failed != nil {
		return fmt.Errorf("optim: Step: a worker panicked, so the step is incomplete: %v", failed)
	}
	return nil
}

// lowMatTask is a parallel step of the matrix rules: worker w steps
// matParams[bounds[w]:bounds[w+1]] with matWorkers[w].
type lowMatTask[H BFloat16 | Float16] struct {
	o      *LowOptimizer[H]
	grads  [][]uint16 // this step's gradients, cleared after it
	bounds []int
}

func (t *lowMatTask[H]) run(w int) {
	o := t.o
	for _, i := range o.matParams[t.bounds[w]:t.bounds[w+1]] {
		if t.grads[i] != nil {
			o.stepMatrix(o.matWorkers[w], i, t.grads[i])
		}
	}
}

// stepMatrix steps parameter i, of a matrix rule, with its gradient g and
// the scratch w (see the top of this file); its step count is already this
// step's.
func (o *LowOptimizer[H]) stepMatrix(w *lowMatWork, i int, g []uint16) {
	p16 := o.params[i]
	n := len(p16)
	p := w.p[:n]
	widenFormat(o.format, p, p16)
	widenFormat(o.format, w.g[:n], g)
	st := &o.state32[i]
	if !o.opts.StateFloat32 {
		for k, h := range o.state16[i] {
			w.st[k] = nil
			if h != nil {
				w.st[k] = w.s[k][:len(h)]
				widenFormat(o.format, w.st[k], h)
			}
		}
		st = &w.st
	}
	w.step(o.groups[o.groupOf(i)].rule, p, w.g[:n], st, o.paramShape(i), o.steps[i])
	if o.opts.Stochastic {
		generic.NarrowSRSlice(o.format, p16, p, kernels.SR{Seed: o.opts.Seed, Param: uint32(i), Step: uint64(o.steps[i])})
	} else {
		narrowFormat(o.format, p16, p)
	}
	if !o.opts.StateFloat32 {
		for k, h := range o.state16[i] {
			if h != nil {
				narrowFormat(o.format, h, w.st[k])
			}
		}
	}
}

// widenFormat sets dst to the values of the bits src, of format f, with
// the kernel set in use (dst and src have the same length, disjoint).
func widenFormat(f kernels.Format, dst []float32, src []uint16) {
	if f == kernels.BFloat16 {
		_ = kernels.WidenBF16(Kernels(), dst, src) // cannot fail: equal lengths, disjoint
	} else {
		_ = kernels.WidenF16(Kernels(), dst, src)
	}
}

// narrowFormat sets dst to src rounded to format f, to nearest even.
func narrowFormat(f kernels.Format, dst []uint16, src []float32) {
	if f == kernels.BFloat16 {
		_ = kernels.NarrowBF16(Kernels(), dst, src) // cannot fail: equal lengths, disjoint
	} else {
		_ = kernels.NarrowF16(Kernels(), dst, src)
	}
}

// The layout of state slot k of parameter i, for the checkpoints
// (checkpointed, slotsOf): its length, torch key and shapes.
func (o *LowOptimizer[H]) slotLen(i, k int) int { return o.slots(i).lens[k] }
func (o *LowOptimizer[H]) slotKey(i, k int) string {
	return o.slots(i).keys[k]
}
func (o *LowOptimizer[H]) slotShape(i, k int) Shape     { return o.slots(i).shape(k) }
func (o *LowOptimizer[H]) tensorShape(i, k int) []int64 { return o.slots(i).tensorShape(k) }

func (o *LowOptimizer[H]) slots(i int) slotLayout {
	return slotsOf(o.groups[o.groupOf(i)].rule, o.paramShape(i), len(o.params[i]))
}

// matrixState is State for parameter i of the matrix rule mr: its slots
// widened to float32, once its state exists, as Optimizer's.
func (o *LowOptimizer[H]) matrixState(i int) State[float32] {
	st := State[float32]{Step: o.steps[i]}
	if !o.created[i] && o.steps[i] == 0 {
		return st
	}
	l := o.slots(i)
	for k, n := range l.lens {
		if n == 0 {
			continue
		}
		w := make([]float32, n)
		if o.opts.StateFloat32 {
			copy(w, o.state32[i][k])
		} else {
			for j, h := range o.state16[i][k] {
				w[j] = o.format.Widen(h)
			}
		}
		*st.field(l.keys[k]) = w
	}
	return st
}

// setMatrixState is SetState for parameter i of the matrix rule mr, as
// Optimizer's, the values rounded to nearest even into state kept in the
// parameters' format.
func (o *LowOptimizer[H]) setMatrixState(i int, mr matrixRule, st State[float32]) error {
	src, given, err := checkMatrixState(i, mr, o.paramShape(i), len(o.params[i]), st)
	if err != nil {
		return err
	}
	for k, f := range src {
		switch {
		case o.opts.StateFloat32 && f != nil:
			copy(o.state32[i][k], f)
		case o.opts.StateFloat32:
			clear(o.state32[i][k])
		case f != nil:
			for j, x := range f {
				o.state16[i][k][j] = o.format.Narrow(x)
			}
		default:
			clear(o.state16[i][k])
		}
	}
	o.created[i] = given
	o.steps[i] = st.Step
	return nil
}
