package schedule

import (
	"strings"
	"testing"

	"github.com/simdoptim/optim"
)

// TestSchedulerAfterAddGroup: a scheduler built before AddGroup refuses to
// step, saying how to go on, and changes nothing; a new Scheduler from New
// schedules every group, starting from the rates the groups have then.
func TestSchedulerAfterAddGroup(t *testing.T) {
	o, err := optim.New(optim.SGD{LR: 0.1}, make([]float32, 4))
	if err != nil {
		t.Fatal(err)
	}
	spec := DefaultStepLR(1)
	s, err := New(o, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Step(); err != nil {
		t.Fatal(err)
	}
	if err := o.AddGroup(optim.Group[float32]{Rule: optim.SGD{LR: 0.5}, Params: [][]float32{make([]float32, 2)}}); err != nil {
		t.Fatal(err)
	}
	before := []float64{o.GroupLR(0), o.GroupLR(1)}
	err = s.Step()
	if err == nil || !strings.Contains(err.Error(), "attach a new Scheduler with New") {
		t.Fatalf("Step after AddGroup = %v, want an error that says to attach a new Scheduler", err)
	}
	if got := []float64{o.GroupLR(0), o.GroupLR(1)}; got[0] != before[0] || got[1] != before[1] {
		t.Fatalf("a refused Step changed the rates: %v, was %v", got, before)
	}
	s, err = New(o, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Step(); err != nil {
		t.Fatal(err)
	}
	for i, lr := range before {
		if got, want := o.GroupLR(i), lr*0.1; got != want {
			t.Errorf("group %d: rate %v after the new scheduler's step, want %v", i, got, want)
		}
	}
}
