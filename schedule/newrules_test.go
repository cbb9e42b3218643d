package schedule

import (
	"reflect"
	"strings"
	"testing"

	"github.com/simdoptim/optim"
)

// TestMomentumCyclingDrivesBeta1: OneCycleLR and CyclicLR cycle β1 of the
// Adam family and Lion exactly as they cycle Adam's, as torch's schedulers
// cycle betas[0].
func TestMomentumCyclingDrivesBeta1(t *testing.T) {
	specs := map[string]Spec{"OneCycleLR": DefaultOneCycleLR(0.01, 20), "CyclicLR": func() Spec {
		c := DefaultCyclicLR(0.001, 0.01)
		c.StepSizeUp = 4
		return c
	}()}
	for name, spec := range specs {
		for _, r := range []optim.Rule{optim.DefaultNAdam(), optim.DefaultLion(), optim.DefaultRAdam(), optim.DefaultAdamax()} {
			ref, _ := optim.New(optim.DefaultAdam(), make([]float32, 2))
			o, err := optim.New(r, make([]float32, 2))
			if err != nil {
				t.Fatal(err)
			}
			sref, err := New(ref, spec)
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(o, spec)
			if err != nil {
				t.Fatalf("%s on %T: %v", name, r, err)
			}
			changed := false
			for k := range 20 {
				m, ok := o.GroupMomentum(0)
				want, _ := ref.GroupMomentum(0)
				beta1 := reflect.ValueOf(o.GroupRule(0)).FieldByName("Beta1").Float()
				if !ok || m != want || beta1 != want || o.GroupLR(0) != ref.GroupLR(0) {
					t.Fatalf("%s on %T, step %d: momentum %v (ok %v), Beta1 %v, lr %v; on Adam %v, lr %v", name, r, k, m, ok, beta1, o.GroupLR(0), want, ref.GroupLR(0))
				}
				changed = changed || m != 0.9 && m != 0.95
				if err := s.Step(); err != nil {
					t.Fatal(err)
				}
				if err := sref.Step(); err != nil {
					t.Fatal(err)
				}
			}
			if !changed {
				t.Errorf("%s on %T: β1 never cycled", name, r)
			}
		}
	}
}

// TestCyclingRefusedWithoutMomentum: Adadelta, Rprop and ASGD have no β1
// or momentum: cycling it is an error at New, as for Adagrad.
func TestCyclingRefusedWithoutMomentum(t *testing.T) {
	for _, r := range []optim.Rule{optim.DefaultAdadelta(), optim.DefaultRprop(), optim.DefaultASGD()} {
		o, err := optim.New(r, make([]float64, 2))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := New(o, DefaultOneCycleLR(0.1, 10)); err == nil || !strings.Contains(err.Error(), "momentum") {
			t.Errorf("OneCycleLR cycling momentum on %T: %v", r, err)
		}
		c := DefaultCyclicLR(0.01, 0.1)
		c.CycleMomentum = false
		if _, err := New(o, c); err != nil {
			t.Errorf("CyclicLR without momentum on %T: %v", r, err)
		}
	}
}
