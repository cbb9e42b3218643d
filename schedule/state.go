package schedule

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// State is a scheduler's state as plain data, named after torch's
// state_dict keys, for a checkpoint (encoding/json marshals it; non-finite
// values, such as ReduceLROnPlateau's starting best, are written as strings).
// It holds what changes as the scheduler steps; the hyperparameters come from
// the Spec, so Restore needs a scheduler built from the same Spec.
//
// LambdaLR's and MultiplicativeLR's functions, and CyclicLR's ScaleFn, are
// code and cannot be saved: the scheduler they are restored into must be
// built with the same functions.
type State struct {
	Kind string `json:"kind"` // torch's class name

	// The top level only: the target's rates and momenta when the state was
	// taken (Restore writes them back), torch's get_last_lr(), and the
	// groups' initial_lr.
	GroupLR       []float64 `json:"group_lr,omitempty"`
	GroupMomentum []float64 `json:"group_momentum,omitempty"` // only for schedulers that cycle momentum
	LastLR        []float64 `json:"last_lr,omitempty"`
	InitialLR     []float64 `json:"initial_lr,omitempty"`

	LastEpoch     int       `json:"last_epoch"`
	StepCount     int       `json:"step_count,omitempty"`
	BaseLRs       []float64 `json:"base_lrs,omitempty"`
	TI            int       `json:"T_i,omitempty"`            // CosineAnnealingWarmRestarts
	TCur          int       `json:"T_cur,omitempty"`          // CosineAnnealingWarmRestarts
	BaseMomentums []float64 `json:"base_momentums,omitempty"` // CyclicLR

	Best            Float `json:"best,omitempty"` // ReduceLROnPlateau
	NumBadEpochs    int   `json:"num_bad_epochs,omitempty"`
	CooldownCounter int   `json:"cooldown_counter,omitempty"`

	Schedulers []State `json:"schedulers,omitempty"` // SequentialLR, ChainedScheduler
}

// Float is a float64 that JSON carries even when it is infinite or NaN (as
// the strings "Infinity", "-Infinity" and "NaN", Python's json spelling
// without the quotes).
type Float float64

// MarshalJSON writes finite values as numbers, others as strings.
func (f Float) MarshalJSON() ([]byte, error) {
	x := float64(f)
	switch {
	case math.IsNaN(x):
		return []byte(`"NaN"`), nil
	case math.IsInf(x, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(x, -1):
		return []byte(`"-Infinity"`), nil
	}
	return json.Marshal(x)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (f *Float) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		switch s {
		case "NaN":
			*f = Float(math.NaN())
		case "Infinity":
			*f = Float(math.Inf(1))
		case "-Infinity":
			*f = Float(math.Inf(-1))
		default:
			x, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return fmt.Errorf("schedule: Float %q: %w", s, err)
			}
			*f = Float(x)
		}
		return nil
	}
	var x float64
	if err := json.Unmarshal(b, &x); err != nil {
		return err
	}
	*f = Float(x)
	return nil
}

var posInf = math.Inf(1)

// State returns the scheduler's state. Restoring it into a scheduler built
// from the same Spec, on a target with as many groups, continues the schedule
// bit for bit.
func (s *Scheduler) State() State {
	st := s.root.save()
	n := len(s.g.lr)
	st.GroupLR = make([]float64, n)
	for i := range n {
		st.GroupLR[i] = s.t.GroupLR(i)
	}
	if s.cycles {
		st.GroupMomentum = make([]float64, n)
		for i := range n {
			st.GroupMomentum[i], _ = s.t.GroupMomentum(i)
		}
	}
	st.LastLR = slices.Clone(s.lastLR)
	st.InitialLR = slices.Clone(s.g.initialLR)
	return st
}

// Restore loads a state taken by State from a scheduler built from the same
// Spec, and sets the target's rates (and cycled momenta) to the state's
// GroupLR (and GroupMomentum), holding in a Holder those it cannot step with
// (a rate saved after OneCycleLR's last step), as Step does. It checks
// everything first: on error, nothing has changed.
func (s *Scheduler) Restore(st State) error {
	n := len(s.g.lr)
	if err := s.load(); err != nil {
		return err
	}
	if err := checkVec("GroupLR", st.GroupLR, n); err != nil {
		return err
	}
	if err := checkVec("LastLR", st.LastLR, n); err != nil {
		return err
	}
	if st.InitialLR != nil || !s.plateau {
		if err := checkVec("InitialLR", st.InitialLR, n); err != nil {
			return err
		}
	}
	if s.cycles {
		if err := checkVec("GroupMomentum", st.GroupMomentum, n); err != nil {
			return err
		}
	}
	before := s.root.save()
	if err := s.root.load(st, n); err != nil {
		_ = s.root.load(before, n) // saved from this tree: cannot fail
		return err
	}
	copy(s.g.lr, st.GroupLR)
	if s.cycles {
		copy(s.g.mom, st.GroupMomentum)
	}
	s.g.floor = 0 // the rates are the saved ones, computed from nothing here
	if err := s.commit("Restore"); err != nil {
		_ = s.root.load(before, n)
		if e, ok := err.(*StepError); ok {
			e.Op = "Restore"
		}
		return err
	}
	s.lastLR = slices.Clone(st.LastLR)
	s.g.initialLR = slices.Clone(st.InitialLR)
	return nil
}

