package optim

import (
	"github.com/simdoptim/optim/kernels"
)

// State is one parameter's optimizer state, named as in torch's state dict.
// Fields the rule does not keep are nil. The slices alias the optimizer's own
// memory: copying out of them saves a checkpoint. SetState restores one.
//
// As in torch, SGD's MomentumBuffer does not exist (is nil) until the first
// step with a momentum has created it from the gradient.
type State[T float32 | float64] struct {
	Step           int64 // steps this parameter has taken (torch's state['step'])
	MomentumBuffer []T   // SGD and RMSProp with momentum
	Sum            []T   // Adagrad
	SquareAvg      []T   // RMSProp
	GradAvg        []T   // centered RMSProp
	ExpAvg         []T   // Adam
	ExpAvgSq       []T   // Adam
	MaxExpAvgSq    []T   // Adam with AMSGrad
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
	}
	panic("optim: State has no field for the state key " + key)
}

// stateKey is the torch state-dict key of a kind's state slot.
func stateKey(kind kernels.Kind, slot int) string { return kernels.StateKeys(kind)[slot] }

// groupOf returns the index of the group that holds parameter i.
func (o *Optimizer[T]) groupOf(i int) int {
	for gi := range o.groups {
		if i < o.groups[gi].end {
			return gi
		}
	}
	return -1
}

// State returns the state of the i-th parameter (across all groups); see
// State.
func (o *Optimizer[T]) State(i int) (State[T], error) {
	if i < 0 || i >= len(o.params) {
		return State[T]{}, &IndexError{Op: "State", What: "param", Index: i, Len: len(o.params)}
	}
	kind := o.groups[o.groupOf(i)].rule.kind()
	st := State[T]{Step: o.steps[i]}
	for k, f := range st.fields(kind) {
		if f == nil {
			continue
		}
		s := o.state[i][k]
		if kind == kernels.KindSGD && !o.hasBuf[i] {
			s = nil
		}
		*f = s
	}
	return st, nil
}

// SetState restores the i-th parameter's state from st, as torch's
// load_state_dict does for one parameter: it copies every slice the rule
// keeps into the optimizer's memory and sets the step count. A nil SGD
// MomentumBuffer means the buffer does not exist yet (the next step
// creates it from the gradient); every other slice the rule keeps must be
// given, with the parameter's length. Nothing changes on error.
func (o *Optimizer[T]) SetState(i int, st State[T]) error {
	const op = "SetState"
	if i < 0 || i >= len(o.params) {
		return &IndexError{Op: op, What: "param", Index: i, Len: len(o.params)}
	}
	if st.Step < 0 {
		return &StepCountError{Op: op, Param: i, Steps: st.Step}
	}
	kind := o.groups[o.groupOf(i)].rule.kind()
	n := len(o.params[i])
	src := st.fields(kind)
	for k, f := range src {
		dst := o.state[i][k]
		if f == nil || dst == nil {
			continue
		}
		given := *f
		if kind == kernels.KindSGD && given == nil {
			continue
		}
		if len(given) != n {
			return &ShapeError{Op: op, What: stateKey(kind, k), Index: i, Got: len(given), Want: n}
		}
	}
	for k, f := range src {
		dst := o.state[i][k]
		if f == nil || dst == nil {
			continue
		}
		if kind == kernels.KindSGD {
			o.hasBuf[i] = *f != nil
			if *f == nil {
				clear(dst)
				continue
			}
		}
		copy(dst, *f)
	}
	o.steps[i] = st.Step
	return nil
}
