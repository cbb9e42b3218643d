// Package optim applies torch.optim's update rules (SGD with momentum and
// Nesterov, Adagrad, RMSProp, Adam and AdamW) to float32 and float64
// parameter slices with fused SIMD kernels, once per training step.
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
package optim

import (
	"fmt"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/kernels"
)

// Optimizer updates a fixed list of parameter slices in place, keeping the
// rule's state for each. It is not safe for concurrent use.
type Optimizer[T float32 | float64] struct {
	rule   Rule
	kernel generic.Kernel[T]
	params [][]T
	state  [][3][]T // per parameter: the kernel's s0, s1, s2 (nil if unused)
	byAddr []int    // indices of non-empty params, sorted by address
	steps  int64
	// coeffs holds the current step's scalars. It is a field rather than a
	// local because its address goes to the kernel, an indirect call, which
	// would move a local to the heap on every Step.
	coeffs generic.Coeffs[T]
}

// State is one parameter's optimizer state, named as in torch's state dict.
// Fields the rule does not keep are nil. The slices alias the optimizer's own
// memory: copying out of them saves a checkpoint and copying into them (with
// SetSteps) restores one. The SGD momentum buffer is zero until the first step.
type State[T float32 | float64] struct {
	MomentumBuffer []T // SGD and RMSProp with momentum
	Sum            []T // Adagrad
	SquareAvg      []T // RMSProp
	GradAvg        []T // centered RMSProp
	ExpAvg         []T // Adam
	ExpAvgSq       []T // Adam
	MaxExpAvgSq    []T // Adam with AMSGrad
}

// New returns an optimizer that applies rule to params. The slices are
// updated in place by Step and must not overlap each other. Their state is
// allocated here, zero (Adagrad: InitialAccumulatorValue), as torch does.
func New[T float32 | float64](rule Rule, params ...[]T) (*Optimizer[T], error) {
	r, err := normalize(rule)
	if err != nil {
		return nil, err
	}
	if len(params) == 0 {
		return nil, fmt.Errorf("optim: New: empty parameter list")
	}
	o := &Optimizer[T]{
		rule:   r,
		kernel: kernels.Kernel[T](Kernels(), r.kind()),
		params: append([][]T(nil), params...),
		state:  make([][3][]T, len(params)),
	}
	for i, p := range params {
		if len(p) > 0 {
			o.byAddr = append(o.byAddr, i)
		}
	}
	sortByAddress(o.byAddr, o.params)
	for k := 1; k < len(o.byAddr); k++ {
		a, b := o.byAddr[k-1], o.byAddr[k]
		if kernels.Overlap(o.params[a], o.params[b]) {
			a, b = min(a, b), max(a, b)
			return nil, fmt.Errorf("optim: New: param %d and param %d overlap in memory", a, b)
		}
	}
	_, v := coefficients[T](r, 1)
	for i, p := range params {
		o.state[i] = newState[T](r, v, len(p))
	}
	return o, nil
}

// newState allocates the state slices one parameter of length n needs under
// rule r, all from one backing array.
func newState[T float32 | float64](r Rule, v generic.Variant, n int) [3][]T {
	// Every step's variant uses the same state slices as step 1's.
	used := [3]bool{}
	used[0], used[1], used[2] = kernels.Uses(r.kind(), v)
	count := 0
	for _, u := range used {
		if u {
			count++
		}
	}
	backing := make([]T, count*n)
	if a, ok := r.(Adagrad); ok {
		for i := range backing {
			backing[i] = T(a.InitialAccumulatorValue)
		}
	}
	var s [3][]T
	for k, u := range used {
		if u {
			s[k], backing = backing[:n:n], backing[n:]
		}
	}
	return s
}

// Step applies one update to every parameter, with grads[i] the gradient of
// params[i]. Everything is validated before the first write: on error no
// parameter or state has changed. Step allocates nothing.
func (o *Optimizer[T]) Step(grads ...[]T) error {
	if len(grads) != len(o.params) {
		return fmt.Errorf("optim: Step: got %d gradients for %d params", len(grads), len(o.params))
	}
	for i, g := range grads {
		if len(g) != len(o.params[i]) {
			return fmt.Errorf("optim: Step: grad %d has length %d, param %d has length %d", i, len(g), i, len(o.params[i]))
		}
		if j := o.overlappingParam(g); j >= 0 {
			return fmt.Errorf("optim: Step: grad %d overlaps param %d in memory", i, j)
		}
	}
	o.steps++
	c, v := coefficients[T](o.rule, o.steps)
	o.coeffs = c
	for i, p := range o.params {
		if len(p) == 0 {
			continue
		}
		s := &o.state[i]
		o.kernel(v, &o.coeffs, p, grads[i], s[0], s[1], s[2])
	}
	return nil
}

// overlappingParam returns the index of a param that shares memory with g,
// or -1, by binary search over the params sorted by address (they are
// disjoint, so at most the last one starting before g's end can overlap).
func (o *Optimizer[T]) overlappingParam(g []T) int {
	if len(g) == 0 {
		return -1
	}
	lo, hi := 0, len(o.byAddr)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if !startsBefore(o.params[o.byAddr[mid]], g) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	// byAddr[lo-1] is the last param whose start is below g's end.
	if lo > 0 && kernels.Overlap(o.params[o.byAddr[lo-1]], g) {
		return o.byAddr[lo-1]
	}
	return -1
}

// Steps returns the number of steps taken.
func (o *Optimizer[T]) Steps() int64 { return o.steps }

// SetSteps sets the step count, for restoring a checkpoint: bias
// corrections, Adagrad's decayed rate and SGD's first-step buffer
// initialization depend on it.
func (o *Optimizer[T]) SetSteps(n int64) error {
	if n < 0 {
		return fmt.Errorf("optim: SetSteps: n = %d, want >= 0", n)
	}
	o.steps = n
	return nil
}

// LR returns the current learning rate.
func (o *Optimizer[T]) LR() float64 { return o.rule.lr() }

// SetLR changes the learning rate for the following steps, as a learning
// rate scheduler does; the state is kept.
func (o *Optimizer[T]) SetLR(lr float64) error {
	r := o.rule.withLR(lr)
	if err := r.validate(); err != nil {
		return err
	}
	o.rule = r
	return nil
}

// Rule returns a copy of the rule in use, with the current learning rate.
func (o *Optimizer[T]) Rule() Rule { return o.rule }

// Len returns the number of parameter slices.
func (o *Optimizer[T]) Len() int { return len(o.params) }

// State returns the state of params[i]; see State.
func (o *Optimizer[T]) State(i int) (State[T], error) {
	if i < 0 || i >= len(o.params) {
		return State[T]{}, fmt.Errorf("optim: State: index %d out of range [0, %d)", i, len(o.params))
	}
	s := o.state[i]
	switch o.rule.(type) {
	case SGD:
		return State[T]{MomentumBuffer: s[0]}, nil
	case Adagrad:
		return State[T]{Sum: s[0]}, nil
	case RMSProp:
		return State[T]{SquareAvg: s[0], GradAvg: s[1], MomentumBuffer: s[2]}, nil
	default:
		return State[T]{ExpAvg: s[0], ExpAvgSq: s[1], MaxExpAvgSq: s[2]}, nil
	}
}
