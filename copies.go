package optim

import (
	"unsafe"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// Float32 master weights with a 16-bit working copy: DeepSpeed's
// step_plus_copy. A float32 optimizer writes, in the pass that updates
// each parameter, its bfloat16 or float16 copy, so that the model's
// working weights are ready without a second pass over memory; and it may
// take 16-bit gradients, widened in the same pass (StepLowGrads). The
// float32 trajectory is the float32 step's, bit for bit, and every copy is
// the conversion of its master (to nearest even) after every step
// (generic.StepMaster).

// copySet is an optimizer's 16-bit copies and the kernels that write them.
type copySet struct {
	format kernels.Format
	dst    [][]uint16
	k32    []kernels.MasterKernel[float32] // from float32 gradients
	k16    []kernels.MasterKernel[uint16]  // from 16-bit gradients
}

// SetCopies makes every later step of o (Step, StepIfFinite, ScaledStep,
// StepLowGrads) also write copies[i], the parameter i rounded to H to
// nearest even, in the same pass as its update. There is one copy per
// parameter, with its length; a parameter without a gradient keeps its
// copy. SetCopies writes the current parameters' conversion at once, so
// the copies always equal their masters' conversion. With no copies it
// stops writing them. A matrix rule's parameters (Muon, Adafactor) get
// theirs converted after their step.
//
// The copies must not overlap the parameters, the state, the gradient
// buffers or each other (an *OverlapError; a *ShapeError for a wrong
// number or length). Nothing changes on error. A group added later
// (AddGroup) is refused while copies are set: call SetCopies again after
// it.
func SetCopies[H BFloat16 | Float16](o *Optimizer[float32], copies ...[]H) error {
	const op = "SetCopies"
	if len(copies) == 0 {
		o.dropCopies()
		return nil
	}
	if len(copies) != len(o.params) {
		return &ShapeError{Op: op, What: "copies", Index: -1, Got: len(copies), Want: len(o.params)}
	}
	owned := o.owned.clone()
	if o.copies != nil {
		for _, d := range o.copies.dst {
			if len(d) > 0 {
				owned.remove(base(d))
			}
		}
	}
	dst := make([][]uint16, len(copies))
	for i, c := range copies {
		d := u16s(c)
		if len(d) != len(o.params[i]) {
			return &ShapeError{Op: op, What: "copy", Index: i, Got: len(d), Want: len(o.params[i])}
		}
		if err := owned.insert(op, region(d, Slot{Kind: "copy", Index: i})); err != nil {
			return named(err, o.Name)
		}
		if s, ok := o.grads.regions.overlapping(base(d), byteLen(d)); ok {
			return named(&OverlapError{Op: op, A: Slot{Kind: "copy", Index: i}, B: s}, o.Name)
		}
		dst[i] = d
	}
	f := formatOf[H]()
	cs := &copySet{format: f, dst: dst,
		k32: make([]kernels.MasterKernel[float32], len(dst)), k16: make([]kernels.MasterKernel[uint16], len(dst))}
	for _, g := range o.groups {
		if g.matrix {
			continue
		}
		k32 := kernels.MasterStep[float32](Kernels(), g.rule.kind(), f)
		k16 := kernels.MasterStep[uint16](Kernels(), g.rule.kind(), f)
		for i := g.first; i < g.end; i++ {
			cs.k32[i], cs.k16[i] = k32, k16
		}
	}
	o.owned = owned
	clear(o.clear) // new spans: every grad must be checked again
	o.copies = cs
	for i := range dst {
		cs.narrow(i, o.params[i])
	}
	return nil
}

// dropCopies stops writing copies.
func (o *Optimizer[T]) dropCopies() {
	if o.copies == nil {
		return
	}
	for _, d := range o.copies.dst {
		if len(d) > 0 {
			o.owned.remove(base(d))
		}
	}
	o.copies = nil
}

// narrow writes copy i from the float32 values p.
func (c *copySet) narrow(i int, p []float32) {
	if c.format == kernels.BFloat16 {
		_ = kernels.NarrowBF16(Kernels(), c.dst[i], p) // validated by SetCopies
	} else {
		_ = kernels.NarrowF16(Kernels(), c.dst[i], p)
	}
}

// asFloat32 views a []T of an optimizer with copies, whose T is float32.
func asFloat32[T float32 | float64](x []T) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(x))), len(x))
}

