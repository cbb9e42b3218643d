package optim

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"testing"

	"github.com/simdoptim/optim/generic"
)

// Tests of State and SetState: the state torch creates at a parameter's
// first step, and the scalar state.

// TestLazyState: before the first step the state does not exist (nil
// slices, zero scalars); the first step creates it as torch's does; a
// State with nil slices restores "not created yet", one with slices
// restores a state the next step continues from.
func TestLazyState(t *testing.T) {
	for _, c := range lazyConfigs(t) {
		rule := c.rule
		t.Run(ruleName(rule), func(t *testing.T) {
			p := []float64{1, -2, 3}
			g := []float64{0.5, 0.25, -1}
			o, err := New(rule, p)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := o.State(0)
			wantNotCreated(t, st)
			// The first step initializes from the LR of that step, not
			// the LR at New.
			if err := o.SetLR(0.02); err != nil {
				t.Fatal(err)
			}
			fresh, _ := New(withField(rule, "LR", 0.02), []float64{1, -2, 3})
			_ = fresh.Step(g)
			if err := o.Step(g); err != nil {
				t.Fatal(err)
			}
			st, _ = o.State(0)
			want, _ := fresh.State(0)
			if fingerprint(t, o) != fingerprint(t, fresh) {
				t.Fatalf("first step after SetLR: %+v, want %+v", st, want)
			}
			switch rule.(type) {
			case NAdam:
				if st.MuProduct == 0 || st.MuProduct == 1 {
					t.Errorf("MuProduct after a step = %v", st.MuProduct)
				}
			case ASGD:
				// eta advanced from lr = 0.02, mu = 1/max(1, 1-t0).
				if st.Eta == 0 || st.Eta == 0.02 || st.Mu != 1 {
					t.Errorf("Eta, Mu after a step = %v, %v", st.Eta, st.Mu)
				}
			case Rprop:
				if st.StepSize[0] != float64(float64(0.02)*1.0) {
					t.Errorf("StepSize after the first step = %v, want the LR 0.02 (prev was 0)", st.StepSize)
				}
			}

			// SetState with nil slices: the state is not created; the
			// next step is a first step again.
			if err := o.SetState(0, State[float64]{Step: 1}); err != nil {
				t.Fatal(err)
			}
			again, _ := o.State(0)
			if again.Step != 1 {
				t.Fatalf("State after SetState of nothing: %+v", again)
			}
			wantNotCreated(t, again)
			q := []float64{1, -2, 3}
			ref, _ := New(withField(rule, "LR", 0.02), q)
			_ = ref.SetSteps(1)
			copy(p, q)
			_ = o.Step(g)
			_ = ref.Step(g)
			if fingerprint(t, o) != fingerprint(t, ref) || firstDiff(p, q) >= 0 {
				t.Fatalf("step after SetState of nothing is not a first step")
			}

			// SetState of a saved state continues from it.
			o2, _ := New(withField(rule, "LR", 0.02), []float64{0, 0, 0})
			st, _ = o.State(0)
			if err := o2.SetState(0, st); err != nil {
				t.Fatal(err)
			}
			if fingerprint(t, o2) != fingerprint(t, o) {
				t.Fatalf("SetState(State()) differs")
			}
		})
	}
}

// wantNotCreated fails t unless st is the state of a parameter whose state
// the first step has not created: nil slices and zero scalars.
func wantNotCreated[T testFloat](t *testing.T, st State[T]) {
	t.Helper()
	for _, s := range stateSlices(st) {
		if s != nil {
			t.Fatalf("a state not created yet has a slice: %+v", st)
		}
	}
	for key, x := range scalarByKey(&st) {
		if *x != 0 {
			t.Fatalf("a state not created yet has %s: %+v", key, st)
		}
	}
}

