package optim

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Optimizer-owned gradients and parameter names.
//
// As torch's p.grad, the optimizer can own one gradient buffer per
// parameter: Grad(i) (or GradOf(name)) returns it, the backward pass
// writes or adds into it, Step() with no arguments steps on the buffers,
// and ZeroGrad unsets them all, as torch's zero_grad(set_to_none=True).
// A buffer not set since the last ZeroGrad is torch's grad None: Step
// skips its parameter, and the reductions (GradNorm, ClipGradNorm,
// ClipGradValue, NonFinite, StepIfFinite, Unscale, ScaledStep) skip it too.
//
// Step(grads...) matches gradients to parameters by position only: two
// gradients of the same length passed in each other's place cannot be told
// apart by any check that costs less than the step (only an owned buffer
// is known for what it is, and one passed at another parameter's position
// is refused). Owned buffers reached by name (GradOf) rule the mistake out:
// each belongs to its parameter from its allocation on.

// gradBuffers are the optimizer's own gradient buffers, of its
// parameters' storage: T for Optimizer[T], the bits (uint16) for
// LowOptimizer.
type gradBuffers[T element] struct {
	// buf[i] is parameter i's buffer, nil until Grad or AccumulateGrad
	// first needs it; set[i] reports that it is set (asked for or added
	// into since the last ZeroGrad).
	buf [][]T
	set []bool
	// view is what Step() steps on: buf[i] where set, nil elsewhere; it is
	// kept up to date so that a step builds nothing.
	view [][]T
	// regions are the buffers' memory, for the check that a buffer passed
	// to Step(grads...) is at its own parameter's position. The optimizer
	// does not write the buffers in a step, so they are not among the
	// regions of owned, which params and state must not overlap.
	regions regions
	// present is scratch for the reductions: the gradients that are not
	// nil (torch's list of the grads that are not None).
	present [][]T
}

// grow makes room for n more parameters.
func (b *gradBuffers[T]) grow(n int) {
	b.buf = append(b.buf, make([][]T, n)...)
	b.set = append(b.set, make([]bool, n)...)
	b.view = append(b.view, make([][]T, n)...)
}

// paramNames are the parameters' names, torch's named_parameters.
type paramNames struct {
	names []string       // per parameter; nil when the groups have none
	index map[string]int // name -> parameter
}

// Names that cannot be used are a *NameError (average.go), which the
// optimizer shares with Averaged.

// namedGroup is a group whose parameters may be named: Group and
// LowGroup, for checkNames.
type namedGroup interface {
	// nameList returns the group's Names and its number of params.
	nameList() ([]string, int)
}

func (g Group[T]) nameList() ([]string, int)    { return g.Names, len(g.Params) }
func (g LowGroup[H]) nameList() ([]string, int) { return g.Names, len(g.Params) }

// checkNames validates the names of groups, to be added to an optimizer
// whose params (named n) number params, in groups groups: every group
// named or none (as torch requires of param_groups), one non-empty name of
// valid UTF-8 per param, no name given twice across the optimizer. It
// returns the new params' names (nil when unnamed).
func checkNames[G namedGroup](op string, n *paramNames, params, groups int, added []G) ([]string, error) {
	named := params > 0 && n.names != nil
	if params == 0 && len(added) > 0 {
		names, _ := added[0].nameList()
		named = names != nil
	}
	var (
		out   []string
		taken map[string]int // the new names, and the parameter of each
	)
	next := params
	for gi, g := range added {
		gi += groups
		names, count := g.nameList()
		switch {
		case named && names == nil:
			return nil, &NameError{Op: op, Group: gi, Reason: "the group has no Names, but the optimizer's parameters are named: name every group's parameters or none (as torch's param_names)"}
		case !named && names != nil:
			return nil, &NameError{Op: op, Group: gi, Reason: "the group has Names, but the optimizer's parameters are not named: name every group's parameters or none (as torch's param_names)"}
		case !named:
			next += count
			continue
		case len(names) != count:
			return nil, &NameError{Op: op, Group: gi, Reason: fmt.Sprintf("%d names for %d params: give one name per param", len(names), count)}
		}
		for k, name := range names {
			i := next + k
			switch {
			case name == "":
				return nil, &NameError{Op: op, Group: gi, Reason: fmt.Sprintf("Names[%d] (param %d) is empty", k, i)}
			case !utf8.ValidString(name):
				return nil, &NameError{Op: op, Group: gi, Name: name, Reason: fmt.Sprintf("Names[%d] (param %d) %q is not valid UTF-8", k, i, name)}
			}
			first, dup := n.index[name]
			if !dup {
				first, dup = taken[name]
			}
			if dup {
				return nil, &NameError{Op: op, Group: gi, Name: name, Reason: fmt.Sprintf("the name %q is given to param %d and param %d", name, first, i)}
			}
			if taken == nil {
				taken = map[string]int{}
			}
			taken[name] = i
			out = append(out, name)
		}
		next += count
	}
	return out, nil
}