// applyCopies is apply's loop for an optimizer with copies, after
// prepareStep: every elementwise parameter with a gradient (in grads, or in
// grads16 when it is not nil) is stepped by its master kernel.
func applyCopies[T float32 | float64](o *Optimizer[T], grads [][]T, grads16 [][]uint16) {
	for i, p := range o.params {
		copyStepPart(o, i, 0, len(p), grads, grads16)
	}
}

// copyStepPart steps elements [lo, hi) of parameter i and writes their
// copy.
func copyStepPart[T float32 | float64](o *Optimizer[T], i, lo, hi int, grads [][]T, grads16 [][]uint16) {
	c := o.copies
	if lo == hi || o.kernels[i] == nil {
		return // empty, or a matrix rule's parameter (stepMatrices)
	}
	k := o.which[i]
	st := &o.state[i]
	coeffs := (*generic.Coeffs[float32])(unsafe.Pointer(&o.coeffs[k]))
	p := asFloat32(o.params[i])[lo:hi:hi]
	s0, s1, s2 := part(asFloat32(st[0]), lo, hi), part(asFloat32(st[1]), lo, hi), part(asFloat32(st[2]), lo, hi)
	cp := c.dst[i][lo:hi:hi]
	if grads16 != nil {
		if g := grads16[i]; g != nil {
			c.k16[i](o.variants[k], coeffs, p, g[lo:hi:hi], s0, s1, s2, cp)
		}
	} else if g := grads[i]; g != nil {
		c.k32[i](o.variants[k], coeffs, p, asFloat32(g)[lo:hi:hi], s0, s1, s2, cp)
	}
}

// copyMatrices converts the copies of the matrix rules' parameters that
// grads stepped.
func copyMatrices[T float32 | float64](o *Optimizer[T], grads [][]T) {
	for _, i := range o.mats.params {
		if grads[i] != nil {
			o.copies.narrow(i, asFloat32(o.params[i]))
		}
	}
}

// StepLowGrads is Step from 16-bit gradients: each is widened exactly to
// float32 in the kernel's pass, which also writes the copies that
// SetCopies set, of the same format H (required: an *OverlapError or
// *ShapeError as Step's for the gradients, a *RuleError without copies of
// H or with a matrix rule, whose gradients are float32). The float32
// parameters and state follow Step's arithmetic on the widened gradients,
// bit for bit. Nothing changes on error; it allocates nothing.
func StepLowGrads[H BFloat16 | Float16](o *Optimizer[float32], grads ...[]H) error {
	const op = "StepLowGrads"
	g := asBits(grads)
	if o.copies == nil || o.copies.format != formatOf[H]() {
		return &RuleError{Group: -1, Rule: "", Reason: op + ": needs copies of the gradients' format (SetCopies)"}
	}
	if o.mats.any() {
		return &RuleError{Group: -1, Rule: "", Reason: op + ": Muon and Adafactor take float32 gradients (Step)"}
	}
	if err := checkHeld(&o.groupSet, op, g, len(o.params)); err != nil {
		return err
	}
	// No cache of grads found clear: it is the float32 gradients'.
	if err := named(checkGradSlices(op, g, o.params, o.steps, o.owned, o.grads.regions, nil), o.Name); err != nil {
		return err
	}
	if n := o.parallelism(o.total); n > 1 {
		pl := o.plan
		if pl == nil || pl.n != n || len(pl.grads) != len(o.params) {
			pl = o.newPlan(n)
		}
		prepareStep(&o.groupSet, &o.stepBook, g, func(i int) bool { return o.state[i][0] != nil })
		o.ensurePool(n)
		pl.grads16 = g
		failed := o.pool.do(&o.task, n, o.total/n)
		pl.grads16 = nil
		if failed != nil {
			return &RuleError{Group: -1, Rule: "", Reason: op + ": a worker panicked, so the step is incomplete"}
		}
		return nil
	}
	prepareStep(&o.groupSet, &o.stepBook, g, func(i int) bool { return o.state[i][0] != nil })
	applyCopies(o, nil, g)
	return nil
}
