package optim

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
)

// Held rates. torch's schedulers write whatever they compute into the
// optimizer's param_groups, and torch's optimizers validate lr only in
// their constructor: OneCycleLR's TotalSteps-th step, which torch allows,
// extrapolates the schedule one step past its end to a negative rate, which
// the standard loop computes after its last optimizer step and never uses.
// A rule here refuses a negative rate, so a scheduler (package schedule)
// writes with HoldGroupLR and HoldGroupMomentum: a value the rule accepts is
// set, and a finite one it refuses is held by the group. The group reports
// it, as torch's param_groups would (GroupLR, GroupMomentum, GroupRule, the
// param_groups of Save), and Step refuses to use it.

// heldValues is what one group holds: the values its rule refused, why, and
// which scheduler set them.
type heldValues struct {
	lr, momentum       float64
	hasLR, hasMomentum bool
	lrErr, momentumErr error  // the rule's refusal of each
	by                 string // the scheduler class; "" when loaded from torch's file
}

func (h *heldValues) any() bool { return h.hasLR || h.hasMomentum }

// heldOf returns group gi's held values, nil if it holds none.
func (o *groupSet) heldOf(gi int) *heldValues {
	if gi < len(o.held) && o.held[gi].any() {
		return &o.held[gi]
	}
	return nil
}

// holdIn returns group gi's entry, growing the list (groups added by
// AddGroup after the last hold have none yet).
func (o *groupSet) holdIn(gi int) *heldValues {
	if gi >= len(o.held) {
		o.held = append(o.held, make([]heldValues, gi+1-len(o.held))...)
	}
	return &o.held[gi]
}

// unhold forgets group gi's held rate (lr) and momentum (momentum): a value
// its rule accepts has replaced them.
func (o *groupSet) unhold(gi int, lr, momentum bool) {
	if gi >= len(o.held) {
		return
	}
	h := &o.held[gi]
	if lr {
		h.lr, h.hasLR, h.lrErr = 0, false, nil
	}
	if momentum {
		h.momentum, h.hasMomentum, h.momentumErr = 0, false, nil
	}
	if !h.any() {
		h.by = ""
	}
}

// HoldGroupLR is how package schedule sets group i's learning rate: as
// SetGroupLR when the group's rule accepts lr; a finite rate the rule
// refuses (a negative one) is held instead. A held rate is what GroupLR,
// GroupRule and Save's param_groups report, as torch's param_groups keep
// what a scheduler wrote, and Load restores it as held; Step, StepIfFinite
// and ScaledStep refuse to use it with a *HeldRateError that names by, the
// scheduler's class, and change nothing (a step in which every gradient of
// the group is nil uses no rate, and goes on). A rate the rule accepts, set by
// SetGroupLR, SetLR, SetGroupRule or HoldGroupLR (the scheduler's next
// step), replaces it. NaN and infinities are refused as SetGroupLR refuses
// them.
func (o *groupSet) HoldGroupLR(i int, lr float64, by string) error {
	if i < 0 || i >= len(o.groups) {
		return &IndexError{Op: "HoldGroupLR", What: "group", Index: i, Len: len(o.groups)}
	}
	return o.hold(i, o.groups[i].rule.withLR(lr), lr, true, by)
}

// HoldGroupMomentum is HoldGroupLR for what GroupMomentum returns: set as
// SetGroupMomentum sets it when the rule accepts m, held otherwise (SGD's
// Momentum or Adam's Beta1 at 1 or above, which a linear OneCycleLR's last
// step can extrapolate to). A rule without momentum is ErrNoMomentum.
func (o *groupSet) HoldGroupMomentum(i int, m float64, by string) error {
	if i < 0 || i >= len(o.groups) {
		return &IndexError{Op: "HoldGroupMomentum", What: "group", Index: i, Len: len(o.groups)}
	}
	old := o.groups[i].rule
	if _, ok := old.momentum(); !ok {
		return fmt.Errorf("optim: group %d (%s): %w", i, ruleName(old), ErrNoMomentum)
	}
	return o.hold(i, old.withMomentum(m), m, false, by)
}

// hold sets r, group i's rule with v as its rate (lr) or momentum, if it
// validates; otherwise it holds a finite v.
func (o *groupSet) hold(i int, r Rule, v float64, lr bool, by string) error {
	r, err := o.checkRule(i, r)
	if err == nil {
		o.setRule(i, r)
		if !lr {
			o.owner.ruleChanged(i) // a momentum turned on may need state, as in SetGroupMomentum
		}
		o.unhold(i, lr, !lr)
		return nil
	}
	if !finite(v) {
		return err
	}
	h := o.holdIn(i)
	if lr {
		h.lr, h.hasLR, h.lrErr = v, true, err
	} else {
		h.momentum, h.hasMomentum, h.momentumErr = v, true, err
	}
	h.by = by
	return nil
}

// reportedRule is group gi's rule as torch's param_groups entry would
// show it: with the values it holds in place of those it steps with.
func (o *groupSet) reportedRule(gi int) Rule {
	r := o.groups[gi].rule
	if h := o.heldOf(gi); h != nil {
		if h.hasLR {
			r = r.withLR(h.lr)
		}
		if h.hasMomentum {
			r = r.withMomentum(h.momentum)
		}
	}
	return r
}