// insertParams adds the regions of params, numbered from first, to a copy
// of owned, which it returns: they must not overlap each other, owned (the
// memory the optimizer writes) or buffers (its gradient buffers). name
// names the parameters in the errors.
func insertParams[T element](op string, owned, buffers regions, first int, params [][]T, name func(i int) string) (regions, error) {
	owned = owned.clone()
	for k, p := range params {
		i := first + k
		if err := owned.insert(op, region(p, Slot{Kind: "param", Index: i})); err != nil {
			return nil, named(err, name)
		}
		if s, ok := buffers.overlapping(base(p), byteLen(p)); ok {
			return nil, named(&OverlapError{Op: op, A: Slot{Kind: "param", Index: i}, B: s}, name)
		}
	}
	return owned, nil
}

// pending names the params of an optimizer whose params are named n,
// followed by params being added, named added (nil: unnamed).
func (n *paramNames) pending(added []string) func(i int) string {
	return func(i int) string {
		if i < len(n.names) || n.names == nil && added == nil {
			return n.name(i)
		}
		return added[i-len(n.names)]
	}
}

// addNames records the names of params being added (nil: unnamed), which
// checkNames has validated.
func (n *paramNames) add(names []string) {
	if names == nil {
		return
	}
	if n.index == nil {
		n.index = make(map[string]int, len(names))
	}
	for _, name := range names {
		n.index[name] = len(n.names)
		n.names = append(n.names, name)
	}
}

// name returns parameter i's name, "" when the parameters are not named
// or i is out of range.
func (n *paramNames) name(i int) string {
	if i < 0 || i >= len(n.names) {
		return ""
	}
	return n.names[i]
}

// lookup returns the index of the parameter named name, or op's
// *NameError; field names the groups' field of names in its message.
func (n *paramNames) lookup(op, field, name string) (int, error) {
	i, ok := n.index[name]
	if !ok {
		reason := fmt.Sprintf("no parameter is named %q", name)
		if n.names == nil {
			reason = fmt.Sprintf("no parameter is named %q: the optimizer's parameters have no names (%s)", name, field)
		}
		return 0, &NameError{Op: op, Group: -1, Name: name, Reason: reason}
	}
	return i, nil
}

// Name returns parameter i's name, "" when the parameters are not named
// (Group.Names) or i is out of range.
func (o *Optimizer[T]) Name(i int) string { return o.names.name(i) }

// Index returns the index of the parameter named name, across all groups.
func (o *Optimizer[T]) Index(name string) (int, bool) {
	i, ok := o.names.index[name]
	return i, ok
}

// named fills in the parameters' names in the errors that name a
// parameter by its index: *ShapeError, *StateError and the slots of an
// *OverlapError. name gives the name of parameter i.
func named(err error, name func(i int) string) error {
	slot := func(s *Slot) {
		if s.Index >= 0 && s.Name == "" {
			s.Name = name(s.Index)
		}
	}
	switch e := err.(type) {
	case *ShapeError:
		if e.Index >= 0 && e.Name == "" {
			e.Name = name(e.Index)
		}
	case *StateError:
		if e.Param >= 0 && e.Name == "" {
			e.Name = name(e.Param)
		}
	case *ParamShapeError:
		if e.Param >= 0 && e.Name == "" {
			e.Name = name(e.Param)
		}
	case *OverlapError:
		slot(&e.A)
		slot(&e.B)
	}
	return err
}

// Grad returns parameter i's gradient buffer, which the optimizer owns
// (torch's p.grad): the backward pass writes or adds into it, and Step()
// with no arguments steps on it. It is allocated at the first call, and
// is the same memory from then on. From this call until ZeroGrad it is
// set; a buffer that was not set is zeroed before Grad returns it, so
// that adding into it accumulates from zero. It holds what was written
// into it until ZeroGrad: steps do not change it, clipping and Unscale
// with no gradients do.
func (o *Optimizer[T]) Grad(i int) ([]T, error) {
	if err := checkParam("Grad", i, len(o.params)); err != nil {
		return nil, err
	}
	return o.grads.own(i, len(o.params[i]), o.clear), nil
}

