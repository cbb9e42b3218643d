package schedule

import (
	"errors"
	"strings"
	"testing"
)

// TestNewRefusesTypesThatEmbedASpec: a type declared outside the package
// that embeds a spec implements Spec through the promoted unexported
// methods; with an embedded nil pointer, calling any of them panics. New
// must refuse such a type with an *ArgError, at the top level and nested
// inside SequentialLR and ChainedScheduler, before calling a method.
func TestNewRefusesTypesThatEmbedASpec(t *testing.T) {
	step := DefaultStepLR(2)
	plateau := DefaultReduceLROnPlateau()
	cases := []struct {
		name string
		spec Spec
		want string // a part of the message: where the spec sits
	}{
		{"embedded nil pointer", struct{ *StepLR }{}, "New.spec"},
		{"embedded pointer", struct{ *StepLR }{&step}, "New.spec"},
		{"embedded value", struct{ StepLR }{step}, "New.spec"},
		{"pointer to a wrapper", &struct{ StepLR }{step}, "New.spec"},
		{"wrapper of ReduceLROnPlateau in SequentialLR",
			SequentialLR{Schedulers: []Spec{step, struct{ ReduceLROnPlateau }{plateau}}, Milestones: []int{3}},
			"SequentialLR.Schedulers[1]"},
		{"embedded nil pointer in SequentialLR",
			SequentialLR{Schedulers: []Spec{struct{ *StepLR }{}, step}, Milestones: []int{3}},
			"SequentialLR.Schedulers[0]"},
		{"embedded nil pointer in ChainedScheduler",
			ChainedScheduler{Schedulers: []Spec{step, struct{ *ReduceLROnPlateau }{}}},
			"ChainedScheduler.Schedulers[1]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tgt := newFake([]float64{0.1}, 0.9)
			s, err := New(tgt, c.spec)
			var ae *ArgError
			if !errors.As(err, &ae) {
				t.Fatalf("New = %v, %v; want an *ArgError", s, err)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "embeds a spec") {
				t.Errorf("error %q does not say %q and that embedding is refused", err, c.want)
			}
			if tgt.lr[0] != 0.1 || tgt.mom[0] != 0.9 {
				t.Errorf("a refused spec changed the target: lr %v, momentum %v", tgt.lr[0], tgt.mom[0])
			}
		})
	}
}

// TestNewAcceptsPointersToSpecs: refusing foreign types must keep pointers
// to this package's specs, nested ones included.
func TestNewAcceptsPointersToSpecs(t *testing.T) {
	step := DefaultStepLR(2)
	for _, spec := range []Spec{&step, &SequentialLR{Schedulers: []Spec{&step, step}, Milestones: []int{3}}} {
		if _, err := New(newFake([]float64{0.1}, 0.9), spec); err != nil {
			t.Errorf("New(%T) = %v", spec, err)
		}
	}
}
