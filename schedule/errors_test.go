package schedule

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestInvalidArgumentsNameTheField(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	cyc := func(f func(*CyclicLR)) CyclicLR { s := DefaultCyclicLR(0.01, 0.1); f(&s); return s }
	one := func(f func(*OneCycleLR)) OneCycleLR { s := DefaultOneCycleLR(0.1, 100); f(&s); return s }
	pl := func(f func(*ReduceLROnPlateau)) ReduceLROnPlateau { s := DefaultReduceLROnPlateau(); f(&s); return s }
	for _, c := range []struct {
		spec        Spec
		kind, field string
	}{
		{LambdaLR{}, "LambdaLR", "Lambdas"},
		{LambdaLR{Lambdas: []func(int) float64{nil}}, "LambdaLR", "Lambdas[0]"},
		{MultiplicativeLR{Lambdas: make([]func(int) float64, 3)}, "MultiplicativeLR", "Lambdas"},
		{StepLR{Gamma: 0.1}, "StepLR", "StepSize"},
		{StepLR{StepSize: 1, Gamma: nan}, "StepLR", "Gamma"},
		{MultiStepLR{Gamma: inf}, "MultiStepLR", "Gamma"},
		{ConstantLR{Factor: 1.5, TotalIters: 5}, "ConstantLR", "Factor"},
		{ConstantLR{Factor: 0, TotalIters: 5}, "ConstantLR", "Factor"},
		{ConstantLR{Factor: 0.5, TotalIters: -1}, "ConstantLR", "TotalIters"},
		{LinearLR{StartFactor: 0, EndFactor: 1, TotalIters: 5}, "LinearLR", "StartFactor"},
		{LinearLR{StartFactor: 0.5, EndFactor: nan, TotalIters: 5}, "LinearLR", "EndFactor"},
		{ExponentialLR{Gamma: -0.5}, "ExponentialLR", "Gamma"},
		{PolynomialLR{TotalIters: 5, Power: -1}, "PolynomialLR", "Power"},
		{CosineAnnealingLR{}, "CosineAnnealingLR", "TMax"},
		{CosineAnnealingLR{TMax: 3, EtaMin: inf}, "CosineAnnealingLR", "EtaMin"},
		{CosineAnnealingWarmRestarts{T0: 3}, "CosineAnnealingWarmRestarts", "TMult"},
		{CosineAnnealingWarmRestarts{TMult: 1}, "CosineAnnealingWarmRestarts", "T0"},
		{cyc(func(s *CyclicLR) { s.MaxLR = []float64{0.1, 0.2, 0.3} }), "CyclicLR", "MaxLR"},
		{cyc(func(s *CyclicLR) { s.BaseLR = []float64{nan} }), "CyclicLR", "BaseLR[0]"},
		{cyc(func(s *CyclicLR) { s.Mode = "" }), "CyclicLR", "Mode"},
		{cyc(func(s *CyclicLR) { s.ScaleFn = math.Sqrt; s.ScaleMode = "" }), "CyclicLR", "ScaleMode"},
		{cyc(func(s *CyclicLR) { s.StepSizeUp = 0 }), "CyclicLR", "StepSizeUp"},
		{cyc(func(s *CyclicLR) { s.MaxMomentum = nil }), "CyclicLR", "MaxMomentum"},
		{cyc(func(s *CyclicLR) { s.Gamma = inf }), "CyclicLR", "Gamma"},
		{one(func(s *OneCycleLR) { s.PctStart = 1.5 }), "OneCycleLR", "PctStart"},
		{one(func(s *OneCycleLR) { s.TotalSteps = 0 }), "OneCycleLR", "TotalSteps"},
		{one(func(s *OneCycleLR) { s.AnnealStrategy = "cosine" }), "OneCycleLR", "AnnealStrategy"},
		{one(func(s *OneCycleLR) { s.DivFactor = 0 }), "OneCycleLR", "DivFactor"},
		{one(func(s *OneCycleLR) { s.FinalDivFactor = nan }), "OneCycleLR", "FinalDivFactor"},
		{one(func(s *OneCycleLR) { s.BaseMomentum = []float64{inf} }), "OneCycleLR", "BaseMomentum[0]"},
		{one(func(s *OneCycleLR) { s.PctStart = 0.01 }), "OneCycleLR", "PctStart"}, // a first phase of no steps
		{one(func(s *OneCycleLR) { s.PctStart = 1 }), "OneCycleLR", "PctStart"},    // a last phase of no steps
		{one(func(s *OneCycleLR) { s.TotalSteps, s.PctStart, s.ThreePhase = 3, 2.0/3, true }), "OneCycleLR", "PctStart"},
		{SWALR{AnnealEpochs: 10, AnnealStrategy: "cos"}, "SWALR", "SwaLR"},
		{SWALR{SwaLR: []float64{-0.1}, AnnealEpochs: 10, AnnealStrategy: "cos"}, "SWALR", "SwaLR[0]"},
		{SWALR{SwaLR: []float64{0.1, 0.2, 0.3}, AnnealEpochs: 10, AnnealStrategy: "cos"}, "SWALR", "SwaLR"},
		{SWALR{SwaLR: []float64{0.1}, AnnealEpochs: -1, AnnealStrategy: "cos"}, "SWALR", "AnnealEpochs"},
		{SWALR{SwaLR: []float64{0.1}, AnnealEpochs: 10}, "SWALR", "AnnealStrategy"},
		{SequentialLR{Schedulers: []Spec{DefaultConstantLR(), LinearLR{StartFactor: 0.5, TotalIters: 0}}, Milestones: []int{3}}, "SequentialLR.Schedulers[1].LinearLR", "TotalIters"},
		{SequentialLR{Schedulers: []Spec{DefaultConstantLR(), PolynomialLR{Power: 1}}, Milestones: []int{3}}, "SequentialLR.Schedulers[1].PolynomialLR", "TotalIters"},
		{ReduceLROnPlateau{}, "ReduceLROnPlateau", "Mode"},
		{pl(func(s *ReduceLROnPlateau) { s.Factor = 1 }), "ReduceLROnPlateau", "Factor"},
		{pl(func(s *ReduceLROnPlateau) { s.ThresholdMode = "relative" }), "ReduceLROnPlateau", "ThresholdMode"},
		{pl(func(s *ReduceLROnPlateau) { s.MinLR = []float64{-1} }), "ReduceLROnPlateau", "MinLR[0]"},
		{pl(func(s *ReduceLROnPlateau) { s.Eps = nan }), "ReduceLROnPlateau", "Eps"},
		{pl(func(s *ReduceLROnPlateau) { s.Patience = -1 }), "ReduceLROnPlateau", "Patience"},
		{SequentialLR{Schedulers: []Spec{DefaultConstantLR()}, Milestones: []int{3}}, "SequentialLR", "Milestones"},
		{SequentialLR{Schedulers: []Spec{DefaultConstantLR(), DefaultLinearLR()}, Milestones: []int{-3}}, "SequentialLR", "Milestones[0]"},
		{SequentialLR{Schedulers: []Spec{DefaultConstantLR(), ChainedScheduler{}}, Milestones: []int{3}}, "SequentialLR", "Schedulers[1]"},
		{SequentialLR{Schedulers: []Spec{DefaultConstantLR(), StepLR{}}, Milestones: []int{3}}, "SequentialLR.Schedulers[1].StepLR", "StepSize"},
		{ChainedScheduler{}, "ChainedScheduler", "Schedulers"},
		{ChainedScheduler{Schedulers: []Spec{DefaultReduceLROnPlateau()}}, "ChainedScheduler", "Schedulers[0]"},
		{ChainedScheduler{Schedulers: []Spec{nil}}, "ChainedScheduler", "Schedulers[0]"},
		{ChainedScheduler{Schedulers: []Spec{(*ReduceLROnPlateau)(nil)}}, "ChainedScheduler", "Schedulers[0]"},
		{SequentialLR{Schedulers: []Spec{(*SequentialLR)(nil), DefaultConstantLR()}, Milestones: []int{1}}, "SequentialLR", "Schedulers[0]"},
		{SequentialLR{Schedulers: []Spec{DefaultConstantLR(), &ChainedScheduler{}}, Milestones: []int{1}}, "SequentialLR", "Schedulers[1]"},
	} {
		tgt := newFake([]float64{0.1, 0.2}, 0.9)
		before := append([]float64(nil), tgt.lr...)
		_, err := New(tgt, c.spec)
		var ae *ArgError
		if !errors.As(err, &ae) || ae.Spec != c.kind || ae.Field != c.field || ae.Want == "" {
			t.Errorf("%T: got %v, want an ArgError for %s.%s", c.spec, err, c.kind, c.field)
			continue
		}
		if !strings.Contains(err.Error(), c.kind+"."+c.field) {
			t.Errorf("message %q does not name %s.%s", err, c.kind, c.field)
		}
		if !reflect.DeepEqual(tgt.lr, before) {
			t.Errorf("%T: a refused spec changed the target", c.spec)
		}
	}
}