// checkHeld is the refusal of op (Step, StepIfFinite, ScaledStep) with
// grads (after stepGrads) while a group that would step holds a value it
// cannot step with: the first such group's. A group whose gradients are
// all nil takes no step, as in torch, and uses no rate.
func (o *Optimizer[T]) checkHeld(op string, grads [][]T) error {
	return checkHeld(&o.groupSet, op, grads, len(o.params))
}

// checkHeld is Optimizer.checkHeld for gradients of any storage, for
// groups of params parameters.
func checkHeld[E any](o *groupSet, op string, grads [][]E, params int) error {
	for gi := range o.held {
		h := &o.held[gi]
		if !h.any() || !groupSteps(o, gi, grads, params) {
			continue
		}
		r := o.groups[gi].rule
		e := &HeldRateError{Op: op, Group: gi, Rule: className(r), By: h.by}
		if h.hasLR {
			e.Field, e.Value, e.Want = "LR", h.lr, wantOf(h.lrErr)
		} else {
			e.Field, e.Value, e.Want = momentumField(r), h.momentum, wantOf(h.momentumErr)
		}
		return e
	}
	return nil
}

// groupSteps reports whether grads step a parameter of group gi.
// Gradients that do not fit the params parameters step them all: the
// step's validation refuses them.
func groupSteps[E any](o *groupSet, gi int, grads [][]E, params int) bool {
	if len(grads) != params {
		return true
	}
	g := &o.groups[gi]
	for _, grad := range grads[g.first:g.end] {
		if grad != nil {
			return true
		}
	}
	return false
}

// wantOf is what a rule's refusal of a value asks for.
func wantOf(err error) string {
	switch e := err.(type) {
	case *HyperparameterError:
		return e.Want
	case *RuleError:
		return e.Reason
	}
	return err.Error()
}

// momentumField is the field of r that momentum and withMomentum read and
// write: SGD's and RMSProp's Momentum, the others' Beta1.
func momentumField(r Rule) string {
	if _, ok := reflect.TypeOf(r).FieldByName("Momentum"); ok {
		return "Momentum"
	}
	return "Beta1"
}

// heldKey is the metadata entry of a checkpoint whose groups hold values:
// a JSON object from each such group's index to the scheduler class that
// set them. param_groups has the values themselves, as torch's does. It is
// absent when no group holds anything, so such files are unchanged.
const heldKey = ours + "held"

// heldMeta is the value of heldKey, "" when no group holds anything.
func (o *groupSet) heldMeta() string {
	m := map[string]string{}
	for gi := range o.held {
		if o.held[gi].any() {
			m[strconv.Itoa(gi)] = o.held[gi].by
		}
	}
	if len(m) == 0 {
		return ""
	}
	return mustJSON(m)
}

// parseHeld decodes heldKey's value for groups groups: the scheduler class
// of each group that holds values, nil where none does.
func parseHeld(op, js string, groups int) ([]*string, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(js), &m); err != nil || m == nil {
		return nil, ckErr(op, nil, "%s is not a JSON object of group indices and scheduler names", heldKey)
	}
	by := make([]*string, groups)
	for k, v := range m {
		gi, err := strconv.Atoi(k)
		if err != nil || gi < 0 || gi >= groups || strconv.Itoa(gi) != k {
			return nil, ckErr(op, nil, "%s: %q is not the index of one of the %d groups", heldKey, k, groups)
		}
		by[gi] = &v
	}
	return by, nil
}

// loadHeld validates the rule raw that a checkpoint's param_groups entry gi
// holds. A rule that validates is the group's. One that does not is held,
// when the file may hold values (mayHold: a file of ours that lists the
// group in heldKey, or torch's file, whose param_groups keep what torch's
// schedulers wrote), if its learning rate or momentum is at fault: the group
// steps with current's (its rule before Load) in their place, and holds the
// file's. Otherwise the error is raw's.
func loadHeld[T float32 | float64](raw, current Rule, gi int, mayHold bool, by string) (Rule, heldValues, error) {
	r, err := normalizeFor[T](raw)
	if err == nil || !mayHold {
		return r, heldValues{}, inGroup(err, gi)
	}
	type candidate struct {
		r       Rule
		lr, mom bool // which of raw's values it replaces
	}
	candidates := []candidate{{raw.withLR(current.lr()), true, false}}
	curMom, hasMom := current.momentum()
	if hasMom {
		candidates = append(candidates,
			candidate{raw.withMomentum(curMom), false, true},
			candidate{raw.withLR(current.lr()).withMomentum(curMom), true, true})
	}
	// The first that validates: then each value it replaces is refused
	// with the other values it keeps (else an earlier candidate would have
	// validated), and the refusal says why.
	refusal := func(r Rule) error { _, e := normalizeFor[T](r); return e }
	for _, c := range candidates {
		u, e := normalizeFor[T](c.r)
		if e != nil {
			continue
		}
		h := heldValues{by: by}
		if c.lr {
			h.lr, h.hasLR, h.lrErr = raw.lr(), true, refusal(u.withLR(raw.lr()))
		}
		if c.mom {
			m, _ := raw.momentum()
			h.momentum, h.hasMomentum, h.momentumErr = m, true, refusal(u.withMomentum(m))
		}
		return u, h, nil
	}
	return nil, heldValues{}, inGroup(err, gi)
}
