package schedule

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
)

// Target is what a scheduler drives: the learning rate and momentum of each
// parameter group. *optim.Optimizer[float32] and [float64] implement it;
// GroupMomentum is SGD's and RMSProp's Momentum and the Beta1 of Adam,
// NAdam, RAdam, Adamax and Lion, with ok false for a rule without momentum
// (Adagrad, Adadelta, Rprop, ASGD).
type Target interface {
	Groups() int
	GroupLR(i int) float64
	SetGroupLR(i int, lr float64) error
	GroupMomentum(i int) (float64, bool)
	SetGroupMomentum(i int, m float64) error
}

// Scheduler is a learning-rate scheduler attached to a Target.
//
// Every step reads the target's current rates (torch's schedulers are
// chainable: they multiply the rate the optimizer holds), computes the new
// ones in float64 with torch's operations in torch's order, and writes them
// back only when every value is finite and the target accepts all of them:
// on error the target and the scheduler are as they were.
//
// A Scheduler is built for the number of groups the target has at New.
// After a group is added to the target (optim's AddGroup, torch's
// add_param_group), its Step, StepMetric and Restore return an error and
// change nothing, and its State covers the groups it was built for. torch
// does no better: its schedulers keep one base_lr per group they were
// built with. To schedule the new group, attach a new Scheduler with New,
// as torch code constructs a new scheduler after add_param_group: its
// initial rates are the groups' rates at that moment, and it starts at its
// step 0.
type Scheduler struct {
	t       Target
	spec    Spec
	root    node
	g       groups
	cycles  bool // some scheduler in the tree cycles momentum
	plateau bool // root is ReduceLROnPlateau: stepped by StepMetric
	lastLR  []float64
}

// groups is the scheduler's view of torch's param_groups: the rates and
// momenta (loaded from the target before each step and written back after)
// and torch's group['initial_lr'], which every scheduler of a composite
// shares.
type groups struct {
	lr, mom   []float64
	initialLR []float64 // nil until a scheduler sets it
}

func (g *groups) setDefaultInitialLR() {
	if g.initialLR == nil {
		g.initialLR = slices.Clone(g.lr)
	}
}

// node is one built scheduler: a leaf (a torch _LRScheduler subclass), a
// composite or ReduceLROnPlateau.
type node interface {
	step(g *groups) error
	save() State
	load(st State, groups int) error // validates st completely before changing anything
}

// New attaches the scheduler spec describes to t and does what torch's
// constructor does: the class's own settings (CyclicLR's base rate,
// OneCycleLR's initial rate and momentum) and the initial step, which sets
// every group's rate for step 0. ReduceLROnPlateau has no initial step.
//
// The initial rates (torch's base_lrs) are t's rates at New: a scheduler
// cannot see the initial_lr an earlier scheduler on the same optimizer set in
// torch, except inside SequentialLR and ChainedScheduler, which share it.
func New(t Target, spec Spec) (*Scheduler, error) {
	if t == nil || isNil(t) {
		return nil, errors.New("schedule: nil Target")
	}
	n := t.Groups()
	if n < 1 {
		return nil, fmt.Errorf("schedule: target has %d parameter groups, want >= 1", n)
	}
	if err := validateSpec(spec, n); err != nil {
		return nil, err
	}
	s := &Scheduler{t: t, spec: spec, cycles: cyclesMomentum(spec)}
	_, s.plateau = derefSpec(spec).(ReduceLROnPlateau)
	s.g = groups{lr: make([]float64, n), mom: make([]float64, n)}
	if err := s.load(); err != nil {
		return nil, err
	}
	root, err := derefSpec(spec).build(&s.g)
	if err != nil {
		return nil, err
	}
	if err := s.commit(); err != nil {
		return nil, err
	}
	s.root = root
	s.lastLR = slices.Clone(s.g.lr)
	return s, nil
}

// Step advances the schedule by one step (torch's scheduler.step()), after
// the optimizer's step.
func (s *Scheduler) Step() error {
	if s.plateau {
		return errors.New("schedule: ReduceLROnPlateau is stepped with StepMetric")
	}
	return s.advance(func() error { return s.root.step(&s.g) })
}

// StepMetric advances ReduceLROnPlateau with the metric of the last epoch
// (torch's scheduler.step(metric)).
func (s *Scheduler) StepMetric(metric float64) error {
	p, ok := s.root.(*plateau)
	if !ok {
		return fmt.Errorf("schedule: StepMetric is for ReduceLROnPlateau, not %s; use Step", s.spec.kind())
	}
	return s.advance(func() error { return p.stepMetric(&s.g, metric) })
}

// LastLR returns the rates the last step set, one per group (torch's
// get_last_lr()). Before ReduceLROnPlateau's first step, the rates at New.
func (s *Scheduler) LastLR() []float64 { return slices.Clone(s.lastLR) }