func TestTargetErrors(t *testing.T) {
	if _, err := New(nil, DefaultConstantLR()); err == nil {
		t.Error("nil target accepted")
	}
	if _, err := New(newFake([]float64{0.1}, 0.9), nil); err == nil {
		t.Error("nil spec accepted")
	}
	if _, err := New(newFake([]float64{0.1}, 0.9), (*StepLR)(nil)); err == nil {
		t.Error("nil *StepLR accepted")
	}
	if _, err := New(newFake(nil, 0.9), DefaultConstantLR()); err == nil {
		t.Error("target without groups accepted")
	}
	// A pointer to a spec works as the spec does.
	if _, err := New(newFake([]float64{0.1}, 0.9), &StepLR{StepSize: 2, Gamma: 0.5}); err != nil {
		t.Errorf("*StepLR: %v", err)
	}

	// Cycling momentum of a group without momentum (Adagrad) is refused at
	// New, as torch raises; without cycling it is fine.
	adagrad := &fakeTarget{lr: []float64{0.1}}
	if _, err := New(adagrad, DefaultOneCycleLR(0.1, 10)); err == nil || !strings.Contains(err.Error(), "momentum") {
		t.Errorf("OneCycleLR cycling momentum on Adagrad: %v", err)
	}
	if _, err := New(adagrad, ChainedScheduler{Schedulers: []Spec{DefaultConstantLR(), DefaultCyclicLR(0.01, 0.1)}}); err == nil {
		t.Error("chained CyclicLR cycling momentum on Adagrad accepted")
	}
	c := DefaultCyclicLR(0.01, 0.1)
	c.CycleMomentum = false
	if _, err := New(adagrad, c); err != nil {
		t.Errorf("CyclicLR without momentum on Adagrad: %v", err)
	}

	// The wrong step method.
	s, err := New(newFake([]float64{0.1}, 0.9), DefaultReduceLROnPlateau())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Step(); err == nil {
		t.Error("Step on ReduceLROnPlateau accepted")
	}
	s, err = New(newFake([]float64{0.1}, 0.9), DefaultConstantLR())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.StepMetric(1); err == nil {
		t.Error("StepMetric on ConstantLR accepted")
	}
}

