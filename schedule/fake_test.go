package schedule

import (
	"fmt"
	"math"
)

// fakeTarget is a Target of plain slices: SGD with momentum or Adam with β1
// per group, or groups without momentum when mom is nil.
type fakeTarget struct {
	lr, mom []float64
	// refuse, when set, makes SetGroupLR fail for that group (1-based).
	refuse int
}

func newFake(lrs []float64, momentum float64) *fakeTarget {
	t := &fakeTarget{lr: append([]float64(nil), lrs...), mom: make([]float64, len(lrs))}
	for i := range t.mom {
		t.mom[i] = momentum
	}
	return t
}

func (t *fakeTarget) Groups() int           { return len(t.lr) }
func (t *fakeTarget) GroupLR(i int) float64 { return t.lr[i] }
func (t *fakeTarget) SetGroupLR(i int, lr float64) error {
	if t.refuse == i+1 {
		return fmt.Errorf("fake: group %d refuses lr %v", i, lr)
	}
	if math.IsNaN(lr) || math.IsInf(lr, 0) { // torch lets OneCycleLR go negative past TotalSteps-1
		return fmt.Errorf("fake: lr %v", lr)
	}
	t.lr[i] = lr
	return nil
}
func (t *fakeTarget) GroupMomentum(i int) (float64, bool) {
	if t.mom == nil {
		return 0, false
	}
	return t.mom[i], true
}
func (t *fakeTarget) SetGroupMomentum(i int, m float64) error {
	if t.mom == nil {
		return fmt.Errorf("fake: group %d has no momentum", i)
	}
	t.mom[i] = m
	return nil
}