// TestSetStateErrorsChangeNothing: a lazily created state given in part, a
// scalar that is not finite, a slice of the wrong length: typed errors,
// and nothing changed.
func TestSetStateErrorsChangeNothing(t *testing.T) {
	for _, c := range lazyConfigs(t) {
		o, err := New(c.rule, make([]float32, 3))
		if err != nil {
			t.Fatal(err)
		}
		_ = o.Step([]float32{1, 2, 3})
		before := snapshot(t, o)
		full := State[float32]{Step: 4}
		for _, s := range stateByKey(&full) {
			*s = make([]float32, 3)
		}
		for _, x := range scalarByKey(&full) {
			*x = 0.5
		}
		type setCase struct {
			name string
			st   State[float32]
			want any
		}
		var cases []setCase
		var kept []string
		for _, key := range c.state {
			if key != "" {
				kept = append(kept, key)
			}
		}
		if len(kept) > 0 {
			short := full
			for _, key := range kept {
				f := stateByKey(&short)[key]
				*f = (*f)[:2]
			}
			cases = append(cases, setCase{"short slices", short, new(*ShapeError)})
		}
		if len(kept) > 1 {
			// Only one of the slices given.
			for _, key := range kept {
				part := State[float32]{Step: 1}
				*stateByKey(&part)[key] = make([]float32, 3)
				for k, x := range scalarByKey(&part) {
					*x = *scalarByKey(&full)[k]
				}
				cases = append(cases, setCase{"only " + key, part, new(*StateError)})
			}
		}
		for _, key := range c.row.scalarKeys {
			if _, ok := scalarByKey(&full)[key]; !ok {
				continue // the step count
			}
			for _, v := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
				bad := full
				*scalarByKey(&bad)[key] = v
				cases = append(cases, setCase{fmt.Sprintf("%s %v", key, v), bad, new(*StateError)})
			}
		}
		for _, sc := range cases {
			err := o.SetState(0, sc.st)
			if err == nil || !errors.As(err, sc.want) {
				t.Errorf("%#v %s: %v, want %T", c.rule, sc.name, err, sc.want)
			}
			if !sameSnapshot(before, snapshot(t, o)) || o.Steps() != 1 {
				t.Errorf("%#v %s: a failed SetState changed the state", c.rule, sc.name)
			}
		}
		if err := o.SetState(0, full); err != nil {
			t.Errorf("%#v: SetState of a full state: %v", c.rule, err)
		}
	}
}

// TestScalarStateIsFloat32: NAdam's mu_product is rounded to float32 at
// every step, as torch's 0-dim float32 tensor, also for float64 params.
func TestScalarStateIsFloat32(t *testing.T) {
	o, _ := New(DefaultNAdam(), []float64{1})
	want := float32(1)
	for step := int64(1); step <= 5; step++ {
		_ = o.Step([]float64{1})
		mu := 0.9 * (1 - 0.5*math.Pow(0.96, float64(step)*4e-3))
		want = want * float32(mu)
		st, _ := o.State(0)
		// detmath.Pow is within 1 ulp of math.Pow: compare loosely, but
		// the value must be a float32 product.
		if math.Abs(float64(st.MuProduct-want)) > 1e-6 {
			t.Fatalf("step %d: MuProduct %v, want about %v", step, st.MuProduct, want)
		}
	}
}

// TestStateFieldsAreTorchKeys: State has one slice field for every state
// key of the kernels' descriptions and of the matrix rules' layouts (Muon,
// Adafactor) and one scalar field for every scalar key, named as torch
// names them, and no other.
func TestStateFieldsAreTorchKeys(t *testing.T) {
	slots, scalars := map[string]bool{}, map[string]bool{}
	for _, l := range []*tensorLayout{DefaultMuon().layout(), DefaultAdafactor().layout()} {
		for _, k := range l.keys[:l.slots] {
			slots[k] = true
		}
	}
	for _, d := range generic.Rules() {
		for _, s := range d.Slots {
			slots[s.Key] = true
		}
		for _, k := range d.ScalarKeys {
			scalars[k] = true
		}
	}
	var st State[float32]
	if got, want := slices.Sorted(maps.Keys(stateByKey(&st))), slices.Sorted(maps.Keys(slots)); !slices.Equal(got, want) {
		t.Errorf("State's slice fields are %v, the kernels' state keys %v", got, want)
	}
	if got, want := slices.Sorted(maps.Keys(scalarByKey(&st))), slices.Sorted(maps.Keys(scalars)); !slices.Equal(got, want) {
		t.Errorf("State's scalar fields are %v, the kernels' scalar keys %v", got, want)
	}
}

// TestLastStepCountRefused: SetState and SetSteps refuse the largest step
// count, after which every Step fails, as Load does, and change nothing.
func TestLastStepCountRefused(t *testing.T) {
	o, err := New(DefaultAdam(), make([]float32, 2))
	if err != nil {
		t.Fatal(err)
	}
	var se *StateError
	if err := o.SetSteps(math.MaxInt64); !errors.As(err, &se) || se.Key != "step" {
		t.Errorf("SetSteps(MaxInt64) = %v, want a *StateError", err)
	}
	st := State[float32]{Step: math.MaxInt64, ExpAvg: make([]float32, 2), ExpAvgSq: make([]float32, 2)}
	if err := o.SetState(0, st); !errors.As(err, &se) || se.Key != "step" {
		t.Errorf("SetState(step MaxInt64) = %v, want a *StateError", err)
	}
	if o.Steps() != 0 {
		t.Errorf("a refused call changed the step count to %d", o.Steps())
	}
}
