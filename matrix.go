package optim

import (
	"fmt"
	"math"
	"reflect"
)

// The matrix rules (Muon, Adafactor) step each parameter whole: their
// products and norms span the parameter, so it is never split between
// workers. Step runs them before the elementwise rules: with several
// workers and several such parameters, each worker steps a run of whole
// parameters with its own scratch; otherwise the caller steps them one
// after the other, and Muon's products use up to Workers goroutines inside
// linalg.Gemm, which splits the rows or columns of each product. Each
// parameter is independent of the others and Gemm gives the same bits for
// every split, so no bit depends on the worker count. Their state lives in the
// optimizer's state slots, with the lengths the rule asks for (Adafactor's
// row and column factors are shorter than the parameter).

// matWork is the scratch of the matrix rules' steps, sized at
// construction for the largest parameter, so that Step allocates nothing.
type matWork[T float32 | float64] struct {
	ns   nsWork[T]       // Muon's iteration in T
	ns32 nsWork[float32] // Muon's bfloat16 iteration, accumulated in float32
	u    []T             // Muon's Nesterov update; Adafactor's chunk of the update
	cols []float64       // Adafactor's column sums of squares
	one  [1][]T          // the argument of generic.Norm, kept to not allocate
}

// matrixRun is an optimizer's matrix-rule parameters and what steps them,
// whatever their storage: W is a worker's scratch, G the gradients'
// element type. It is the pool's task of a parallel step.
type matrixRun[W any, G any] struct {
	params  []int // the matrix rules' parameters, in order
	elems   int   // their element count
	scratch []*W  // each worker's scratch; scratch[0] is the caller's
	bounds  []int // worker w steps params[bounds[w]:bounds[w+1]]; nil: not split
	grads   [][]G // this step's gradients, cleared after it
	owner   matrixOwner[W, G]
}

// matrixOwner is the optimizer around a matrixRun.
type matrixOwner[W any, G any] interface {
	// sizeMatWork makes w large enough for every matrix rule's parameter.
	sizeMatWork(w *W)
	// stepMatrix steps parameter i, whose step count is already this
	// step's, with its gradient g and the scratch w, its products on up
	// to gemmWorkers goroutines.
	stepMatrix(w *W, i int, g []G, gemmWorkers int)
	// ensurePool starts the workers that n need.
	ensurePool(n int)
}

// reset lists the matrix rules' parameters of gs (of n parameters in all,
// parameter i of size(i) elements), sizes every worker's scratch for
// them, and forgets their split between workers.
func (m *matrixRun[W, G]) reset(owner matrixOwner[W, G], gs *groupSet, n int, size func(i int) int) {
	m.owner = owner
	m.params, m.elems, m.bounds = m.params[:0], 0, nil
	for gi := range gs.groups {
		if g := &gs.groups[gi]; g.matrix {
			for i := g.first; i < g.end; i++ {
				m.params = append(m.params, i)
				m.elems += size(i)
			}
		}
	}
	if len(m.params) == 0 {
		return
	}
	if m.scratch == nil {
		m.scratch = []*W{new(W)}
	}
	for _, w := range m.scratch {
		owner.sizeMatWork(w)
	}
	m.grads = make([][]G, n)
}

// any reports whether the optimizer has matrix rules.
func (m *matrixRun[W, G]) any() bool { return len(m.params) > 0 }

// step steps every parameter of a matrix rule that has a gradient, and
// counts its step in steps and created (see the top of this file). The
// gradients are validated. With several workers and several such
// parameters, each worker steps whole parameters, a contiguous run of them
// of about equal size, with its own scratch and its products on its own
// goroutine; otherwise the caller steps them one after the other, the
// products split between the workers. Either way every parameter gets the
// same bits.
func (m *matrixRun[W, G]) step(ws *workerSet, grads [][]G, steps []int64, created []bool, size func(i int) int) error {
	for _, i := range m.params {
		if grads[i] != nil {
			steps[i]++
			created[i] = true
		}
	}
	n := min(ws.parallelism(m.elems), len(m.params))
	if n <= 1 {
		for _, i := range m.params {
			if grads[i] != nil {
				m.owner.stepMatrix(m.scratch[0], i, grads[i], ws.parallelism(m.elems))
			}
		}
		return nil
	}
	if len(m.bounds) != n+1 {
		for len(m.scratch) < n {
			w := new(W)
			m.owner.sizeMatWork(w)
			m.scratch = append(m.scratch, w)
		}
		m.bounds = splitRuns(m.params, size, m.elems, n)
	}
	m.owner.ensurePool(n)
	copy(m.grads, grads)
	// Each share is whole matrices, many elements' work: a large call,
	// which wakes parked workers rather than run their shares here.
	failed := ws.pool.do(m, n, wakeEarlyMin)
	clear(m.grads)
	if failed != nil {
		return fmt.Errorf("optim: Step: a worker panicked, so the step is incomplete: %v", failed)
	}
	return nil
}