// advance runs one step on the shadow groups and commits it, restoring the
// scheduler's state when anything fails.
func (s *Scheduler) advance(step func() error) error {
	if err := s.load(); err != nil {
		return err
	}
	before := s.root.save()
	initial := slices.Clone(s.g.initialLR)
	err := step()
	if err == nil {
		err = s.commit()
	}
	if err != nil {
		// before was saved from this very tree, so loading it cannot fail.
		_ = s.root.load(before, len(s.g.lr))
		s.g.initialLR = initial
		return err
	}
	s.lastLR = slices.Clone(s.g.lr)
	return nil
}

// load reads the target's rates and momenta into the shadow groups.
func (s *Scheduler) load() error {
	if n := s.t.Groups(); n != len(s.g.lr) {
		return fmt.Errorf("schedule: target has %d parameter groups, the scheduler was built for %d "+
			"(a group added after New is not scheduled: attach a new Scheduler with New)", n, len(s.g.lr))
	}
	for i := range s.g.lr {
		s.g.lr[i] = s.t.GroupLR(i)
		m, ok := s.t.GroupMomentum(i)
		if s.cycles && !ok {
			return fmt.Errorf("schedule: %s cycles momentum, but parameter group %d has none (set CycleMomentum false)", s.spec.kind(), i)
		}
		s.g.mom[i] = m
	}
	return nil
}

// commit writes the shadow groups to the target: all of them or, when the
// target refuses one, none.
func (s *Scheduler) commit() error {
	for i := range s.g.lr {
		if !finite(s.g.lr[i]) || (s.cycles && !finite(s.g.mom[i])) {
			return fmt.Errorf("schedule: %s computed lr %v, momentum %v for group %d (torch raises here)", s.spec.kind(), s.g.lr[i], s.g.mom[i], i)
		}
	}
	n := len(s.g.lr)
	oldLR, oldMom := make([]float64, n), make([]float64, n)
	for i := range n {
		oldLR[i] = s.t.GroupLR(i)
		oldMom[i], _ = s.t.GroupMomentum(i)
	}
	for i := range n {
		err := s.t.SetGroupLR(i, s.g.lr[i])
		if err == nil && s.cycles {
			err = s.t.SetGroupMomentum(i, s.g.mom[i])
		}
		if err != nil {
			for j := range i + 1 {
				_ = s.t.SetGroupLR(j, oldLR[j])
				if s.cycles {
					_ = s.t.SetGroupMomentum(j, oldMom[j])
				}
			}
			return fmt.Errorf("schedule: group %d: %w", i, err)
		}
	}
	return nil
}

// validateSpec refuses nil specs (including nil pointers to specs) and
// types that are not this package's specs before checking the spec's own
// arguments.
func validateSpec(spec Spec, groups int) error {
	if spec == nil || isNil(spec) {
		return errors.New("schedule: nil Spec")
	}
	if !ownSpec(spec) {
		return argErr("New", "spec", fmt.Sprintf("%T", spec), specTypesWant)
	}
	return derefSpec(spec).validate(groups)
}

// specTypesWant says what ownSpec admits, for the error of a spec it refuses.
const specTypesWant = "a spec type of package schedule (StepLR, OneCycleLR, SequentialLR, ...) or a pointer to one; " +
	"a type that embeds a spec is not accepted"

// ownSpec reports whether spec's dynamic type is one of this package's
// named spec types, or a pointer to one. A type declared elsewhere that
// embeds a spec implements Spec through the promoted unexported methods,
// and an embedded nil pointer would make the first of those calls panic:
// no method of spec may be called before this check.
func ownSpec(spec Spec) bool {
	t := reflect.TypeOf(spec)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name() != "" && t.PkgPath() == specPkgPath
}

// specPkgPath is this package's import path, as reflect reports it.
var specPkgPath = reflect.TypeFor[StepLR]().PkgPath()

func isNil(v any) bool {
	r := reflect.ValueOf(v)
	return r.Kind() == reflect.Pointer && r.IsNil()
}

// derefSpec turns a pointer to a spec into the spec, so that a spec's type
// switch sees values only.
func derefSpec(spec Spec) Spec {
	r := reflect.ValueOf(spec)
	if r.Kind() == reflect.Pointer {
		return r.Elem().Interface().(Spec)
	}
	return spec
}

func cyclesMomentum(spec Spec) bool {
	switch s := derefSpec(spec).(type) {
	case CyclicLR:
		return s.CycleMomentum
	case OneCycleLR:
		return s.CycleMomentum
	case SequentialLR:
		return slices.ContainsFunc(s.Schedulers, cyclesMomentum)
	case ChainedScheduler:
		return slices.ContainsFunc(s.Schedulers, cyclesMomentum)
	}
	return false
}