// TestStepFailsWhole checks that a step the target refuses, or torch would
// raise on, changes neither the target nor the scheduler.
func TestStepFailsWhole(t *testing.T) {
	tgt := newFake([]float64{0.1, 0.2}, 0.9)
	s, err := New(tgt, DefaultOneCycleLR(0.1, 3))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := s.Step(); err != nil {
			t.Fatal(err)
		}
	}
	snap := func() any {
		return []any{append([]float64(nil), tgt.lr...), append([]float64(nil), tgt.mom...), s.State(), s.LastLR()}
	}
	before := snap()
	if err := s.Step(); err == nil || !strings.Contains(err.Error(), "TotalSteps") {
		t.Errorf("step past TotalSteps: %v", err)
	}
	if !reflect.DeepEqual(snap(), before) {
		t.Error("a step past TotalSteps changed something")
	}

	tgt = newFake([]float64{0.1, 0.2}, 0.9)
	s, err = New(tgt, DefaultCyclicLR(0.01, 0.1))
	if err != nil {
		t.Fatal(err)
	}
	before = snap()
	tgt.refuse = 2
	if err := s.Step(); err == nil {
		t.Error("refused step accepted")
	}
	if !reflect.DeepEqual(snap(), before) {
		t.Errorf("a refused step changed something: %v", snap())
	}
	tgt.refuse = 0
	if err := s.Step(); err != nil {
		t.Fatal(err)
	}

	// A target whose group count changed.
	tgt.lr, tgt.mom = append(tgt.lr, 0.3), append(tgt.mom, 0.9)
	if err := s.Step(); err == nil {
		t.Error("step with a new group accepted")
	}
}

// TestLambdaNaN checks that a lambda returning NaN is an error, as the
// optimizer would refuse the rate.
func TestLambdaNaN(t *testing.T) {
	tgt := newFake([]float64{0.1}, 0.9)
	s, err := New(tgt, LambdaLR{Lambdas: []func(int) float64{func(e int) float64 {
		if e == 2 {
			return math.NaN()
		}
		return 1
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Step(); err != nil {
		t.Fatal(err)
	}
	if err := s.Step(); err == nil || tgt.lr[0] != 0.1 {
		t.Errorf("NaN rate: %v, lr %v", err, tgt.lr[0])
	}
}
