package optim

import (
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

// growMatWork lists the matrix rules' parameters and sizes every worker's
// scratch for them (matrixRun.reset).
func (o *LowOptimizer[H]) growMatWork() {
	o.mats.reset(o, &o.groupSet, len(o.params), o.paramLen)
}

// paramLen is the length of parameter i.
func (o *LowOptimizer[H]) paramLen(i int) int { return len(o.params[i]) }

// sizeMatWork makes w large enough for every matrix rule's parameter
// (matrixOwner).
func (o *LowOptimizer[H]) sizeMatWork(w *lowMatWork) {
	for _, i := range o.mats.params {
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

// stepMatrices steps every parameter of a matrix rule that has a gradient
// (matrixRun.step).
func (o *LowOptimizer[H]) stepMatrices(grads [][]uint16) error {
	return o.mats.step(&o.workerSet, grads, o.steps, o.created, o.paramLen)
}

// ensurePool starts the workers that n need (matrixOwner).
func (o *LowOptimizer[H]) ensurePool(n int) { ensurePool(o, &o.workerSet, n) }

// stepMatrix steps parameter i, of a matrix rule (matrixOwner): its
// values, gradient g and state widened into w, Optimizer[float32]'s step,
// and each stored value rounded back (see the top of this file).
func (o *LowOptimizer[H]) stepMatrix(w *lowMatWork, i int, g []uint16, gemmWorkers int) {
	w.ns.gemm.Workers, w.ns32.gemm.Workers = gemmWorkers, gemmWorkers
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
		kernels.NarrowSR(o.format, p16, p, kernels.SR{Seed: o.opts.Seed, Param: uint32(i), Step: uint64(o.steps[i])})
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
