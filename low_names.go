package optim

import "encoding/json"

// A LowOptimizer's parameter names and owned gradient buffers: those of
// Optimizer (grads.go), with buffers of the parameters' format.

// Name returns parameter i's name, "" when the parameters are not named
// (LowGroup.Names) or i is out of range.
func (o *LowOptimizer[H]) Name(i int) string { return o.names.name(i) }

// Index returns the index of the parameter named name, across all groups.
func (o *LowOptimizer[H]) Index(name string) (int, bool) {
	i, ok := o.names.index[name]
	return i, ok
}

// Grad returns parameter i's gradient buffer, in the parameters' format,
// which the optimizer owns (torch's p.grad), as Optimizer.Grad: allocated
// at the first call and the same memory from then on, set from this call
// until ZeroGrad, zeroed before it is returned if it was not set. Step()
// with no arguments steps on it; steps do not change it, clipping and
// UnscaleLow with no gradients do.
func (o *LowOptimizer[H]) Grad(i int) ([]H, error) {
	if err := checkParam("Grad", i, len(o.params)); err != nil {
		return nil, err
	}
	return halves[H](o.grads.own(i, len(o.params[i]), o.clear)), nil
}

// GradOf returns the gradient buffer of the parameter named name, as Grad.
func (o *LowOptimizer[H]) GradOf(name string) ([]H, error) {
	i, err := o.names.lookup("GradOf", "LowGroup.Names", name)
	if err != nil {
		return nil, err
	}
	return halves[H](o.grads.own(i, len(o.params[i]), o.clear)), nil
}

// ZeroGrad is torch's zero_grad(set_to_none=True), as Optimizer.ZeroGrad:
// every gradient buffer becomes unset, so that Step() and the reductions
// skip its parameter until Grad or AccumulateGrad sets it again, zeroed
// first. Nothing is written or freed.
func (o *LowOptimizer[H]) ZeroGrad() { o.grads.zero() }

// AccumulateGrad adds s·g into parameter i's gradient buffer (zeroed first
// if it was not set), as torch's p.grad += s * g on tensors of the
// parameters' format: element by element, the product s·g[j] is computed
// in float32 and rounded to the format, then added to buf[j] in float32
// and the sum rounded to the format, both to nearest even (a NaN becomes
// the format's canonical NaN). The bits are the same on every kernel set
// and for any worker count: the optimizer's workers split a large
// gradient as they split a step. g must have the parameter's length and
// must not overlap the buffer, unless it is the buffer itself. Nothing
// changes on error.
func (o *LowOptimizer[H]) AccumulateGrad(i int, g []H, s float32) error {
	bits := u16s(g)
	if err := o.grads.checkAdd("AccumulateGrad", i, bits, o.params, &o.names); err != nil {
		return err
	}
	t := &o.gtask
	t.y, t.c = bits, s
	o.pass(lowAccumulate, o.grads.own(i, len(o.params[i]), o.clear))
	t.y = nil
	return nil
}

// stepGrads returns the gradients of a call given grads, as their bits:
// grads, or the owned buffers (nil where unset) when there are none.
func (o *LowOptimizer[H]) stepGrads(grads [][]H) [][]uint16 { return o.grads.or(asBits(grads)) }

// groupNames returns the names of group gi's parameters, nil when unnamed.
func (o *LowOptimizer[H]) groupNames(gi int) []string { return o.names.group(&o.groups[gi]) }

// namesBytes bounds the JSON of the parameters' names in param_groups.
func (o *LowOptimizer[H]) namesBytes() int { return o.names.bytes(len(o.groups)) }

// checkGroupNames checks the param_names of entry gi of a checkpoint's
// param_groups, raw, as Optimizer's.
func (o *LowOptimizer[H]) checkGroupNames(op string, gi int, raw json.RawMessage) error {
	return checkGroupNames(op, &o.groups[gi], gi, raw, o.groupNames(gi))
}