func (m *matrixRun[W, G]) run(w int) {
	for _, i := range m.params[m.bounds[w]:m.bounds[w+1]] {
		if m.grads[i] != nil {
			m.owner.stepMatrix(m.scratch[w], i, m.grads[i], 1)
		}
	}
}

// splitRuns cuts the parameters listed in params, of size(i) elements each
// and total in all, into n contiguous runs of about equal element counts:
// run w is params[bounds[w]:bounds[w+1]].
func splitRuns(params []int, size func(i int) int, total, n int) (bounds []int) {
	bounds = make([]int, n+1)
	done, w := 0, 1
	for k, i := range params {
		done += size(i)
		for w < n && done >= total*w/n {
			bounds[w] = k + 1
			w++
		}
	}
	for ; w <= n; w++ {
		bounds[w] = len(params)
	}
	return bounds
}

// growMatWork lists the matrix rules' parameters and sizes the scratch for
// them (matrixRun.reset).
func (o *Optimizer[T]) growMatWork() {
	o.mats.reset(o, &o.groupSet, len(o.params), o.paramLen)
}

// paramLen is the length of parameter i.
func (o *Optimizer[T]) paramLen(i int) int { return len(o.params[i]) }

// sizeMatWork makes w large enough for every matrix rule's parameter
// (matrixOwner).
func (o *Optimizer[T]) sizeMatWork(w *matWork[T]) {
	for _, i := range o.mats.params {
		w.fit(o.groups[o.groupOf(i)].rule, o.paramShape(i), len(o.params[i]))
	}
}

// fit makes w large enough for a step of rule r on a parameter of shape s
// with n elements.
func (w *matWork[T]) fit(r Rule, s Shape, n int) {
	need := 0
	switch r := r.(type) {
	case Muon:
		m, n := min(s[0], s[1]), max(s[0], s[1])
		if r.NSBFloat16 {
			w.ns32.grow(m, n)
		} else {
			w.ns.grow(m, n)
		}
		if r.Nesterov {
			need = m * n
		}
	case Adafactor:
		need = adafactorChunk(s, n)
		if len(s) >= 2 && len(w.cols) < s[len(s)-1] {
			w.cols = make([]float64, s[len(s)-1])
		}
	}
	if len(w.u) < need {
		w.u = make([]T, need)
	}
}

// allocMatrixState allocates the state slots of the matrix rules of groups
// [first, end) that do not exist yet, zero, from one array.
func (o *Optimizer[T]) allocMatrixState(first, end int) {
	total := 0
	each := func(f func(i, k, n int, key string)) {
		for gi := first; gi < end; gi++ {
			g := &o.groups[gi]
			mr, ok := g.rule.(matrixRule)
			if !ok {
				continue
			}
			for i := g.first; i < g.end; i++ {
				lens, keys, _ := o.matrixSlots(i, mr)
				for k, n := range lens {
					if n > 0 && o.state[i][k] == nil {
						f(i, k, n, keys[k])
					}
				}
			}
		}
	}
	each(func(i, _, n int, _ string) { total += n })
	if total == 0 {
		return
	}
	clear(o.clear) // new spans: every grad must be checked again
	backing := make([]T, total)
	var spans []span
	each(func(i, k, n int, key string) {
		st := backing[:n:n]
		backing = backing[n:]
		o.state[i][k] = st
		spans = append(spans, region(st, Slot{Kind: "state", Index: i, Key: key}))
	})
	o.owned.merge(spans)
}

// stepMatrices steps every parameter of a matrix rule that has a gradient
// (matrixRun.step).
func (o *Optimizer[T]) stepMatrices(grads [][]T) error {
	return o.mats.step(&o.workerSet, grads, o.steps, o.created, o.paramLen)
}

// stepMatrix steps parameter i, of a matrix rule (matrixOwner).
func (o *Optimizer[T]) stepMatrix(w *matWork[T], i int, g []T, gemmWorkers int) {
	w.ns.gemm.Workers, w.ns32.gemm.Workers = gemmWorkers, gemmWorkers
	w.step(o.groups[o.groupOf(i)].rule, o.params[i], g, &o.state[i], o.paramShape(i), o.steps[i])
}

