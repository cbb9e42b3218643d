package optim

import (
	"cmp"
	"fmt"
	"slices"
	"unsafe"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// LowOptimizer updates bfloat16 or float16 parameters in place, from
// gradients of the same format, as torch's fused CPU optimizers step a
// model held in torch.bfloat16 or torch.float16: each element is widened
// exactly to float32, the rule's float32 arithmetic runs on it, and every
// value stored is rounded back to the format (to nearest even, or
// stochastically for the parameters: LowOptions). It moves half the bytes
// of a float32 step, in one pass.
//
// It has Optimizer's groups, rules and their hyperparameters (the methods
// package schedule drives), parameter names (LowGroup.Names), owned
// gradient buffers in the parameters' format (Grad, GradOf, ZeroGrad,
// AccumulateGrad, and Step() and the reductions on the buffers that are
// set), step counts, held rates, parallel workers, gradient norms and
// clipping, StepIfFinite, GradScaler (UnscaleLow, ScaledStepLow) and
// checkpoints. Every kernel set and worker count gives the same bits
// (generic.StepLowp and generic.StepLowpSR define them). The matrix rules
// (Muon, Adafactor, whose parameters need shapes: LowGroup.Shapes) step
// each parameter whole: its values, gradient and state widened to float32,
// Optimizer[float32]'s step, every stored value rounded back once
// (docs/semantics.md, "Optimizers on 16-bit storage"). It is not safe for
// concurrent use.
//
// A float32 model whose working copy is 16-bit (float32 master weights)
// uses Optimizer[float32] with SetCopies instead.
type LowOptimizer[H BFloat16 | Float16] struct {
	groupSet
	stepBook[float32]
	workerSet
	shapeSet // each parameter's shape (LowGroup.Shapes)
	opts     LowOptions
	format   kernels.Format
	params   [][]uint16
	// The state, per parameter (the kernel's s0, s1, s2, nil if unused):
	// in the parameters' format, or in float32 with opts.StateFloat32.
	state16 [][3][]uint16
	state32 [][3][]float32
	// kernel is each parameter's step (its group's rule; none for a
	// matrix rule's).
	kernel []lowKernel
	// mats steps the matrix rules' parameters (low_matrix.go).
	mats matrixRun[lowMatWork, uint16]
	// owned is every slice the optimizer writes (params and state), for
	// the overlap checks; clear[i] is the address of the last grad i found
	// not to overlap any of them (0: none yet).
	owned regions
	clear []uintptr
	total int // the number of elements of all parameters
	plan  *lowPlan
	task  lowTask[H]
	// red reduces gradients of this format for the norms, widened block by
	// block into buf.
	red   generic.Reducer[uint16]
	buf   *[generic.ReduceBlock]float32
	gtask lowGradTask // the passes over gradients, split between the workers
	// The optimizer's own gradient buffers, as the parameters' bits, and
	// the parameters' names (grads.go, low_names.go).
	grads gradBuffers[uint16]
	names paramNames
}

// LowOptions are a LowOptimizer's choices of storage and rounding, fixed
// when it is made.
type LowOptions struct {
	// StateFloat32 keeps the rules' state (Adam's moments, say) in
	// float32: 4 bytes per value more, and no rounding of the state. By
	// default the state is stored in the parameters' format, as torch's
	// fused CPU optimizers create it (like the parameter), and rounded to
	// nearest even at every step.
	StateFloat32 bool
	// Stochastic rounds every updated parameter stochastically instead of
	// to nearest even: up or down with probabilities that make its expected
	// value the float32 result, so that updates smaller than half a unit in
	// the last place are not lost. The state is still rounded to nearest
	// even. The random bits are a function of (Seed, the parameter's
	// index, the element's index, the step count), so a run gives the same
	// bits on every CPU, for any number of workers and on both
	// architectures (generic.SR).
	Stochastic bool
	// Seed keys Stochastic's random bits.
	Seed uint64
}

// LowGroup is a parameter group of a LowOptimizer: a rule, the 16-bit
// parameters it updates and optionally their shapes and names, as Group.
type LowGroup[H BFloat16 | Float16] struct {
	Rule   Rule
	Params [][]H
	// Shapes, when not nil, gives each param its shape, as Group.Shapes:
	// Muon and Adafactor need them, and checkpoints save the state with
	// them.
	Shapes []Shape
	// Names, when not nil, names each param, as Group.Names: one non-empty
	// name (valid UTF-8) per param, none given twice across the optimizer,
	// and either every group of an optimizer named or none. Names reach
	// the owned gradients (GradOf), appear in errors and are saved in
	// checkpoints (param_names), where Load checks them.
	Names []string
}

// lowKernel is one parameter's step: the form its state and rounding ask
// for (exactly one field is set; none for a matrix rule's parameter).
type lowKernel struct {
	rn16 kernels.LowpKernel[uint16]
	rn32 kernels.LowpKernel[float32]
	sr16 func(v generic.Variant, c *generic.Coeffs[float32], sr kernels.SR, p, g []uint16, s0, s1, s2 []uint16)
	sr32 func(v generic.Variant, c *generic.Coeffs[float32], sr kernels.SR, p, g []uint16, s0, s1, s2 []float32)
}

// matrix reports that no kernel is set: the parameter is a matrix rule's,
// stepped whole by stepMatrices.
func (k *lowKernel) matrix() bool {
	return k.rn16 == nil && k.rn32 == nil && k.sr16 == nil && k.sr32 == nil
}

// NewLow returns a LowOptimizer that applies rule to params, one group,
// with the storage and rounding of opts. The slices are updated in place
// by Step and must not overlap each other. The state is allocated here,
// zero (Adagrad: InitialAccumulatorValue, rounded to the format unless
// opts.StateFloat32), so that Step allocates nothing.
func NewLow[H BFloat16 | Float16](rule Rule, opts LowOptions, params ...[]H) (*LowOptimizer[H], error) {
	return newLowGroups("NewLow", opts, LowGroup[H]{Rule: rule, Params: params})
}

// NewLowGroups returns a LowOptimizer over several parameter groups, each
// with its own rule, numbered across groups in order as NewGroups numbers
// them.
func NewLowGroups[H BFloat16 | Float16](opts LowOptions, groups ...LowGroup[H]) (*LowOptimizer[H], error) {
	return newLowGroups("NewLowGroups", opts, groups...)
}

func newLowGroups[H BFloat16 | Float16](op string, opts LowOptions, groups ...LowGroup[H]) (*LowOptimizer[H], error) {
	if len(groups) == 0 {
		return nil, &RuleError{Group: -1, Rule: "", Reason: op + ": no parameter groups"}
	}
	o := &LowOptimizer[H]{opts: opts, format: formatOf[H]()}
	o.owner = o
	o.buf = new([generic.ReduceBlock]float32)
	o.gtask.format = o.format
	o.red = o.reducer()
	if err := o.addGroups(op, groups); err != nil {
		return nil, err
	}
	return o, nil
}

// formatOf is the kernels' name of H's format.
func formatOf[H BFloat16 | Float16]() kernels.Format {
	var zero H
	if _, ok := any(zero).(BFloat16); ok {
		return kernels.BFloat16
	}
	return kernels.Float16
}

// AddGroup adds a parameter group, as torch's add_param_group (see
// Optimizer.AddGroup). Everything is validated before anything changes.
func (o *LowOptimizer[H]) AddGroup(g LowGroup[H]) error {
	return o.addGroups("AddGroup", []LowGroup[H]{g})
}

func (o *LowOptimizer[H]) addGroups(op string, groups []LowGroup[H]) error {
	rules := make([]Rule, len(groups))
	var params [][]uint16
	gparams, gshapes := make([][][]H, len(groups)), make([][]Shape, len(groups))
	for gi, g := range groups {
		gparams[gi], gshapes[gi] = g.Params, g.Shapes
		r, err := o.normalize(g.Rule)
		if err != nil {
			return inGroup(err, len(o.groups)+gi)
		}
		if len(g.Params) == 0 {
			return &RuleError{Group: len(o.groups) + gi, Rule: ruleName(r), Reason: op + ": empty parameter list"}
		}
		rules[gi] = r
		for _, p := range g.Params {
			params = append(params, u16s(p))
		}
	}
	names, err := checkNames(op, &o.names, len(o.params), len(o.groups), groups)
	if err != nil {
		return err
	}
	name := o.names.pending(names)
	shapes, err := checkShapes(op, len(o.params), len(o.groups), rules, gparams, gshapes)
	if err != nil {
		return named(err, name)
	}
	// The new params must not overlap each other, anything we write or
	// our gradient buffers.
	owned, err := insertParams(op, o.owned, o.grads.regions, len(o.params), params, name)
	if err != nil {
		return err
	}

	// Nothing fails from here on.
	first := len(o.params)
	o.owned = owned
	o.params = append(o.params, params...)
	o.addShapes(first, len(params), shapes)
	o.state16 = append(o.state16, make([][3][]uint16, len(params))...)
	o.state32 = append(o.state32, make([][3][]float32, len(params))...)
	o.stepBook.grow(len(params))
	o.clear = append(o.clear, make([]uintptr, len(params))...)
	clear(o.clear[:first]) // new spans: earlier grads must be checked again
	o.grads.grow(len(params))
	o.names.add(names)
	for _, p := range params {
		o.total += len(p)
	}
	firstGroup := len(o.groups)
	for gi, g := range groups {
		end := first + len(g.Params)
		o.addGroup(rules[gi], first, end)
		var k lowKernel
		if !isMatrix(rules[gi]) {
			k = o.kernelOf(rules[gi].kind())
		}
		for range g.Params {
			o.kernel = append(o.kernel, k)
		}
		first = end
	}
	for gi := firstGroup; gi < len(o.groups); gi++ {
		o.allocState(gi)
	}
	o.growMatWork()
	o.plan = nil
	return nil
}

// kernelOf returns the step of rule kind in this optimizer's storage and
// rounding, on the kernel set in use.
func (o *LowOptimizer[H]) kernelOf(kind kernels.Kind) lowKernel {
	s := Kernels()
	switch {
	case o.opts.StateFloat32 && o.opts.Stochastic:
		return lowKernel{sr32: kernels.LowpStepSR[float32](s, kind, o.format)}
	case o.opts.StateFloat32:
		return lowKernel{rn32: kernels.LowpStep[float32](s, kind, o.format)}
	case o.opts.Stochastic:
		return lowKernel{sr16: kernels.LowpStepSR[uint16](s, kind, o.format)}
	}
	return lowKernel{rn16: kernels.LowpStep[uint16](s, kind, o.format)}
}

// normalize validates r as a rule of 16-bit parameters (groupOwner), whose
// arithmetic is float32's.
func (o *LowOptimizer[H]) normalize(r Rule) (Rule, error) { return normalizeFor[float32](r) }

// ruleChanged allocates what group gi's new rule needs and its parameters
// lack (groupOwner): state slots, and the matrix rules' scratch (Muon's
// NSBFloat16 may have changed).
func (o *LowOptimizer[H]) ruleChanged(gi int) {
	o.allocState(gi)
	o.growMatWork()
}

// allocState allocates the state slices that group gi's rule uses and its
// parameters do not have yet, at the rule's initial value. As Optimizer's
// allocState, it carves them from one array, slot by slot, so that a step
// over many small parameters streams each slot through contiguous memory,
// and adds them to the regions the overlap checks guard in one merge (one
// insertion per slice would copy the regions each time: quadratic in the
// number of parameters).
func (o *LowOptimizer[H]) allocState(gi int) {
	if o.opts.StateFloat32 {
		allocLowState(o, gi, o.state32, initialState[float32](o.groups[gi].rule))
	} else {
		allocLowState(o, gi, o.state16, o.format.Narrow(initialState[float32](o.groups[gi].rule)))
	}
}

// allocLowState is allocState for state stored as S, initialized to init
// (a matrix rule's slots, of their own lengths, to zero).
func allocLowState[H BFloat16 | Float16, S uint16 | float32](o *LowOptimizer[H], gi int, state [][3][]S, init S) {
	g := &o.groups[gi]
	var used [3]bool
	if g.matrix {
		init = 0
	} else {
		_, v, _ := coefficients[float32](g.rule, 1, true, generic.Scalars{})
		used[0], used[1], used[2] = kernels.Uses(g.rule.kind(), v)
	}
	// needed is the length of slot k of parameter i to allocate (0: none).
	needed := func(i, k int) int {
		switch {
		case state[i][k] != nil:
			return 0
		case g.matrix:
			return o.slotLen(i, k)
		case used[k]:
			return len(o.params[i])
		}
		return 0
	}
	total := 0
	for k := range 3 {
		for i := g.first; i < g.end; i++ {
			total += needed(i, k)
		}
	}
	backing := make([]S, total)
	if init != 0 {
		for j := range backing {
			backing[j] = init
		}
	}
	var spans []span
	for k := range 3 {
		for i := g.first; i < g.end; i++ {
			n := needed(i, k)
			if n == 0 && (g.matrix || !used[k] || state[i][k] != nil) {
				continue // an empty parameter's used slot is allocated, empty
			}
			state[i][k], backing = backing[:n:n], backing[n:]
			if n > 0 {
				spans = append(spans, region(state[i][k], Slot{Kind: "state", Index: i, Key: o.slotKey(i, k)}))
			}
		}
	}
	if len(spans) > 0 {
		// Carved in address order: the spans are sorted.
		o.owned.merge(spans)
		clear(o.clear) // new spans: every grad must be checked again
	}
}

// Len returns the number of parameter slices, across all groups.
func (o *LowOptimizer[H]) Len() int { return len(o.params) }

// Options returns the storage and rounding choices the optimizer was made
// with.
func (o *LowOptimizer[H]) Options() LowOptions { return o.opts }

// asBits views gradients of H as their bits: the same memory.
func asBits[H BFloat16 | Float16](grads [][]H) [][]uint16 {
	return *(*[][]uint16)(unsafe.Pointer(&grads))
}

// Step applies one update to every parameter that has a gradient, with
// grads[i] the gradient of the i-th parameter, as Optimizer.Step: a nil
// gradient skips its parameter (no update, no weight decay, no step
// counted). With no arguments, Step steps on the optimizer's own gradient
// buffers (see Grad): those not set since ZeroGrad are nil gradients.
// Everything is validated before the first write: on error no parameter,
// state or step count has changed. Step allocates nothing.
func (o *LowOptimizer[H]) Step(grads ...[]H) error {
	g := o.stepGrads(grads)
	if err := checkHeld(&o.groupSet, "Step", g, len(o.params)); err != nil {
		return err
	}
	if err := o.checkGrads("Step", g); err != nil {
		return err
	}
	return o.apply(g)
}

// checkGrads validates a step's gradients: their number and lengths, that
// none overlaps memory the step writes or is the owned gradient buffer of
// another parameter, and that no step count overflows.
func (o *LowOptimizer[H]) checkGrads(op string, grads [][]uint16) error {
	return named(checkGradSlices(op, grads, o.params, o.steps, o.owned, o.grads.regions, o.clear), o.Name)
}

// apply steps validated gradients, split between the workers when they
// are worth it.
func (o *LowOptimizer[H]) apply(grads [][]uint16) error {
	if o.mats.any() {
		if err := o.stepMatrices(grads); err != nil {
			return err
		}
	}
	prepareStep(&o.groupSet, &o.stepBook, grads, o.stateExists)
	if n := o.parallelism(o.total - o.mats.elems); n > 1 {
		return o.applyParallel(grads, n)
	}
	for i, p := range o.params {
		if len(p) > 0 && grads[i] != nil && !o.kernel[i].matrix() {
			o.stepPart(i, 0, len(p), grads[i])
		}
	}
	return nil
}

// stateExists reports whether parameter i has the state that a step
// creates (its first slot), for prepareStep.
func (o *LowOptimizer[H]) stateExists(i int) bool {
	return o.state16[i][0] != nil || o.state32[i][0] != nil
}

// stepPart steps elements [lo, hi) of parameter i with their gradient g
// (the whole parameter's), after prepareStep.
func (o *LowOptimizer[H]) stepPart(i, lo, hi int, g []uint16) {
	k := o.which[i]
	v, c := o.variants[k], &o.coeffs[k]
	p, g := o.params[i][lo:hi:hi], g[lo:hi:hi]
	sr := kernels.SR{Seed: o.opts.Seed, Param: uint32(i), Step: uint64(o.steps[i]), Offset: uint64(lo)}
	switch kk := &o.kernel[i]; {
	case kk.rn16 != nil:
		s := &o.state16[i]
		kk.rn16(v, c, p, g, part(s[0], lo, hi), part(s[1], lo, hi), part(s[2], lo, hi))
	case kk.rn32 != nil:
		s := &o.state32[i]
		kk.rn32(v, c, p, g, part(s[0], lo, hi), part(s[1], lo, hi), part(s[2], lo, hi))
	case kk.sr16 != nil:
		s := &o.state16[i]
		kk.sr16(v, c, sr, p, g, part(s[0], lo, hi), part(s[1], lo, hi), part(s[2], lo, hi))
	default:
		s := &o.state32[i]
		kk.sr32(v, c, sr, p, g, part(s[0], lo, hi), part(s[1], lo, hi), part(s[2], lo, hi))
	}
}

// lowPlan is the split of the parameters between n workers (makePlan).
type lowPlan struct {
	n      int
	segs   []segment
	bounds []int
	grads  [][]uint16 // this step's gradients, cleared after it
}

// lowTask is the work of one parallel step; run steps worker w's share.
type lowTask[H BFloat16 | Float16] struct{ o *LowOptimizer[H] }

func (t *lowTask[H]) run(w int) {
	o := t.o
	pl := o.plan
	for _, s := range pl.segs[pl.bounds[w]:pl.bounds[w+1]] {
		if g := pl.grads[s.param]; g != nil {
			o.stepPart(s.param, s.lo, s.hi, g)
		}
	}
}

// applyParallel steps with n > 1 workers, after prepareStep.
func (o *LowOptimizer[H]) applyParallel(grads [][]uint16, n int) error {
	pl := o.plan
	if pl == nil || pl.n != n {
		// The matrix rules' parameters are stepped whole (stepMatrices):
		// the workers split the others.
		params := o.params
		if o.mats.any() {
			params = make([][]uint16, len(o.params))
			for i, p := range o.params {
				if !o.kernel[i].matrix() {
					params[i] = p
				}
			}
		}
		segs, bounds := makePlan(params, o.total-o.mats.elems, n)
		pl = &lowPlan{n: n, segs: segs, bounds: bounds, grads: make([][]uint16, len(o.params))}
		o.plan = pl
		o.task.o = o
	}
	o.ensurePool(n)
	copy(pl.grads, grads)
	failed := o.pool.do(&o.task, n, o.total/n)
	clear(pl.grads)
	if failed != nil {
		return fmt.Errorf("optim: Step: a worker panicked, so the step is incomplete: %v", failed)
	}
	return nil
}

// SetWorkers sets how many goroutines Step may use, as Optimizer's: 0 is
// runtime.GOMAXPROCS(0), the default, and each worker gets at least
// ParallelMin elements. Results are bit-identical for every worker count,
// stochastic rounding included.
func (o *LowOptimizer[H]) SetWorkers(n int) error {
	changed, err := o.setWorkers(n)
	if changed {
		o.plan = nil
	}
	return err
}

// Workers returns the number of goroutines the next Step will run on, the
// caller's included (see Optimizer.Workers).
func (o *LowOptimizer[H]) Workers() int { return o.parallelism(o.total) }

// State returns a copy of the i-th parameter's state, widened exactly to
// float32 (the state a LowOptimizer keeps in the parameters' format is
// given by its values), with its step count and scalar state, as
// Optimizer.State reports it. Unlike Optimizer's, its slices are copies.
func (o *LowOptimizer[H]) State(i int) (State[float32], error) {
	if i < 0 || i >= len(o.params) {
		return State[float32]{}, &IndexError{Op: "State", What: "param", Index: i, Len: len(o.params)}
	}
	if o.groups[o.groupOf(i)].matrix {
		return o.matrixState(i), nil
	}
	kind := o.groups[o.groupOf(i)].rule.kind()
	st := State[float32]{Step: o.steps[i]}
	if !o.stepBook.hasState(i, kind) {
		return st, nil // as in torch's state dict: no state yet
	}
	for k, f := range st.fields(kind) {
		if f == nil {
			continue
		}
		switch {
		case o.state32[i][k] != nil:
			*f = slices.Clone(o.state32[i][k]) // not nil when empty: the state exists
		case o.state16[i][k] != nil:
			w := make([]float32, len(o.state16[i][k]))
			for j, h := range o.state16[i][k] {
				w[j] = o.format.Widen(h)
			}
			*f = w
		}
	}
	for j, key := range scalarKeys[kind] {
		*st.scalar(key) = o.scalars[i][j]
	}
	return st, nil
}

// SetState restores the i-th parameter's state from st, as
// Optimizer.SetState does (the same rules for what must be given, and the
// same errors), from float32 values: a state kept in the parameters'
// format takes each value rounded to nearest even, as torch's
// load_state_dict casts a state tensor to its parameter's dtype, and
// State then reports the rounded values. Nothing changes on error.
func (o *LowOptimizer[H]) SetState(i int, st State[float32]) error {
	return named(o.setState(i, st), o.Name)
}

func (o *LowOptimizer[H]) setState(i int, st State[float32]) error {
	const op = "SetState"
	if i < 0 || i >= len(o.params) {
		return &IndexError{Op: op, What: "param", Index: i, Len: len(o.params)}
	}
	rule := o.groups[o.groupOf(i)].rule
	if mr, ok := rule.(matrixRule); ok {
		return o.setMatrixState(i, mr, st)
	}
	kind, used := rule.kind(), usedSlots[float32](rule)
	src, g, err := checkGivenState(op, i, kind, used, len(o.params[i]), st)
	if err != nil {
		return err
	}
	if o.opts.StateFloat32 {
		setLowState(o, i, kind, used, src, g, o.state32, func(x float32) float32 { return x }, initialState[float32](rule))
	} else {
		setLowState(o, i, kind, used, src, g, o.state16, o.format.Narrow, o.format.Narrow(initialState[float32](rule)))
	}
	o.record(i, g, kind, used, st.Step)
	return nil
}

// setLowState writes the state slots of parameter i, stored as S, from
// src (SetState, validated): each value given converted by narrow, the
// slots the rule uses set to init where the state does not exist, a slot
// it does not use allocated when given and dropped when not.
func setLowState[H BFloat16 | Float16, S uint16 | float32](o *LowOptimizer[H], i int, kind kernels.Kind, used [3]bool,
	src [3]*[]float32, g givenState, state [][3][]S, narrow func(float32) S, init S) {
	var added []span
	for k, f := range src {
		dst := state[i][k]
		switch {
		case f == nil:
		case !used[k] && !g.kept[k]:
			if len(dst) > 0 {
				o.owned.remove(base(dst))
			}
			state[i][k] = nil
		case used[k] && !g.exists:
			// As in a new optimizer.
			for j := range dst {
				dst[j] = init
			}
		default:
			if dst == nil { // a slot the rule does not use, kept
				dst = make([]S, len(o.params[i]))
				state[i][k] = dst
				if len(dst) > 0 {
					added = append(added, region(dst, Slot{Kind: "state", Index: i, Key: stateKey(kind, k)}))
				}
			}
			for j, x := range *f {
				dst[j] = narrow(x)
			}
		}
	}
	if len(added) > 0 {
		slices.SortFunc(added, func(a, b span) int { return cmp.Compare(a.lo, b.lo) })
		o.owned.merge(added)
		clear(o.clear) // new spans: every grad must be checked again
	}
}

// groupOf returns the index of the group that holds parameter i (-1 if
// none does).
func (o *groupSet) groupOf(i int) int {
	for gi := range o.groups {
		if i < o.groups[gi].end {
			return gi
		}
	}
	return -1
}
