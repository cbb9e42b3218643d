package schedule

import (
	"errors"
	"fmt"
	"math"
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

// Holder is a Target that can hold a rate or momentum it cannot step with,
// as *optim.Optimizer[float32] and [float64] do. Torch's schedulers write
// whatever they compute into the optimizer's param_groups, and torch
// validates a rate only in the optimizer's constructor: OneCycleLR's last
// step (the TotalSteps-th, which torch allows) extrapolates the schedule to
// a negative rate, which torch computes after the loop's last optimizer
// step and never uses. Step, StepMetric and Restore write through these
// methods when the target has them: a value the target accepts is set, a
// finite one it refuses is held, reported by GroupLR and GroupMomentum, and
// refused by the target's next step (not by the scheduler, which goes on as
// torch's does). by is the scheduler's class. Errors name the group. New
// writes with SetGroupLR and SetGroupMomentum: a value refused at step 0 is
// an error there.
type Holder interface {
	Target
	HoldGroupLR(i int, lr float64, by string) error
	HoldGroupMomentum(i int, m float64, by string) error
}

// Scheduler is a learning-rate scheduler attached to a Target.
//
// Every step reads the target's current rates (torch's schedulers are
// chainable: they multiply the rate the optimizer holds), computes the new
// ones in float64 with torch's operations in torch's order, and writes them
// back only when every value is finite and the target accepts all of them
// (a Holder's holds what it cannot use): on error, a *StepError, the target
// and the scheduler are as they were.
//
// A negative rate within rounding of zero (at most 2^-40 times the largest
// of the group's initial rate, its rate before the step and the EtaMin of
// a cosine schedule that computed it) is written as 0: torch's LinearLR
// from StartFactor 1/3 to EndFactor 0 computes -1.85e-17 times the rate at
// its end, which an optimizer here would refuse at every later step; see
// the package documentation.
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
	// floor is the largest magnitude other than the rates that the last
	// step's rates were computed from: a cosine schedule's EtaMin, which
	// it adds to and takes from the rate, so that its rounding is relative
	// to it (commit). 0 when none.
	floor float64
}

// addFloor records that the step's rates were computed from x (floor).
func (g *groups) addFloor(x float64) { g.floor = max(g.floor, math.Abs(x)) }

func (g *groups) setDefaultInitialLR() {
	if g.initialLR == nil {
		g.initialLR = slices.Clone(g.lr)
	}
}

// node is one built scheduler: a leaf (a torch _LRScheduler subclass), a
// composite or ReduceLROnPlateau.
type node interface {
	step(g *groups) error
	// calls is the number of steps since New: torch's last_epoch, the
	// user's calls of Step or StepMetric.
	calls() int
	// active names the scheduler that computed the last step's rates.
	active() string
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
	if err == nil {
		s.root = root
		err = s.commit("New")
	}
	if err != nil {
		if e, ok := err.(*StepError); ok {
			e.Op = "New"
		}
		return nil, err
	}
	s.lastLR = slices.Clone(s.g.lr)
	return s, nil
}

// Step advances the schedule by one step (torch's scheduler.step()), after
// the optimizer's step.
func (s *Scheduler) Step() error {
	if s.plateau {
		return errors.New("schedule: ReduceLROnPlateau is stepped with StepMetric")
	}
	return s.advance("Step", func() error { return s.root.step(&s.g) })
}

// StepMetric advances ReduceLROnPlateau with the metric of the last epoch
// (torch's scheduler.step(metric)).
func (s *Scheduler) StepMetric(metric float64) error {
	p, ok := s.root.(*plateau)
	if !ok {
		return fmt.Errorf("schedule: StepMetric is for ReduceLROnPlateau, not %s; use Step", s.spec.kind())
	}
	return s.advance("StepMetric", func() error { return p.stepMetric(&s.g, metric) })
}

// LastLR returns the rates the last step set, one per group (torch's
// get_last_lr()). Before ReduceLROnPlateau's first step, the rates at New.
func (s *Scheduler) LastLR() []float64 { return slices.Clone(s.lastLR) }

// advance runs one step on the shadow groups and commits it, restoring the
// scheduler's state when anything fails.
func (s *Scheduler) advance(op string, step func() error) error {
	if err := s.load(); err != nil {
		return err
	}
	call := s.root.calls() + 1
	before := s.root.save()
	initial := slices.Clone(s.g.initialLR)
	s.g.floor = 0
	err := step()
	if err == nil {
		err = s.commit(op)
	}
	if err != nil {
		// before was saved from this very tree, so loading it cannot fail.
		_ = s.root.load(before, len(s.g.lr))
		s.g.initialLR = initial
		if e, ok := err.(*StepError); ok {
			e.Op, e.Step = op, call
		}
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

// roundingNoise bounds, relative to a group's rates, a negative rate that
// commit writes as 0: the rounding of an exact zero. LinearLR's is about
// 2^-54 of the rate before its last step; OneCycleLR's extrapolation, a
// true negative, is 1/(the steps of its last phase) of its initial rate.
const roundingNoise = 0x1p-40

// commit writes the shadow groups to the target: all of them or, when the
// target refuses one, none. Step, StepMetric and Restore write to a Holder
// with its Hold methods, New with SetGroupLR and SetGroupMomentum.
func (s *Scheduler) commit(op string) error {
	n := len(s.g.lr)
	for i := range n {
		if !finite(s.g.lr[i]) {
			return stepErr(s.spec.kind(), i, "computed lr %v (torch raises here or steps to NaN)", s.g.lr[i])
		}
		if s.cycles && !finite(s.g.mom[i]) {
			return stepErr(s.spec.kind(), i, "computed momentum %v (torch raises here or steps to NaN)", s.g.mom[i])
		}
	}
	oldLR, oldMom := make([]float64, n), make([]float64, n)
	for i := range n {
		oldLR[i] = s.t.GroupLR(i)
		oldMom[i], _ = s.t.GroupMomentum(i)
	}
	for i, lr := range s.g.lr {
		scale := max(math.Abs(oldLR[i]), s.g.floor)
		if s.g.initialLR != nil {
			scale = max(scale, math.Abs(s.g.initialLR[i]))
		}
		if lr < 0 && -lr <= roundingNoise*scale {
			s.g.lr[i] = 0
		}
	}
	setLR, setMom := s.t.SetGroupLR, s.t.SetGroupMomentum
	if h, ok := s.t.(Holder); ok && op != "New" {
		by := s.root.active()
		setLR = func(i int, lr float64) error { return h.HoldGroupLR(i, lr, by) }
		setMom = func(i int, m float64) error { return h.HoldGroupMomentum(i, m, by) }
	}
	for i := range n {
		err := setLR(i, s.g.lr[i])
		what := fmt.Sprintf("lr %v", s.g.lr[i])
		if err == nil && s.cycles {
			err = setMom(i, s.g.mom[i])
			what = fmt.Sprintf("momentum %v", s.g.mom[i])
		}
		if err != nil {
			for j := range i + 1 {
				_ = setLR(j, oldLR[j])
				if s.cycles {
					_ = setMom(j, oldMom[j])
				}
			}
			e := stepErr(s.spec.kind(), i, "the target refuses %s", what)
			e.Err = err
			return e
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
