package schedule

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

// TestRestoreContinuesBitForBit saves every recorded configuration's
// scheduler after k steps, carries the state through JSON into a new
// scheduler on a fresh target, and checks that both continue with the same
// bits.
func TestRestoreContinuesBitForBit(t *testing.T) {
	for _, g := range allGolden(t) {
		t.Run(g.Name, func(t *testing.T) {
			for _, k := range []int{0, 1, 7, g.Steps / 2, g.Steps - 1} {
				a := newFake(g.GroupLRs, 0.9)
				ra := newRun(t, g, a)
				for i := 1; i <= k; i++ {
					if err := ra.step(i); err != nil {
						t.Fatal(err)
					}
				}
				b := newFake(g.GroupLRs, 0.9)
				if cyclesMomentum(specFor(t, g.Scheduler, g.Args)) {
					b.mom[0] = 0.5 // anything: Restore sets the cycled momentum
				}
				rb := newRun(t, g, b)
				// The first scheduler too, restored first, as it was built.
				pairs := [][2]*Scheduler{{ra.sched, rb.sched}}
				if ra.first != nil {
					pairs = [][2]*Scheduler{{ra.first, rb.first}, {ra.sched, rb.sched}}
				}
				for _, p := range pairs {
					js, err := json.Marshal(p[0].State())
					if err != nil {
						t.Fatalf("k=%d: marshal: %v", k, err)
					}
					var st State
					if err := json.Unmarshal(js, &st); err != nil {
						t.Fatalf("k=%d: unmarshal: %v", k, err)
					}
					if !reflect.DeepEqual(normalize(st), normalize(p[0].State())) {
						t.Fatalf("k=%d: JSON changed the state:\n%s", k, js)
					}
					if err := p[1].Restore(st); err != nil {
						t.Fatalf("k=%d: Restore: %v", k, err)
					}
				}
				for i := k + 1; i <= g.Steps; i++ {
					ea, eb := ra.step(i), rb.step(i)
					if ea != nil || eb != nil {
						t.Fatalf("k=%d step %d: %v / %v", k, i, ea, eb)
					}
					if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(ra.stepper(i).LastLR(), rb.stepper(i).LastLR()) {
						t.Fatalf("k=%d step %d: original %v %v, restored %v %v", k, i, a.lr, a.mom, b.lr, b.mom)
					}
				}
			}
		})
	}
}

// normalize makes NaN comparable for DeepEqual.
func normalize(st State) State {
	if math.IsNaN(float64(st.Best)) {
		st.Best = 12345
	}
	return st
}

func TestFloatJSON(t *testing.T) {
	for _, x := range []float64{math.Inf(1), math.Inf(-1), 0, -1.5, 1e-300} {
		b, err := json.Marshal(Float(x))
		if err != nil {
			t.Fatal(err)
		}
		var f Float
		if err := json.Unmarshal(b, &f); err != nil || float64(f) != x {
			t.Errorf("%v -> %s -> %v (%v)", x, b, f, err)
		}
	}
	b, _ := json.Marshal(Float(math.NaN()))
	var f Float
	if err := json.Unmarshal(b, &f); err != nil || !math.IsNaN(float64(f)) {
		t.Errorf("NaN -> %s -> %v (%v)", b, f, err)
	}
}

func TestRestoreRefusesAndChangesNothing(t *testing.T) {
	tgt := newFake([]float64{0.1, 0.2}, 0.9)
	s, err := New(tgt, SequentialLR{
		Schedulers: []Spec{DefaultLinearLR(), CosineAnnealingLR{TMax: 10}},
		Milestones: []int{5},
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := s.Step(); err != nil {
			t.Fatal(err)
		}
	}
	good := s.State()
	lr := append([]float64(nil), tgt.lr...)
	bad := []func(*State){
		func(st *State) { st.Kind = "StepLR" },
		func(st *State) { st.GroupLR = st.GroupLR[:1] },
		func(st *State) { st.GroupLR[1] = math.NaN() },
		func(st *State) { st.Schedulers = st.Schedulers[:1] },
		func(st *State) { st.Schedulers[1].Kind = "LinearLR" },
		func(st *State) { st.Schedulers[1].BaseLRs = nil },
		func(st *State) { st.InitialLR = nil },
	}
	for i, f := range bad {
		st := s.State()
		st.Schedulers = append([]State(nil), st.Schedulers...)
		st.GroupLR = append([]float64(nil), st.GroupLR...)
		f(&st)
		if err := s.Restore(st); err == nil {
			t.Errorf("bad state %d restored", i)
		}
		if !reflect.DeepEqual(s.State(), good) || !reflect.DeepEqual(tgt.lr, lr) {
			t.Errorf("bad state %d changed the scheduler or the target", i)
		}
	}
	// A refusing target leaves both as they were.
	tgt.refuse = 2
	st := s.State()
	st.GroupLR = []float64{0.3, 0.4}
	if err := s.Restore(st); err == nil || !strings.Contains(err.Error(), "refuses") {
		t.Errorf("refused restore: %v", err)
	}
	if !reflect.DeepEqual(tgt.lr, lr) || !reflect.DeepEqual(s.State(), good) {
		t.Errorf("refused restore changed something: %v", tgt.lr)
	}
}