// step is step number step of the matrix rule r on the parameter p of shape
// s, with gradient g and state slots st.
func (w *matWork[T]) step(r Rule, p, g []T, st *[3][]T, s Shape, step int64) {
	switch r := r.(type) {
	case Muon:
		muonStep(w, &r, p, g, st[0], s[0], s[1])
	case Adafactor:
		adafactorStep(w, &r, p, g, st, s, step)
	}
}

// matrixSlots returns the state slots of parameter i of a matrix rule: their
// lengths, torch keys, and whether each has the parameter's shape.
func (o *Optimizer[T]) matrixSlots(i int, mr matrixRule) (lens [3]int, keys [3]string, full [3]bool) {
	return mr.stateSlots(o.paramShape(i), len(o.params[i]))
}

// matrixTorchForm is newTorchForm for a matrix rule, which has no kernel of
// its own to be named after, and whose keys may hold an int (ns_steps), a
// string (adjust_lr_fn) or three numbers (ns_coefficients).
func matrixTorchForm[R Rule](f torchForm) torchForm {
	f.typ = reflect.TypeFor[R]()
	held := 0
	for _, k := range f.keys {
		for _, name := range k.fields {
			if _, ok := f.typ.FieldByName(name); !ok {
				panic(fmt.Sprintf("optim: the torch form of %s names the missing field %s", f.typ.Name(), name))
			}
			held++
		}
	}
	if held != f.typ.NumField() {
		panic(fmt.Sprintf("optim: the torch form of %s holds %d of its %d fields", f.typ.Name(), held, f.typ.NumField()))
	}
	return f
}

// matrixState is State for parameter i of the matrix rule mr: its slots,
// once its state exists (its first step with a gradient, or a step count
// or state set).
func (o *Optimizer[T]) matrixState(i int, mr matrixRule) State[T] {
	st := State[T]{Step: o.steps[i]}
	if !o.created[i] && o.steps[i] == 0 {
		return st
	}
	lens, keys, _ := o.matrixSlots(i, mr)
	for k, n := range lens {
		if n > 0 {
			*st.field(keys[k]) = o.state[i][k]
		}
	}
	return st
}

// setMatrixState is SetState for parameter i of the matrix rule mr: the
// rule's slots given whole, with their lengths, or all nil (no state:
// zero, as a new optimizer's). A slice of another rule is an error.
func (o *Optimizer[T]) setMatrixState(i int, mr matrixRule, st State[T]) error {
	src, given, err := checkMatrixState(i, mr, o.paramShape(i), len(o.params[i]), st)
	if err != nil {
		return err
	}
	for k, f := range src {
		if f != nil {
			copy(o.state[i][k], f)
		} else {
			clear(o.state[i][k])
		}
	}
	o.created[i] = given
	o.steps[i] = st.Step
	return nil
}

// checkMatrixState validates st as SetState's state for parameter i, of
// shape s and n elements, under the matrix rule mr (see setMatrixState),
// and returns its slices in slot order (nil where the rule has no slot or
// none is given) and whether they are given. It changes nothing.
func checkMatrixState[T float32 | float64](i int, mr matrixRule, s Shape, n int, st State[T]) (src [3][]T, given bool, err error) {
	const op = "SetState"
	if st.Step < 0 || st.Step == math.MaxInt64 {
		return src, false, stepCountErr(op, i, st.Step)
	}
	lens, keys, _ := mr.stateSlots(s, n)
	mine := map[string]bool{}
	gave, absent := "", ""
	for k, n := range lens {
		if n == 0 {
			continue
		}
		mine[keys[k]] = true
		f := *st.field(keys[k])
		switch {
		case f == nil:
			absent = keys[k]
		case len(f) != n:
			return src, false, &ShapeError{Op: op, What: keys[k], Index: i, Got: len(f), Want: n}
		default:
			gave = keys[k]
			src[k] = f
		}
	}
	if gave != "" && absent != "" {
		return src, false, &StateError{Op: op, Param: i, Key: absent, Reason: fmt.Sprintf(
			"%s is nil but %s is given: the state must be given whole, or all nil for a state the first step has not created yet", absent, gave)}
	}
	for _, key := range stateKeyNames {
		if f := *st.field(key); f != nil && !mine[key] {
			return src, false, &StateError{Op: op, Param: i, Key: key, Reason: fmt.Sprintf(
				"%s is not a state of %s for this parameter's shape %v (its state is %s)", key, errorName(mr), s, slotList(lens, keys))}
		}
	}
	return src, gave != "", nil
}

