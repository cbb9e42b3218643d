// Package optim applies torch.optim's update rules (SGD with momentum and
// Nesterov, Adagrad, RMSProp, Adam and AdamW, NAdam, RAdam, Adamax,
// Adadelta, Rprop, ASGD) and Lion to float32 and float64 parameter slices
// with fused SIMD kernels, once per training step; and torch's Muon and
// Adafactor, which step whole matrices (a group gives their Shapes). Two
// classes of torch.optim have optimizers of their own, because their steps
// take other inputs: LBFGS (NewLBFGS) calls a closure for the loss and
// gradient, and SparseAdam (NewSparseAdam) takes the rows of an embedding
// table that a gradient holds.
//
// Every kernel set (portable Go, AVX2, AVX-512, NEON) computes exactly the
// bits of the portable reference in package generic, so a run reproduces bit
// for bit on any CPU. ISA reports which set this process uses and why.
//
//	opt, err := optim.New[float32](optim.DefaultAdam(), weights, biases)
//	for step := 0; step < steps; step++ {
//		computeGradients(gradW, gradB)
//		if err := opt.Step(gradW, gradB); err != nil { ... }
//	}
//
// Parameter groups (torch's param_groups) give parts of a model their own
// rule or hyperparameters; package schedule drives their learning rates
// and momenta.
//
// The optimizer can also own the gradients, as torch's p.grad: Grad and
// GradOf return its buffers, Step() with no arguments steps on them,
// ZeroGrad clears them and AccumulateGrad adds micro-batch gradients into
// them. Parameters may be named (Group.Names), as torch's named_parameters.
// LowOptimizer, which steps bfloat16 or float16 parameters in place, has
// the same names and owned gradients, in the parameters' format.
// A nil gradient means "no gradient", torch's None: that parameter is
// skipped, as torch skips it.
package optim