// GradOf returns the gradient buffer of the parameter named name, as Grad.
func (o *Optimizer[T]) GradOf(name string) ([]T, error) {
	i, err := o.names.lookup("GradOf", "Group.Names", name)
	if err != nil {
		return nil, err
	}
	return o.grads.own(i, len(o.params[i]), o.clear), nil
}

// checkParam reports an index i out of range of n params, op's.
func checkParam(op string, i, n int) error {
	if i < 0 || i >= n {
		return &IndexError{Op: op, What: "param", Index: i, Len: n}
	}
	return nil
}

// own returns buffer i, of n elements, set, allocating it if need be;
// clearCache is the optimizer's cache of the grads found clear (Step's),
// which an allocation empties.
func (b *gradBuffers[T]) own(i, n int, clearCache []uintptr) []T {
	g := b.buf[i]
	switch {
	case g == nil:
		// A fresh allocation: it overlaps no param or state, and is zero.
		g = make([]T, n)
		b.buf[i] = g
		_ = b.regions.insert("Grad", region(g, Slot{Kind: "grad buffer", Index: i}))
		// A grad whose address Step cached as clear may have been freed
		// and its memory reused for this buffer: check every one again.
		clear(clearCache)
	case !b.set[i]:
		clear(g)
	}
	b.set[i] = true
	b.view[i] = g
	return g
}

// ZeroGrad is torch's zero_grad(set_to_none=True): every gradient buffer
// becomes unset, so that Step() and the reductions skip its parameter
// until Grad or AccumulateGrad sets it again, zeroed first. Nothing is
// written or freed: the zeroing is left to that next use.
func (o *Optimizer[T]) ZeroGrad() { o.grads.zero() }

// zero unsets every buffer (ZeroGrad).
func (b *gradBuffers[T]) zero() {
	clear(b.set)
	clear(b.view)
}

// AccumulateGrad adds s·g into parameter i's gradient buffer (zeroed first
// if it was not set), element by element in T: buf[j] + T(s·g[j]), the
// product rounded before the sum, as torch's p.grad += s * g. It is how
// micro-batch gradients computed elsewhere are accumulated; the bits are
// the same on every kernel set, and for any worker count: the optimizer's
// workers split a large gradient as they split a step. g must have the
// parameter's length and must not overlap the buffer, unless it is the
// buffer itself. Nothing changes on error.
func (o *Optimizer[T]) AccumulateGrad(i int, g []T, s T) error {
	if err := o.grads.checkAdd("AccumulateGrad", i, g, o.params, &o.names); err != nil {
		return err
	}
	o.workerGradKernels().Accumulate(o.grads.own(i, len(o.params[i]), o.clear), g, s)
	return nil
}

// checkAdd validates AccumulateGrad's arguments: i a parameter of params
// (named n), g of its length, not overlapping its buffer unless it is the
// buffer itself.
func (b *gradBuffers[T]) checkAdd(op string, i int, g []T, params [][]T, n *paramNames) error {
	if err := checkParam(op, i, len(params)); err != nil {
		return err
	}
	if len(g) != len(params[i]) {
		return &ShapeError{Op: op, What: "added grad", Index: i, Got: len(g), Want: len(params[i]), Name: n.name(i)}
	}
	if partialOverlap(b.buf[i], g) {
		return &OverlapError{Op: op, A: Slot{Kind: "added grad", Index: i, Name: n.name(i)}, B: Slot{Kind: "grad buffer", Index: i, Name: n.name(i)}}
	}
	return nil
}

// Accumulate adds s·g into acc, element by element in T: acc[j] +
// T(s·g[j]), the product rounded before the sum, as torch's acc += s * g,
// with the same bits on every kernel set. It accumulates micro-batch
// gradients into the caller's own buffers (AccumulateGrad does it into
// the optimizer's). acc and g must have the same length and must not
// overlap, unless g is acc itself. Nothing changes on error.
func Accumulate[T float32 | float64](acc, g []T, s T) error {
	const op = "Accumulate"
	if len(g) != len(acc) {
		return &ShapeError{Op: op, What: "g", Index: -1, Got: len(g), Want: len(acc)}
	}
	if partialOverlap(acc, g) {
		return &OverlapError{Op: op, A: Slot{Kind: "g", Index: -1}, B: Slot{Kind: "acc", Index: -1}}
	}
	gradKernels[T]().Accumulate(acc, g, s)
	return nil
}

// partialOverlap reports whether a and b share memory without being the
// same slice: an elementwise pass reading b and writing a is then
// well-defined only if b is a, element for element.
func partialOverlap[T element](a, b []T) bool {
	return overlaps(a, b) && !(base(a) == base(b) && len(a) == len(b))
}