func checkVec(field string, v []float64, n int) error {
	if len(v) != n {
		return fmt.Errorf("schedule: state's %s has %d values, want %d (one per group)", field, len(v), n)
	}
	for i, x := range v {
		if !finite(x) {
			return fmt.Errorf("schedule: state's %s[%d] = %v, want finite", field, i, x)
		}
	}
	return nil
}

func checkKind(st State, kind string) error {
	if st.Kind != kind {
		return fmt.Errorf("schedule: state is for %q, the scheduler is %s", st.Kind, kind)
	}
	return nil
}

func (l *leaf) save() State {
	st := State{Kind: l.kind, LastEpoch: l.lastEpoch, StepCount: l.stepCount, BaseLRs: slices.Clone(l.baseLRs)}
	switch r := l.rule.(type) {
	case *warmRestarts:
		st.TI, st.TCur = r.tI, r.tCur
	case *cyclicRule:
		st.BaseMomentums = slices.Clone(r.baseMoms)
	}
	return st
}

func (l *leaf) load(st State, n int) error {
	if err := checkKind(st, l.kind); err != nil {
		return err
	}
	if err := checkVec("BaseLRs", st.BaseLRs, n); err != nil {
		return err
	}
	if st.LastEpoch < -1 || st.StepCount < 0 {
		return fmt.Errorf("schedule: %s state: last_epoch %d, step_count %d, want >= -1 and >= 0", l.kind, st.LastEpoch, st.StepCount)
	}
	switch r := l.rule.(type) {
	case *warmRestarts:
		if st.TI < 1 || st.TCur < -1 || st.TCur >= st.TI {
			return fmt.Errorf("schedule: %s state: T_i %d, T_cur %d, want T_i >= 1 and -1 <= T_cur < T_i", l.kind, st.TI, st.TCur)
		}
		r.tI, r.tCur = st.TI, st.TCur
	case *cyclicRule:
		if r.s.CycleMomentum {
			if err := checkVec("BaseMomentums", st.BaseMomentums, n); err != nil {
				return err
			}
			r.baseMoms = slices.Clone(st.BaseMomentums)
		}
	case *oneCycleRule:
		if st.LastEpoch > r.s.TotalSteps {
			return fmt.Errorf("schedule: OneCycleLR state: last_epoch %d, want <= TotalSteps %d", st.LastEpoch, r.s.TotalSteps)
		}
	}
	l.lastEpoch, l.stepCount, l.baseLRs = st.LastEpoch, st.StepCount, slices.Clone(st.BaseLRs)
	return nil
}

func (q *sequential) save() State {
	st := State{Kind: "SequentialLR", LastEpoch: q.lastEpoch}
	for _, l := range q.scheds {
		st.Schedulers = append(st.Schedulers, l.save())
	}
	return st
}

func (q *sequential) load(st State, n int) error {
	if err := checkKind(st, "SequentialLR"); err != nil {
		return err
	}
	if len(st.Schedulers) != len(q.scheds) || st.LastEpoch < 0 {
		return fmt.Errorf("schedule: SequentialLR state: %d schedulers, last_epoch %d, want %d and >= 0", len(st.Schedulers), st.LastEpoch, len(q.scheds))
	}
	for i, l := range q.scheds {
		if err := l.load(st.Schedulers[i], n); err != nil {
			return err
		}
	}
	q.lastEpoch = st.LastEpoch
	return nil
}

func (c *chained) save() State {
	st := State{Kind: "ChainedScheduler"}
	for _, n := range c.scheds {
		st.Schedulers = append(st.Schedulers, n.save())
	}
	return st
}

func (c *chained) load(st State, n int) error {
	if err := checkKind(st, "ChainedScheduler"); err != nil {
		return err
	}
	if len(st.Schedulers) != len(c.scheds) {
		return fmt.Errorf("schedule: ChainedScheduler state: %d schedulers, want %d", len(st.Schedulers), len(c.scheds))
	}
	for i, in := range c.scheds {
		if err := in.load(st.Schedulers[i], n); err != nil {
			return err
		}
	}
	return nil
}

func (p *plateau) save() State {
	return State{Kind: "ReduceLROnPlateau", LastEpoch: p.lastEpoch, Best: Float(p.best),
		NumBadEpochs: p.numBadEpochs, CooldownCounter: p.cooldownCounter}
}

func (p *plateau) load(st State, _ int) error {
	if err := checkKind(st, "ReduceLROnPlateau"); err != nil {
		return err
	}
	if st.LastEpoch < 0 || st.NumBadEpochs < 0 || st.CooldownCounter < 0 {
		return fmt.Errorf("schedule: ReduceLROnPlateau state: last_epoch %d, num_bad_epochs %d, cooldown_counter %d, want >= 0",
			st.LastEpoch, st.NumBadEpochs, st.CooldownCounter)
	}
	p.lastEpoch, p.best = st.LastEpoch, float64(st.Best)
	p.numBadEpochs, p.cooldownCounter = st.NumBadEpochs, st.CooldownCounter
	return nil
}
