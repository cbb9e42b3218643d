package optim

import (
	"fmt"
	"math"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// State is one parameter's optimizer state, named as in torch's state dict.
// Fields the rule does not keep are nil (zero for the scalars). The slices
// alias the optimizer's own memory: copying out of them saves a checkpoint.
// SetState restores one.
//
// As in torch, a parameter has no state until its first step with a
// gradient creates it (torch's state[p] is empty): until then every slice
// is nil, the scalars are zero and Step is 0. A parameter whose gradient
// is always nil (a frozen one) never has any. For most rules the state
// the first step creates is zero (Adagrad's: InitialAccumulatorValue),
// but for some the first step differs: SGD's MomentumBuffer (created from
// the gradient by the first step with a momentum), and the whole state of
// Rprop (whose first step starts from step sizes LR), NAdam and ASGD
// (whose scalars start at mu_product 1, and eta = LR, mu 1). For the
// rules whose first step does not differ, a step count set without a step
// (SetSteps) makes the zero state exist, as torch's would with that step.
type State[T float32 | float64] struct {
	Step           int64 // steps this parameter has taken (torch's state['step'])
	MomentumBuffer []T   // SGD and RMSProp with momentum; Muon
	Sum            []T   // Adagrad
	SquareAvg      []T   // RMSProp, Adadelta
	GradAvg        []T   // centered RMSProp
	ExpAvg         []T   // Adam, NAdam, RAdam, Adamax, Lion
	ExpAvgSq       []T   // Adam, NAdam, RAdam
	MaxExpAvgSq    []T   // Adam with AMSGrad
	ExpInf         []T   // Adamax
	AccDelta       []T   // Adadelta
	Prev           []T   // Rprop: the previous (masked) gradient
	StepSize       []T   // Rprop
	AX             []T   // ASGD: the averaged parameters
	// Adafactor's factored second moment of a parameter of shape
	// ... × rows × cols, one value per row (batch·rows values) and one per
	// column (batch·cols), in the order of the parameter's matrices.
	RowVar, ColVar []T
	Variance       []T // Adafactor's second moment of a flat parameter

	// The scalar state, float32 whatever T is, as torch keeps it (0-dim
	// float32 tensors).
	MuProduct float32 // NAdam: the product of the momentum coefficients μ_1...μ_t
	Eta       float32 // ASGD: the next step's learning rate
	Mu        float32 // ASGD: the next step's averaging weight
}

// fields returns pointers to the slice fields of st that kind keeps, in the
// kernel's state order s0, s1, s2 (nil for a slot the kind does not have),
// found by the slots' torch keys in the rule's description.
func (st *State[T]) fields(kind kernels.Kind) [3]*[]T {
	var out [3]*[]T
	for k, key := range kernels.StateKeys(kind) {
		if key != "" {
			out[k] = st.field(key)
		}
	}
	return out
}

// field maps a torch state-dict key to its State field: the one place where
// the Go names meet torch's.
func (st *State[T]) field(key string) *[]T {
	switch key {
	case "momentum_buffer":
		return &st.MomentumBuffer
	case "sum":
		return &st.Sum
	case "square_avg":
		return &st.SquareAvg
	case "grad_avg":
		return &st.GradAvg
	case "exp_avg":
		return &st.ExpAvg
	case "exp_avg_sq":
		return &st.ExpAvgSq
	case "max_exp_avg_sq":
		return &st.MaxExpAvgSq
	case "exp_inf":
		return &st.ExpInf
	case "acc_delta":
		return &st.AccDelta
	case "prev":
		return &st.Prev
	case "step_size":
		return &st.StepSize
	case "ax":
		return &st.AX
	case "row_var":
		return &st.RowVar
	case "col_var":
		return &st.ColVar
	case "variance":
		return &st.Variance
	}
	panic("optim: State has no field for the state key " + key)
}

// scalar maps a torch state-dict key of a scalar state (RuleDesc.ScalarKeys)
// to its State field, as field does for the slices.
func (st *State[T]) scalar(key string) *float32 {
	switch key {
	case "mu_product":
		return &st.MuProduct
	case "eta":
		return &st.Eta
	case "mu":
		return &st.Mu
	}
	panic("optim: State has no field for the scalar state key " + key)
}

// stateKey is the torch state-dict key of a kind's state slot.
func stateKey(kind kernels.Kind, slot int) string { return kernels.StateKeys(kind)[slot] }

// hasState reports whether parameter i, whose rule is of kind, has state
// in torch's sense (its state[p] is not empty): since its first step with
// a gradient, or a SetState or Load that gave it state. For the rules whose
// first step does not differ (lazyState false), whose state starts at what
// the optimizer allocated, a positive step count (SetSteps) is enough: the
// step count is part of torch's state.
func (o *stepBook[T]) hasState(i int, kind kernels.Kind) bool {
	return o.created[i] || !lazyState(kind) && o.steps[i] > 0
}

// State returns the state of the i-th parameter (across all groups); see
// State.
func (o *Optimizer[T]) State(i int) (State[T], error) {
	if i < 0 || i >= len(o.params) {
		return State[T]{}, &IndexError{Op: "State", What: "param", Index: i, Len: len(o.params)}
	}
	if g := &o.groups[o.groupOf(i)]; g.matrix {
		return o.matrixState(i, g.rule.(matrixRule)), nil
	}
	kind := o.groups[o.groupOf(i)].rule.kind()
	st := State[T]{Step: o.steps[i]}
	exists := o.hasState(i, kind)
	for k, f := range st.fields(kind) {
		if f != nil && exists {
			*f = o.state[i][k]
		}
	}
	if exists {
		for j, key := range scalarKeys[kind] {
			*st.scalar(key) = o.scalars[i][j]
		}
	}
	return st, nil
}

// SetState restores the i-th parameter's state from st, as torch's
// load_state_dict does for one parameter: it copies every slice the rule
// keeps into the optimizer's memory and sets the step count and the
// scalar state. Every slice the rule uses must be given, with the
// parameter's length, or none of them: all of them nil means that the
// state does not exist (see State), as for a parameter that has not had
// a gradient yet, and the next step with one creates it as torch's first
// step does (zero, SGD's buffer from the gradient, Rprop's step sizes from
// LR, NAdam's and ASGD's scalars from their initial values); all of them
// given means that it exists, and the next step continues from it,
// whatever st.Step is.
//
// A slice of the rule's kind that its current options do not use (SGD's
// MomentumBuffer with Momentum 0, Adam's MaxExpAvgSq without AMSGrad,
// RMSProp's GradAvg when not centered) is kept when given, as torch keeps
// such a tensor in its state, and used again if the option comes back;
// nil drops it. State returns it, and Save and Load carry it. The scalars
// must be finite. Nothing changes on error.
func (o *Optimizer[T]) SetState(i int, st State[T]) error {
	return named(o.setState(i, st), o.Name)
}

func (o *Optimizer[T]) setState(i int, st State[T]) error {
	const op = "SetState"
	if i < 0 || i >= len(o.params) {
		return &IndexError{Op: op, What: "param", Index: i, Len: len(o.params)}
	}
	gi := o.groupOf(i)
	if mr, ok := o.groups[gi].rule.(matrixRule); ok {
		return o.setMatrixState(i, mr, st)
	}
	kind := o.groups[gi].rule.kind()
	used := usedSlots[T](o.groups[gi].rule)
	src, g, err := checkGivenState(op, i, kind, used, len(o.params[i]), st)
	if err != nil {
		return err
	}
	if g.kept != [3]bool{} {
		o.allocState(gi, gi+1, func(p, k int) bool { return p == i && g.kept[k] })
	}
	init := initialState[T](o.groups[gi].rule)
	for k, f := range src {
		dst := o.state[i][k]
		switch {
		case f == nil || dst == nil:
		case !used[k] && !g.kept[k]:
			o.dropState(i, k)
		case used[k] && !g.exists:
			// As in a new optimizer.
			for j := range dst {
				dst[j] = init
			}
		default:
			copy(dst, *f)
		}
	}
	o.record(i, g, kind, used, st.Step)
	return nil
}

// givenState is what SetState found in a State for one parameter, besides
// its slices: whether the state exists (every slot the rule uses given),
// whether any slot the rule uses was given or absent at all (not when it
// uses none), which slots it does not use were given to be kept, and the
// scalars.
type givenState struct {
	exists, decided bool
	kept            [3]bool
	scalars         generic.Scalars
}

// checkGivenState validates st as SetState's state for parameter i, of n
// elements, whose rule keeps the slots of kind and uses those of used
// (see Optimizer.SetState), and returns st's slices in the kernel's slot
// order and what they say. It changes nothing.
func checkGivenState[T float32 | float64](op string, i int, kind kernels.Kind, used [3]bool, n int, st State[T]) ([3]*[]T, givenState, error) {
	var g givenState
	if st.Step < 0 || st.Step == math.MaxInt64 {
		return [3]*[]T{}, g, stepCountErr(op, i, st.Step)
	}
	src := st.fields(kind)
	// Nil slices (all of them) say that the state does not exist.
	given, absent, keyGiven, keyAbsent := 0, 0, "", ""
	for k, f := range src {
		switch {
		case f == nil:
		case !used[k]:
			g.kept[k] = *f != nil
		case *f == nil:
			absent, keyAbsent = absent+1, stateKey(kind, k)
		default:
			given, keyGiven = given+1, stateKey(kind, k)
		}
	}
	if given > 0 && absent > 0 {
		return src, g, &StateError{Op: op, Param: i, Key: keyAbsent, Reason: fmt.Sprintf(
			"%s is nil but %s is given: the state must be given whole, or all nil for a state the first step has not created yet", keyAbsent, keyGiven)}
	}
	g.exists, g.decided = absent == 0, given+absent > 0
	for k, f := range src {
		if f == nil || (used[k] && !g.exists) || (!used[k] && !g.kept[k]) {
			continue
		}
		if len(*f) != n {
			return src, g, &ShapeError{Op: op, What: stateKey(kind, k), Index: i, Got: len(*f), Want: n}
		}
	}
	if g.exists {
		for j, key := range scalarKeys[kind] {
			v := *st.scalar(key)
			if math.IsInf(float64(v), 0) || math.IsNaN(float64(v)) {
				return src, g, &StateError{Op: op, Param: i, Key: key, Reason: fmt.Sprintf("%s = %v, want a finite value", key, v)}
			}
			g.scalars[j] = v
		}
	}
	return src, g, nil
}

// record sets parameter i's step count, scalars and whether its state
// exists, as SetState was given them (g, from checkGivenState).
func (b *stepBook[T]) record(i int, g givenState, kind kernels.Kind, used [3]bool, step int64) {
	switch {
	case g.decided:
		b.created[i] = g.exists
	case lazyState(kind) && used == [3]bool{}:
		// No slot in use (SGD without momentum): the state exists if a
		// kept slot does.
		b.created[i] = g.kept != [3]bool{}
	}
	b.scalars[i] = g.scalars
	b.steps[i] = step
}