// stateKeyNames are the torch keys of every State slice.
var stateKeyNames = []string{"momentum_buffer", "sum", "square_avg", "grad_avg", "exp_avg", "exp_avg_sq",
	"max_exp_avg_sq", "exp_inf", "acc_delta", "prev", "step_size", "ax", "row_var", "col_var", "variance"}

// slotList names the slots that lens uses, "row_var and col_var".
func slotList(lens [3]int, keys [3]string) string {
	out := ""
	for k, n := range lens {
		if n == 0 {
			continue
		}
		if out != "" {
			out += " and "
		}
		out += keys[k]
	}
	return out
}

func (Muon) layout() *tensorLayout { return &muonLayout }

func (Adafactor) layout() *tensorLayout { return &adafactorLayout }

// The tensors a checkpoint holds of a parameter of Muon (torch's state has
// no step) and of Adafactor (a factored parameter's row_var and col_var, or
// a flat one's variance, and step), as layouts[kind] for the elementwise
// rules.
var (
	muonLayout      = tensorLayout{keys: []string{"momentum_buffer"}, slots: 1}
	adafactorLayout = tensorLayout{keys: []string{"row_var", "col_var", "variance", "step"}, slots: 3, step: true,
		nonNegative: [3]bool{true, true, true}}
)

// The layout of state slot k of parameter i, for the checkpoints: its
// length, torch key and shape (checkpointed, slotsOf).
func (o *Optimizer[T]) slotLen(i, k int) int {
	return slotsOf(o.groups[o.groupOf(i)].rule, o.paramShape(i), len(o.params[i])).lens[k]
}
func (o *Optimizer[T]) slotKey(i, k int) string {
	return slotsOf(o.groups[o.groupOf(i)].rule, o.paramShape(i), len(o.params[i])).keys[k]
}
func (o *Optimizer[T]) slotShape(i, k int) Shape {
	return slotsOf(o.groups[o.groupOf(i)].rule, o.paramShape(i), len(o.params[i])).shape(k)
}
func (o *Optimizer[T]) tensorShape(i, k int) []int64 {
	return slotsOf(o.groups[o.groupOf(i)].rule, o.paramShape(i), len(o.params[i])).tensorShape(k)
}

// slotLayout is the layout of the state slots of a parameter under its
// rule: each slot's length and torch key, and the parameter's shape (nil
// for none).
type slotLayout struct {
	lens  [3]int
	keys  [3]string
	param Shape
}

// slotsOf is the slot layout of a parameter of shape s with n elements
// under rule r: a matrix rule's stateSlots, or for an elementwise rule
// slots of the parameter's length under its kind's keys.
func slotsOf(r Rule, s Shape, n int) slotLayout {
	if mr, ok := r.(matrixRule); ok {
		lens, keys, _ := mr.stateSlots(s, n)
		return slotLayout{lens: lens, keys: keys, param: s}
	}
	l := slotLayout{lens: [3]int{n, n, n}, param: s}
	for k := range l.keys {
		l.keys[k] = stateKey(r.kind(), k)
	}
	return l
}

// shape is torch's shape of slot k, nil when the parameter has no shape:
// the parameter's (zeros_like(p)), or for Adafactor's row_var and col_var
// the shape with the last, or the second-last, dimension 1.
func (l slotLayout) shape(k int) Shape {
	if k < 0 || l.param == nil {
		return nil
	}
	s := append(Shape(nil), l.param...)
	switch l.keys[k] {
	case "row_var":
		s[len(s)-1] = 1
	case "col_var":
		s[len(s)-2] = 1
	}
	return s
}

// tensorShape is the shape Save writes for slot k: shape, or flat.
func (l slotLayout) tensorShape(k int) []int64 {
	s := l.shape(k)
	if s == nil {
		return []int64{int64(l.lens[k])}
	}
	out := make([]int64, len(s))
	for j, d := range s {
		out[j] = int64(d)
	}
	return out
}

// shapeFits reports whether a state tensor's shape in a checkpoint is
// want, or flat (one dimension): files saved before parameters had shapes,
// and parameters given a shape since, hold flat state.
func shapeFits(got []int64, want Shape) bool {
	if len(got) == 1 {
		return true // the element count is checked against the slot's
	}
	if len(got) != len(want) {
		return false
	}
	for j, d := range want {
		if got[j] != int64(d) {
			return false
		}
	}
	return true
}
