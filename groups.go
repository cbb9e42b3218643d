package optim

import (
	"fmt"
	"math"
)

// groupSet is an optimizer's parameter groups, with their rules and the
// values they hold (held.go): what Optimizer and LowOptimizer share, so
// that the hyperparameters of a group (the methods schedulers call) behave
// alike whatever the parameters' storage. owner is the optimizer around
// it, which validates rules for its element type and allocates the state
// that a changed rule needs.
type groupSet struct {
	groups []group
	// held is what each group holds and cannot step with (held.go); it
	// may be shorter than groups.
	held []heldValues
	// sameRule[gi] reports that group gi's rule equals group gi-1's, so
	// that a step shares their scalars; rulesChanged says it is stale.
	sameRule     []bool
	rulesChanged bool
	owner        groupOwner
}

// groupOwner is what a groupSet asks of the optimizer around it.
type groupOwner interface {
	// normalize validates r as a rule of this optimizer's groups.
	normalize(r Rule) (Rule, error)
	// ruleChanged allocates the state that group gi's new rule needs and
	// its parameters lack (momentum turned on, say).
	ruleChanged(gi int)
}

// group is one parameter group: params[first:end] under rule.
type group struct {
	rule       Rule // normalized
	first, end int
	matrix     bool // the rule steps whole parameters (matrix.go)
}

// addGroup appends a group of the parameters [first, end) under rule,
// which owner has normalized.
func (o *groupSet) addGroup(rule Rule, first, end int) {
	o.groups = append(o.groups, group{rule: rule, first: first, end: end, matrix: isMatrix(rule)})
	o.sameRule = append(o.sameRule, false)
	o.rulesChanged = true
}

// setRule replaces group gi's rule (already validated).
func (o *groupSet) setRule(gi int, r Rule) {
	o.groups[gi].rule = r
	o.rulesChanged = true
}

// compareRules brings sameRule up to date after a rule changed: comparing
// two rules costs more than a small parameter's update, so it is done once
// per change, not once per step.
func (o *groupSet) compareRules() {
	if !o.rulesChanged {
		return
	}
	for gi := range o.groups {
		o.sameRule[gi] = gi > 0 && o.groups[gi].rule == o.groups[gi-1].rule
	}
	o.rulesChanged = false
}

// Groups returns the number of parameter groups.
func (o *groupSet) Groups() int { return len(o.groups) }

// GroupRule returns a copy of group i's rule, with its current
// hyperparameters (nil for an index out of range). A learning rate or
// momentum that the group holds (see HoldGroupLR) is in it, as in torch's
// param_groups: such a rule does not validate.
func (o *groupSet) GroupRule(i int) Rule {
	if i < 0 || i >= len(o.groups) {
		return nil
	}
	return o.reportedRule(i)
}

// SetGroupRule replaces group i's rule by one of the same type and torch
// class (Adam with Decoupled is AdamW, another class, as Load treats it):
// its hyperparameters apply from the next step on, and the state is kept,
// as when torch's param_groups entries change. A rule that needs state the
// old one did not keep (momentum turned on, centered, AMSGrad) gets it
// allocated here, zero; SGD's momentum buffer is then created by the next
// step from the gradient, as torch does. The lazily created state of the
// other rules (see State) is kept too: Rprop's step sizes, NAdam's
// mu_product and ASGD's eta and mu continue; a parameter that has not
// stepped yet creates it at its first step from the new rule (Rprop's
// step sizes and ASGD's eta from its LR). It replaces a rate or momentum
// the group holds (see HoldGroupLR).
func (o *groupSet) SetGroupRule(i int, r Rule) error {
	if err := o.replaceRule(i, r); err != nil {
		return err
	}
	o.unhold(i, true, true)
	return nil
}

// replaceRule is SetGroupRule but for the values the group holds.
func (o *groupSet) replaceRule(i int, r Rule) error {
	if i < 0 || i >= len(o.groups) {
		return &IndexError{Op: "SetGroupRule", What: "group", Index: i, Len: len(o.groups)}
	}
	r, err := o.owner.normalize(r)
	if err != nil {
		return inGroup(err, i)
	}
	if old := o.groups[i].rule; ruleName(old) != ruleName(r) {
		return &RuleError{Group: i, Rule: ruleName(r), Reason: fmt.Sprintf(
			"SetGroupRule: the group's rule is %s, not %s: the rule type of a group cannot change", ruleName(old), ruleName(r))}
	} else if className(old) != className(r) {
		// Adam and AdamW share a Go type but are two torch classes, which
		// Load tells apart: a group cannot move between them either.
		return &RuleError{Group: i, Rule: ruleName(r), Reason: fmt.Sprintf(
			"SetGroupRule: the group's rule is torch's %s, not %s: the class of a group cannot change (Load refuses a checkpoint of the other class)", className(old), className(r))}
	}
	o.setRule(i, r)
	o.owner.ruleChanged(i)
	return nil
}

// checkRule validates r as group gi's rule.
func (o *groupSet) checkRule(gi int, r Rule) (Rule, error) {
	r, err := o.owner.normalize(r)
	return r, inGroup(err, gi)
}

// GroupLR returns group i's learning rate (NaN for an index out of range):
// the rate it holds, if it holds one (see HoldGroupLR).
func (o *groupSet) GroupLR(i int) float64 {
	if i < 0 || i >= len(o.groups) {
		return math.NaN()
	}
	if h := o.heldOf(i); h != nil && h.hasLR {
		return h.lr
	}
	return o.groups[i].rule.lr()
}

// SetGroupLR sets group i's learning rate from the next step on, in place
// of a rate the group holds.
func (o *groupSet) SetGroupLR(i int, lr float64) error {
	if i < 0 || i >= len(o.groups) {
		return &IndexError{Op: "SetGroupLR", What: "group", Index: i, Len: len(o.groups)}
	}
	r, err := o.checkRule(i, o.groups[i].rule.withLR(lr))
	if err != nil {
		return err
	}
	o.setRule(i, r)
	o.unhold(i, true, false)
	return nil
}

// GroupMomentum returns the momentum that schedulers cycle: SGD's and
// RMSProp's Momentum, the Beta1 of Adam, NAdam, RAdam, Adamax and Lion
// (torch's betas[0]). ok is false for Adagrad, Adadelta, Rprop and ASGD,
// which have none, and for an index out of range. A momentum the group
// holds (see HoldGroupMomentum) is reported.
func (o *groupSet) GroupMomentum(i int) (m float64, ok bool) {
	if i < 0 || i >= len(o.groups) {
		return math.NaN(), false
	}
	if h := o.heldOf(i); h != nil && h.hasMomentum {
		return h.momentum, true
	}
	return o.groups[i].rule.momentum()
}

// SetGroupMomentum sets what GroupMomentum returns, from the next step on.
// A changed Beta1 enters Adam's bias correction as torch computes it, with
// the current value: 1 - Beta1^t. It replaces a momentum the group holds.
// For a rule without momentum the error is ErrNoMomentum.
func (o *groupSet) SetGroupMomentum(i int, m float64) error {
	if i < 0 || i >= len(o.groups) {
		return &IndexError{Op: "SetGroupMomentum", What: "group", Index: i, Len: len(o.groups)}
	}
	old := o.groups[i].rule
	if _, ok := old.momentum(); !ok {
		return fmt.Errorf("optim: group %d (%s): %w", i, ruleName(old), ErrNoMomentum)
	}
	if err := o.replaceRule(i, old.withMomentum(m)); err != nil {
		return err
	}
	o.unhold(i, false, true)
	return nil
}