import (
	"math"
	"unsafe"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// Optimizer updates a list of parameter slices in place, organised in
// groups that each have a rule, and keeps the rules' state for each
// parameter. It is not safe for concurrent use.
//
// The zero Optimizer is usable: it has no groups, and AddGroup gives it
// some. New and NewGroups are the usual way to make one.
type Optimizer[T float32 | float64] struct {
	groupSet
	params [][]T
	state  [][3][]T // per parameter: the kernel's s0, s1, s2 (nil if unused)
	stepBook[T]
	// owned is every slice the optimizer writes (params and state), sorted
	// by address, for the overlap checks; clear[i] is the address of the
	// last grad i found not to overlap any of them (0: none yet).
	owned regions
	clear []uintptr
	// mats steps the matrix rules' parameters (matrix.go).
	mats matrixRun[matWork[T], T]
	// shapeSet is each parameter's shape (Group.Shapes).
	shapeSet
	// total is the number of elements of all parameters.
	total int
	// Parallel steps (parallel.go): the workers, and the split of the
	// parameters between them.
	workerSet
	plan  *parallelPlan[T]
	task  stepTask[T]
	pgrad *parallelGrad[T] // the gradient kernels split between the workers
	// The optimizer's own gradient buffers and the parameters' names
	// (grads.go).
	grads gradBuffers[T]
	names paramNames
	// kernels is each parameter's kernel (nil for a matrix rule's).
	kernels []generic.Kernel[T]
	// copies, when not nil, are the 16-bit copies that every step writes
	// (SetCopies; T is float32).
	copies *copySet
}

// stepBook is what a step counts and computes per parameter, whatever the
// parameters' storage: shared by Optimizer and LowOptimizer (prepareStep).
type stepBook[T float32 | float64] struct {
	// steps is each parameter's step count, torch's state['step'].
	steps []int64
	// created reports whether the state torch creates lazily exists: for
	// SGD, whether the momentum buffer does (torch's momentum_buffer is not
	// None: the first step with a momentum clones the gradient into it
	// instead of decaying it); for the other rules, whether the parameter's
	// state does (torch's state[p] is not empty: Rprop's first step starts
	// from step sizes LR, and NAdam's and ASGD's scalars are initialized
	// then). A step with a gradient creates it; so do SetState and Load of
	// a state that has it. The steps of the rules of lazyState depend on
	// it; for every rule, it says whether State and Save report the state
	// (hasState): a parameter that never had a gradient has none.
	created []bool
	// scalars is each parameter's scalar state (NAdam's mu_product, ASGD's
	// eta and mu), valid where created.
	scalars []generic.Scalars
	// The current step's scalars (prepareStep). They are fields rather
	// than locals because their addresses go to the kernels, indirect
	// calls, which would move locals to the heap on every Step.
	which    []int
	coeffs   []generic.Coeffs[T]
	variants []generic.Variant
	next     []generic.Scalars // the scalar state that coeffs[k] leaves
}

// grow adds n parameters, with no step, state or scalars yet.
func (b *stepBook[T]) grow(n int) {
	b.steps = append(b.steps, make([]int64, n)...)
	b.created = append(b.created, make([]bool, n)...)
	b.scalars = append(b.scalars, make([]generic.Scalars, n)...)
	b.which = append(b.which, make([]int, n)...)
	b.coeffs = append(b.coeffs, make([]generic.Coeffs[T], n)...)
	b.variants = append(b.variants, make([]generic.Variant, n)...)
	b.next = append(b.next, make([]generic.Scalars, n)...)
}

// Group is a parameter group, as an entry of torch's param_groups: the rule
// (with its hyperparameters) that updates the parameters, and optionally
// their names (torch's named_parameters, its param_names).
type Group[T float32 | float64] struct {
	Rule   Rule
	Params [][]T
	// Shapes, when not nil, gives each param its shape (see Shape): one
	// entry per param, nil for a flat one, each with as many elements as
	// its param. Elementwise rules ignore shapes; Muon and Adafactor need
	// them. Shape returns them, and checkpoints carry them.
	Shapes []Shape
	// Names, when not nil, names each param: one non-empty name (valid
	// UTF-8) per param, none given twice across the optimizer, and either
	// every group of an optimizer named or none, as torch requires. Names
	// reach the owned gradients (GradOf), appear in errors and are saved
	// in checkpoints (param_names, as torch 2.x), where Load checks them.
	Names []string
}

// New returns an optimizer that applies rule to params: one group. The
// slices are updated in place by Step and must not overlap each other.
// The memory of their state is allocated here, zero (Adagrad:
// InitialAccumulatorValue), so that Step allocates nothing; as in torch, a
// parameter has state (State, Save) from its first step with a gradient.
func New[T float32 | float64](rule Rule, params ...[]T) (*Optimizer[T], error) {
	return newGroups("New", Group[T]{Rule: rule, Params: params})
}

// NewGroups returns an optimizer over several parameter groups. Groups may
// use different rule types (torch cannot), for example a rule for the
// weight matrices and AdamW for the rest. Parameters are numbered across
// groups in order: Step takes their gradients in that order, and State(i)
// is the state of the i-th.
func NewGroups[T float32 | float64](groups ...Group[T]) (*Optimizer[T], error) {
	return newGroups("NewGroups", groups...)
}

func newGroups[T float32 | float64](op string, groups ...Group[T]) (*Optimizer[T], error) {
	if len(groups) == 0 {
		return nil, &RuleError{Group: -1, Rule: "", Reason: op + ": no parameter groups"}
	}
	o := new(Optimizer[T])
	if err := o.addGroups(op, groups); err != nil {
		return nil, err
	}
	return o, nil
}

// AddGroup adds a parameter group, as torch's add_param_group. Its
// parameters' step counts start at 0, so their first step is step 1, with
// fresh bias corrections, exactly as a new optimizer's would, whatever the
// other groups' counts. Everything is validated before anything changes.
func (o *Optimizer[T]) AddGroup(g Group[T]) error {
	return o.addGroups("AddGroup", []Group[T]{g})
}

func (o *Optimizer[T]) addGroups(op string, groups []Group[T]) error {
	if o.copies != nil {
		return &RuleError{Group: len(o.groups), Rule: "", Reason: op + ": the optimizer writes 16-bit copies of its parameters (SetCopies): call SetCopies() to stop, add the group, then SetCopies with every copy"}
	}
	rules := make([]Rule, len(groups))
	total := len(o.params)
	for gi, g := range groups {
		r, err := normalizeFor[T](g.Rule)
		if err != nil {
			return inGroup(err, len(o.groups)+gi)
		}
		if len(g.Params) == 0 {
			return &RuleError{Group: len(o.groups) + gi, Rule: ruleName(r), Reason: op + ": empty parameter list"}
		}
		rules[gi] = r
		total += len(g.Params)
	}
	names, err := checkNames(op, &o.names, len(o.params), len(o.groups), groups)
	if err != nil {
		return err
	}
	var params [][]T
	for _, g := range groups {
		params = append(params, g.Params...)
	}
	// The new params must not overlap each other, anything we write or
	// our gradient buffers.
	name := o.names.pending(names)
	gparams, gshapes := make([][][]T, len(groups)), make([][]Shape, len(groups))
	for gi, g := range groups {
		gparams[gi], gshapes[gi] = g.Params, g.Shapes
	}
	shapes, err := checkShapes(op, len(o.params), len(o.groups), rules, gparams, gshapes)
	if err != nil {
		return named(err, name)
	}
	owned, err := insertParams(op, o.owned, o.grads.regions, len(o.params), params, name)
	if err != nil {
		return err
	}

	// Nothing fails from here on.
	o.owner = o
	first := len(o.params)
	o.params = append(o.params, params...)
	o.state = append(o.state, make([][3][]T, len(params))...)
	o.stepBook.grow(len(params))
	o.clear = append(o.clear, make([]uintptr, len(params))...)
	o.owned = owned
	o.addShapes(first, len(params), shapes)
	o.grads.grow(len(params))
	o.names.add(names)
	clear(o.clear[:first]) // new spans: earlier grads must be checked again
	for _, p := range params {
		o.total += len(p)
	}
	firstGroup := len(o.groups)
	for gi, g := range groups {
		end := first + len(g.Params)
		k := kernels.Kernel[T](Kernels(), rules[gi].kind())
		if isMatrix(rules[gi]) {
			k = nil // stepped whole, by stepMatrices
		}
		o.addGroup(rules[gi], first, end)
		for range g.Params {
			o.kernels = append(o.kernels, k)
		}
		first = end
	}
	o.allocState(firstGroup, len(o.groups), nil)
	o.allocMatrixState(firstGroup, len(o.groups))
	o.growMatWork()
	return nil
}

// normalize validates r as a rule for T (groupOwner).
func (o *Optimizer[T]) normalize(r Rule) (Rule, error) { return normalizeFor[T](r) }

// ruleChanged allocates what group gi's new rule needs (groupOwner): state
// slots it uses and the old rule did not, and the matrix rules' scratch
// (Muon's NSBFloat16 may have changed).
func (o *Optimizer[T]) ruleChanged(gi int) {
	o.allocState(gi, gi+1, nil)
	o.growMatWork()
}

// inGroup records the group index in a validation error.
func inGroup(err error, g int) error {
	switch e := err.(type) {
	case *HyperparameterError:
		e.Group = g
	case *RuleError:
		e.Group = g
	}
	return err
}

// allocState allocates the state slices that the rules of groups
// [first, end) need and their parameters do not have yet, zero (Adagrad:
// InitialAccumulatorValue). A rule changed by SetGroupRule may need more
// slices than before (momentum turned on); existing ones are kept.
//
// All of them come from one array, slot by slot and parameter by parameter
// within a slot, so that a kernel stepping parameter after parameter
// streams each state slot through contiguous memory, as one big parameter
// would: with many small parameters (100 of 1,000 elements), separate
// allocations made the same step about 20% slower.
//
// keep, when not nil, asks for more: the slots of the rule's kind that
// its rule does not use but that exist elsewhere (a checkpoint, a State
// given to SetState) for parameter i.
func (o *Optimizer[T]) allocState(first, end int, keep func(i, k int) bool) {
	// each calls f with every slice needed and missing, in that order. It
	// runs twice, to size the array and the regions, then to carve them:
	// with many parameters, growing a list of what is needed cost more
	// than the state itself.
	each := func(f func(param, slot int, key string, init T)) {
		for k := range 3 {
			for gi := first; gi < end; gi++ {
				g := &o.groups[gi]
				if g.matrix {
					continue // allocMatrixState
				}
				_, v, _ := coefficients[T](g.rule, 1, true, generic.Scalars{})
				var used [3]bool
				used[0], used[1], used[2] = kernels.Uses(g.rule.kind(), v)
				if !used[k] && keep == nil {
					continue
				}
				init := initialState[T](g.rule)
				key := stateKey(g.rule.kind(), k)
				for i := g.first; i < g.end; i++ {
					if o.state[i][k] == nil && (used[k] || keep(i, k)) {
						f(i, k, key, init)
					}
				}
			}
		}
	}
	count, total := 0, 0
	each(func(i, _ int, _ string, _ T) {
		count++
		total += staggerGap[T](len(o.params[i])) + len(o.params[i])
	})
	if count == 0 {
		return
	}
	clear(o.clear) // new spans: every grad must be checked again
	backing := make([]T, total)
	spans := make([]span, 0, count) // in address order, as carved from backing
	each(func(i, k int, key string, init T) {
		n := len(o.params[i])
		backing = backing[staggerGap[T](n):]
		st := backing[:n:n]
		backing = backing[n:]
		if init != 0 {
			for j := range st {
				st[j] = init
			}
		}
		o.state[i][k] = st
		if n > 0 {
			spans = append(spans, region(st, Slot{Kind: "state", Index: i, Key: key}))
		}
	})
	// Regions of our own allocations never overlap anything.
	o.owned.merge(spans)
}

// dropState forgets slot k of parameter i, which its rule does not use:
// the optimizer no longer writes that memory, so it leaves the regions
// that the overlap checks guard.
func (o *Optimizer[T]) dropState(i, k int) {
	if st := o.state[i][k]; len(st) > 0 {
		o.owned.remove(base(st))
	}
	o.state[i][k] = nil
}

// staggerGap is the number of elements left before each state slice of a
// parameter of n elements. A kernel streams p, g and up to three state
// slices at once; if their addresses are a large power of two apart (Go
// places big allocations at such offsets, and slices of one backing array
// n elements apart), all streams map to the same cache sets and evict each
// other, which halved Adam's speed at 2^26 parameters. A gap of one page
// plus one cache line puts slot k at k*(4096+64) bytes (mod the page) from
// the page-aligned start of its allocation, so no two streams collide.
// Small parameters fit in cache and are not padded.
func staggerGap[T float32 | float64](n int) int {
	size := int(unsafe.Sizeof(T(0)))
	if n*size < 1<<16 {
		return 0
	}
	return (4096 + cacheLine) / size
}

// Step applies one update to every parameter that has a gradient, with
// grads[i] the gradient of the i-th parameter (groups in order, then
// parameters in order), matched by position only. A nil grads[i] means
// that parameter i has no gradient, as torch's grad None (a frozen
// parameter, or one the loss does not reach): it is skipped, with no
// update and no weight decay, its step count and state untouched, and no
// state created for it if it never had a gradient. (A zero gradient is
// not the same: weight decay and momentum still move the parameter.)
//
// With no arguments, Step steps on the optimizer's own gradient buffers
// (see Grad): those not set since ZeroGrad are nil gradients.
//
// Everything is validated before the first write: on error no parameter,
// state or step count has changed. Step allocates nothing.
func (o *Optimizer[T]) Step(grads ...[]T) error {
	grads = o.stepGrads(grads)
	if err := o.checkHeld("Step", grads); err != nil {
		return err
	}
	if err := o.checkGrads("Step", grads); err != nil {
		return err
	}
	if o.mats.any() {
		if err := o.stepMatrices(grads); err != nil {
			return err
		}
		if o.copies != nil {
			copyMatrices(o, grads)
		}
	}
	if n := o.parallelism(o.total - o.mats.elems); n > 1 {
		return o.applyParallel(grads, n)
	}
	o.apply(grads)
	return nil
}

// checkGrads validates a step's gradients: their number and lengths, that
// none overlaps memory the step writes or is the owned gradient buffer of
// another parameter, and that no step count overflows.
func (o *Optimizer[T]) checkGrads(op string, grads [][]T) error {
	return named(o.checkGradsByIndex(op, grads), o.Name)
}

func (o *Optimizer[T]) checkGradsByIndex(op string, grads [][]T) error {
	return checkGradSlices(op, grads, o.params, o.steps, o.owned, o.grads.regions, o.clear)
}

// checkGradSlices validates a step's gradients for params, whatever their
// storage: their number and lengths, that none overlaps owned (what the
// step writes) or a gradient buffer of buffers other than its own
// parameter's, and that no step count overflows. clear, when not nil,
// caches the grads found clear.
func checkGradSlices[E, P element](op string, grads [][]E, params [][]P, steps []int64, owned, buffers regions, clear []uintptr) error {
	if len(grads) != len(params) {
		return &ShapeError{Op: op, What: "gradients", Index: -1, Got: len(grads), Want: len(params)}
	}
	for i, g := range grads {
		if g == nil {
			continue // no gradient: the parameter is skipped
		}
		if len(g) != len(params[i]) {
			return &ShapeError{Op: op, What: "grad", Index: i, Got: len(g), Want: len(params[i])}
		}
		// A training loop passes the same gradient buffers every step:
		// a grad already found clear of everything the optimizer writes is
		// not searched again (the cache is cleared when that set changes).
		if b := base(g); clear == nil || b != clear[i] {
			if s, ok := owned.overlapping(b, byteLen(g)); ok {
				return &OverlapError{Op: op, A: Slot{Kind: "grad", Index: i}, B: s}
			}
			// An owned buffer knows its parameter: at another one's
			// position, gradients were swapped.
			if s, ok := buffers.overlapping(b, byteLen(g)); ok && s.Index != i {
				return &OverlapError{Op: op, A: Slot{Kind: "grad", Index: i}, B: s}
			}
			if clear != nil {
				clear[i] = b
			}
		}
		if steps[i] == math.MaxInt64 {
			return stepCountErr(op, i, steps[i])
		}
	}
	return nil
}

// apply runs one step over validated gradients on the caller.
func (o *Optimizer[T]) apply(grads [][]T) {
	o.prepareStep(grads)
	if o.copies != nil {
		applyCopies(o, grads, nil)
		return
	}
	for i, p := range o.params {
		if len(p) == 0 || grads[i] == nil || o.kernels[i] == nil {
			continue // a matrix rule's parameter was stepped by stepMatrices
		}
		k, s := o.which[i], &o.state[i]
		o.kernels[i](o.variants[k], &o.coeffs[k], p, grads[i], s[0], s[1], s[2])
	}
}

// prepareStep advances the step count and scalar state of every parameter
// with a gradient (grads[i] not nil) and computes the step's scalars: those
// of parameter i are coeffs[which[i]] and variants[which[i]]. Parameters almost always share their step count,
// the existence of their state and their scalar state, and groups often
// share their rule, so the scalars (tens of nanoseconds, mostly Adam's
// powers β^t) are computed once for a run of parameters with the same
// rule, step, existence and scalar state, across groups. It also records
// that the state exists from this step on. Empty parameters take part, as
// in torch, whose state they have too; the kernels skip them.
func (o *Optimizer[T]) prepareStep(grads [][]T) {
	prepareStep(&o.groupSet, &o.stepBook, grads, func(i int) bool { return o.state[i][0] != nil })
}

// prepareStep is Optimizer.prepareStep for any storage: the parameters
// that grads[i] (nil or not) steps, in the groups of gs, with their counts
// and scalars in b; created(i) reports whether parameter i has the state
// whose existence created records (the first slot, allocated when its rule
// uses state).
func prepareStep[T float32 | float64, E any](gs *groupSet, b *stepBook[T], grads [][]E, hasState func(i int) bool) {
	var (
		have  bool
		cg    = -1 // the group whose rule the scalars are of
		step  int64
		first bool
		in    generic.Scalars // the scalar state coeffs[k] was computed from
	)
	k := -1
	gs.compareRules()
	for gi := range gs.groups {
		g := &gs.groups[gi]
		if g.matrix {
			continue // stepMatrices counts their steps
		}
		for i := g.first; i < g.end; i++ {
			if grads[i] == nil {
				continue
			}
			t := b.steps[i] + 1
			b.steps[i] = t
			sc := b.scalars[i]
			if !b.created[i] {
				sc = generic.Scalars{} // coefficients starts from the initial scalars
			}
			// The scalars are those of group cg's rule; they serve group gi
			// when it is cg or follows cg with an equal rule.
			if cg != gi && !(cg == gi-1 && gs.sameRule[gi]) {
				have = false
			}
			cg = gi
			if !have || t != step || b.created[i] == first || sc != in {
				step, first, in, have = t, !b.created[i], sc, true
				k++
				b.coeffs[k], b.variants[k], b.next[k] = coefficients[T](g.rule, step, first, sc)
			}
			b.which[i] = k
			b.scalars[i] = b.next[k]
			if hasState(i) {
				b.created[i] = true
			}
		}
	}
}

// Steps returns the largest step count of any parameter. When every
// parameter started together (one New or NewGroups, no AddGroup later) it
// is the number of steps taken, even if some parameters (a frozen one,
// whose gradient is nil) took fewer; a group added by AddGroup and a
// parameter skipped at some steps count their own steps, which
// State(i).Step reports per parameter.
func (o *stepBook[T]) Steps() int64 {
	var most int64
	for _, s := range o.steps {
		most = max(most, s)
	}
	return most
}

// SetSteps sets the step count of every parameter, for restoring a
// checkpoint taken when all parameters had the same count: bias
// corrections and Adagrad's decayed rate depend on it. SetState restores
// one parameter's count and state.
func (o *stepBook[T]) SetSteps(n int64) error {
	if n < 0 || n == math.MaxInt64 {
		return stepCountErr("SetSteps", -1, n)
	}
	for i := range o.steps {
		o.steps[i] = n
	}
	return nil
}

// LR returns group 0's learning rate (NaN when there is no group).
func (o *groupSet) LR() float64 { return o.GroupLR(0) }

// SetLR sets the learning rate of every group for the following steps, as
// a learning rate scheduler does; the state is kept. It is validated for
// every group before any changes.
func (o *groupSet) SetLR(lr float64) error {
	rules := make([]Rule, len(o.groups))
	for gi := range o.groups {
		r, err := o.checkRule(gi, o.groups[gi].rule.withLR(lr))
		if err != nil {
			return err
		}
		rules[gi] = r
	}
	for gi, r := range rules {
		o.setRule(gi, r)
		o.unhold(gi, true, false)
	}
	return nil
}

// Rule returns a copy of group 0's rule, with its current learning rate
// (nil when there is no group).
func (o *groupSet) Rule() Rule { return o.GroupRule(0) }

// Len returns the number of parameter slices, across all groups.
func (o *Optimizer[T]) Len() int { return len(o.params) }