// stepGrads returns the gradients of a call given grads: grads, or the
// owned buffers (nil where unset) when there are none.
func (o *Optimizer[T]) stepGrads(grads [][]T) [][]T { return o.grads.or(grads) }

// or returns grads, or the buffers (nil where unset) when there are none.
func (b *gradBuffers[T]) or(grads [][]T) [][]T {
	if len(grads) == 0 {
		return b.view
	}
	return grads
}

// presentGrads returns the gradients among grads that are not nil, which
// the reductions use (torch's list of the grads that are not None: a nil
// gradient must not change the tree in which the norms add the slices).
// It is grads itself when none is nil, else the optimizer's scratch,
// which the caller clears with clearPresent.
func (o *Optimizer[T]) presentGrads(grads [][]T) [][]T {
	return withoutNil(&o.grads.present, grads)
}

func (o *Optimizer[T]) clearPresent() { o.grads.clearPresent() }

// clearPresent clears the scratch of presentGrads, so that it holds no
// gradient alive.
func (b *gradBuffers[T]) clearPresent() {
	clear(b.present)
	b.present = b.present[:0]
}

// withoutNil returns grads without its nil entries, appended to *scratch
// when there are any (grads itself otherwise).
func withoutNil[T element](scratch *[][]T, grads [][]T) [][]T {
	k := 0
	for k < len(grads) && grads[k] != nil {
		k++
	}
	if k == len(grads) {
		return grads
	}
	out := append((*scratch)[:0], grads[:k]...)
	for _, g := range grads[k:] {
		if g != nil {
			out = append(out, g)
		}
	}
	*scratch = out
	return out
}

// paramNamesKey is the key of a param_groups entry that holds its
// parameters' names, torch 2.x's.
const paramNamesKey = "param_names"

// groupNames returns the names of group gi's parameters, nil when unnamed.
func (o *Optimizer[T]) groupNames(gi int) []string { return o.names.group(&o.groups[gi]) }

// group returns the names of g's parameters, nil when unnamed.
func (n *paramNames) group(g *group) []string {
	if n.names == nil {
		return nil
	}
	return n.names[g.first:g.end]
}

// namesBytes bounds the JSON of the parameters' names in param_groups.
func (o *Optimizer[T]) namesBytes() int { return o.names.bytes(len(o.groups)) }

// bytes bounds the JSON of the names in the param_groups of groups
// groups: each escaped (at most 6 bytes a byte), quoted and followed by a
// comma, and the key in every group.
func (n *paramNames) bytes(groups int) int {
	if n.names == nil {
		return 0
	}
	total := 32 * groups
	for _, name := range n.names {
		total += 6*len(name) + 3
	}
	return total
}

// checkGroupNames checks the param_names of entry gi of a checkpoint's
// param_groups, raw, which parseGroup has accepted: a list of one name per
// parameter of the group and, when the optimizer's parameters are named,
// their names in their order. A checkpoint without names loads into a
// named optimizer, and one with names into an unnamed optimizer, as in
// torch (whose files before 2.x have none).
func (o *Optimizer[T]) checkGroupNames(op string, gi int, raw json.RawMessage) error {
	return checkGroupNames(op, &o.groups[gi], gi, raw, o.groupNames(gi))
}

// checkGroupNames checks the param_names of entry gi of a checkpoint's
// param_groups, raw, against group g, whose parameters are named mine
// (nil: unnamed).
func checkGroupNames(op string, g *group, gi int, raw json.RawMessage, mine []string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return ckErr(op, nil, "param_groups[%d]: not a JSON object", gi)
	}
	js, ok := m[paramNamesKey]
	if !ok {
		return nil
	}
	var names []string
	if err := json.Unmarshal(js, &names); err != nil || names == nil {
		return ckErr(op, nil, "param_groups[%d]: %s is not a list of names", gi, paramNamesKey)
	}
	if len(names) != g.end-g.first {
		return ckErr(op, nil, "param_groups[%d]: %s has %d names for the group's %d params", gi, paramNamesKey, len(names), g.end-g.first)
	}
	if mine == nil {
		return nil
	}
	for k, name := range names {
		if name != mine[k] {
			return ckErr(op, nil, "param_groups[%d]: %s[%d] is %q, but the optimizer's param %d is named %q: a checkpoint of other parameters, or of the same in another order",
				gi, paramNamesKey, k, name, g.first+k, mine[k])
		}
	}
	return nil
}
