package optim

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/simdoptim/optim/generic"
)

// Tests of the rules' public face: their defaults, validation, kernel,
// momentum and coefficients, for every row of ruleCases.

// TestRuleCasesCoverEveryKernel: the table has one row per kernel of
// generic.Rules(), in its order, and every rule value in a row is of the
// row's rule.
func TestRuleCasesCoverEveryKernel(t *testing.T) {
	cases := ruleCases()
	descs := generic.Rules()
	if len(cases) != len(descs) {
		t.Fatalf("%d rule cases for %d kernels: every rule needs its row in ruleCases", len(cases), len(descs))
	}
	for i, c := range cases {
		var rules []Rule
		for _, cl := range c.classes {
			rules = append(rules, cl.constructor, cl.torch)
		}
		rules = append(rules, c.accepts...)
		for _, cfg := range c.configs {
			rules = append(rules, cfg.rule)
		}
		rules = append(rules, c.digestConfigs...)
		for _, r := range rules {
			if ruleName(r) != c.name {
				t.Errorf("row %s holds a %s: %#v", c.name, ruleName(r), r)
			}
		}
		if k := mustKernelKind(t, c.classes[0].constructor); k != descs[i].Kind || k.String() != c.name {
			t.Errorf("row %d (%s) runs the kernel %v, want %v", i, c.name, k, descs[i].Kind)
		}
		if len(c.configs) == 0 || len(c.digestConfigs) == 0 {
			t.Errorf("%s: no configs or no digest configurations", c.name)
		}
	}
}

// TestDefaultsMatchTorch pins every Default* constructor to torch.optim's
// documented constructor defaults (torch 2.x; Lion: lion-pytorch's).
func TestDefaultsMatchTorch(t *testing.T) {
	for _, c := range ruleCases() {
		for _, cl := range c.classes {
			if cl.constructor != cl.torch {
				t.Errorf("the default of %s = %#v, want torch's %#v", cl.name, cl.constructor, cl.torch)
			}
			if _, err := New[float32](cl.constructor, make([]float32, 1)); err != nil {
				t.Errorf("the default of %s is rejected: %v", cl.name, err)
			}
		}
	}
}

// TestHyperparameterRanges tries every float64 field of every rule at the
// values of its range, on every class's default: the valid ones are
// accepted in both element types, the invalid ones rejected by New, by
// Coefficients and behind a pointer, with a HyperparameterError naming
// the rule, the field and the value, and nothing changed. The rules at
// several edges at once (every row's accepts) are accepted.
func TestHyperparameterRanges(t *testing.T) {
	p := []float64{1, 2, 3}
	p0 := slices.Clone(p)
	for _, c := range ruleCases() {
		t.Run(c.name, func(t *testing.T) {
			var floats []string
			typ := reflect.TypeOf(c.classes[0].constructor)
			for i := range typ.NumField() {
				if typ.Field(i).Type.Kind() == reflect.Float64 {
					floats = append(floats, typ.Field(i).Name)
				}
			}
			var ranged []string
			for _, f := range c.ranges {
				ranged = append(ranged, f.field)
			}
			if !slices.Equal(slices.Sorted(slices.Values(ranged)), slices.Sorted(slices.Values(floats))) {
				t.Errorf("ranges cover %v, want every float64 field %v", ranged, floats)
			}
			for _, cl := range c.classes {
				// Errors name the rule by its type, or by the torch class a
				// flag of it selects (AdamW), not by torch's spelling of the
				// type's own class (RMSprop).
				name := c.name
				if !strings.EqualFold(cl.name, c.name) {
					name = cl.name
				}
				for _, f := range c.ranges {
					for _, v := range f.valid {
						wantAccepted(t, withField(cl.constructor, f.field, v))
					}
					for _, v := range f.invalid {
						r := withField(cl.constructor, f.field, v)
						wantRejected(t, r, p, name+"."+f.field, fmt.Sprint(v))
						var he *HyperparameterError
						_, err := New(r, p)
						if !errors.As(err, &he) || he.Rule != name || he.Field != f.field || he.Group != 0 {
							t.Errorf("New(%#v): %v, want a HyperparameterError on %s.%s", r, err, name, f.field)
						}
					}
				}
			}
			for _, r := range c.accepts {
				wantAccepted(t, r)
			}
		})
	}
	if firstDiff(p, p0) >= 0 {
		t.Error("a failed New changed its params")
	}
}

// wantAccepted fails t unless New accepts r in both element types.
func wantAccepted(t *testing.T, r Rule) {
	t.Helper()
	if _, err := New(r, make([]float32, 2)); err != nil {
		t.Errorf("New[float32](%#v): %v, want it accepted", r, err)
	}
	if _, err := New(r, make([]float64, 2)); err != nil {
		t.Errorf("New[float64](%#v): %v, want it accepted", r, err)
	}
}

// wantRejected fails t unless New in both element types and Coefficients,
// of r and of a pointer to r, return an error mentioning every string of
// want, without a panic.
func wantRejected(t *testing.T, r Rule, p []float64, want ...string) {
	t.Helper()
	name := fmt.Sprintf("%#v", r)
	var err error
	noPanic(t, name, func() { _, err = New[float64](r, p) })
	wantError(t, "New("+name+")", err, want...)
	noPanic(t, name, func() { _, err = New[float32](r, make([]float32, 3)) })
	wantError(t, "New[float32]("+name+")", err, want...)
	noPanic(t, name, func() { _, _, err = Coefficients[float32](r, 1) })
	wantError(t, "Coefficients("+name+")", err, want...)
	ptr := pointerTo(r)
	noPanic(t, name, func() { _, err = New[float64](ptr, p) })
	wantError(t, fmt.Sprintf("New(&%s)", name), err, want...)
	noPanic(t, name, func() { _, _, err = Coefficients[float64](ptr, 1) })
	wantError(t, fmt.Sprintf("Coefficients(&%s)", name), err, want...)
}

// TestInconsistentRulesRejected: a rule whose fields are each in range
// but which New rejects as a whole (every row's rejects): a literal that
// leaves Eps out, which would silently produce 0/0 = NaN, or options that
// contradict each other. Zero stays expressible where it is meaningful.
func TestInconsistentRulesRejected(t *testing.T) {
	p := []float64{1, 2, 3}
	for _, c := range ruleCases() {
		for _, rc := range c.rejects {
			wantRejected(t, rc.rule, p, rc.want...)
		}
	}
	// Beta1 = 0 and Beta2 = 0 are real configurations.
	q := []float32{1, 2}
	o, err := New(Adam{LR: 1e-3, Eps: 1e-8}, q)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Step([]float32{0, 0}); err != nil {
		t.Fatal(err)
	}
	if q[0] != 1 || q[1] != 2 {
		t.Errorf("Adam with zero betas on a zero gradient moved p to %v", q)
	}
}

// TestElementTypeRange: hyperparameters are validated as the element type
// sees them: every scalar of step 1 must be finite in it, and Rprop's
// factors must stay on their side of 1.
func TestElementTypeRange(t *testing.T) {
	for _, c := range ruleCases() {
		for _, o := range c.overflows {
			var he *HyperparameterError
			_, err := New(o.rule, make([]float32, 2))
			if !errors.As(err, &he) || he.Field != o.field || !strings.Contains(err.Error(), "float32") {
				t.Errorf("New[float32](%#v): %v, want a HyperparameterError on %s", o.rule, err, o.field)
			}
			if _, _, err := Coefficients[float32](o.rule, 1); !errors.As(err, &he) {
				t.Errorf("Coefficients[float32](%#v): %v", o.rule, err)
			}
			if _, err = New(o.rule, make([]float64, 2)); o.alsoFloat64 != (err != nil) {
				t.Errorf("New[float64](%#v): %v, want an error: %v", o.rule, err, o.alsoFloat64)
			}
		}
		// SetLR is checked for the element type too.
		def := c.classes[0].constructor
		o, _ := New(def, make([]float32, 1))
		if err := o.SetLR(1e39); err == nil || o.LR() != reflectLR(def) {
			t.Errorf("%s: SetLR(1e39) on float32: %v, LR %v", c.name, err, o.LR())
		}
	}
}

// embeddedAdam, embeddedNilSGD, ... embed a rule, and so have its methods:
// they must still be refused, without calling the methods (a nil embedded
// pointer would panic).
type embeddedAdam struct{ Adam }
type embeddedNilSGD struct{ *SGD }
type embeddedNAdam struct{ NAdam }
type embeddedNilRprop struct{ *Rprop }
type embeddedLion struct{ Lion }

// TestEmbeddedRulesRejected: a type that embeds a rule is not a rule; the
// error lists every rule of the package.
func TestEmbeddedRulesRejected(t *testing.T) {
	for _, r := range []Rule{embeddedAdam{DefaultAdam()}, &embeddedAdam{DefaultAdam()}, embeddedNilSGD{}, embeddedNilSGD{&SGD{LR: 1}},
		embeddedNAdam{DefaultNAdam()}, &embeddedLion{DefaultLion()}, embeddedNilRprop{}, embeddedNilRprop{&Rprop{}}} {
		var re *RuleError
		var err error
		noPanic(t, "New", func() { _, err = New(r, make([]float32, 2)) })
		if !errors.As(err, &re) || !strings.Contains(err.Error(), "not a rule of this package") {
			t.Errorf("New(%T): %v", r, err)
		}
		for _, c := range ruleCases() {
			if err != nil && !strings.Contains(err.Error(), c.name) {
				t.Errorf("New(%T): %q does not list %s", r, err, c.name)
			}
		}
		noPanic(t, "Coefficients", func() { _, _, err = Coefficients[float64](r, 1) })
		if !errors.As(err, &re) {
			t.Errorf("Coefficients(%T): %v", r, err)
		}
		noPanic(t, "CoefficientsWith", func() { _, _, _, err = CoefficientsWith[float64](r, 1, true, Scalars{}) })
		if !errors.As(err, &re) {
			t.Errorf("CoefficientsWith(%T): %v", r, err)
		}
		o, _ := New(DefaultAdam(), make([]float32, 2))
		noPanic(t, "SetGroupRule", func() { err = o.SetGroupRule(0, r) })
		if !errors.As(err, &re) || re.Group != 0 {
			t.Errorf("SetGroupRule(%T): %v", r, err)
		}
		noPanic(t, "AddGroup", func() { err = o.AddGroup(Group[float32]{Rule: r, Params: [][]float32{make([]float32, 1)}}) })
		if !errors.As(err, &re) || re.Group != 1 {
			t.Errorf("AddGroup(%T): %v", r, err)
		}
	}
}

// TestKernelKind: the exported kind of every rule, as a value and as a
// pointer, is the kernel the row names; an invalid rule is an error.
func TestKernelKind(t *testing.T) {
	for i, c := range ruleCases() {
		want := generic.Rules()[i].Kind
		for _, cfg := range c.configs {
			for _, r := range []Rule{cfg.rule, pointerTo(cfg.rule)} {
				if got, err := KernelKind(r); err != nil || got != want {
					t.Errorf("KernelKind(%#v) = %v, %v; want %v", r, got, err, want)
				}
			}
		}
		for _, rc := range c.rejects {
			if _, err := KernelKind(rc.rule); err == nil {
				t.Errorf("KernelKind(%#v): no error", rc.rule)
			}
		}
	}
	if _, err := KernelKind(nil); err == nil {
		t.Error("KernelKind(nil): no error")
	}
}

// TestGroupMomentum: GroupMomentum reads, and SetGroupMomentum sets, the
// field the row names (the schedulers cycle it as torch's cycle momentum
// or betas[0]); a rule without momentum has none and refuses it.
func TestGroupMomentum(t *testing.T) {
	for _, c := range ruleCases() {
		for _, cfg := range c.configs {
			o, err := New(cfg.rule, make([]float32, 2))
			if err != nil {
				t.Fatal(err)
			}
			m, ok := o.GroupMomentum(0)
			if c.momentum == "" {
				if ok {
					t.Errorf("%#v: GroupMomentum = %v, true", cfg.rule, m)
				}
				if err := o.SetGroupMomentum(0, 0.5); !errors.Is(err, ErrNoMomentum) {
					t.Errorf("%#v: SetGroupMomentum: %v, want ErrNoMomentum", cfg.rule, err)
				}
				continue
			}
			if want := reflectField(cfg.rule, c.momentum).(float64); !ok || m != want {
				t.Errorf("%#v: GroupMomentum = %v, %v, want %s", cfg.rule, m, ok, c.momentum)
			}
			if err := o.SetGroupMomentum(0, 0.5); err != nil {
				t.Errorf("%#v: SetGroupMomentum(0.5): %v", cfg.rule, err)
			}
			if got := reflectField(o.GroupRule(0), c.momentum).(float64); got != 0.5 {
				t.Errorf("%#v: after SetGroupMomentum(0.5), the rule is %#v", cfg.rule, o.GroupRule(0))
			}
		}
	}
}

// TestCoefficientsReplaysScalars: the stateless Coefficients of step t is
// the step of a run under the same rule from step 1, as CoefficientsWith
// chains it.
func TestCoefficientsReplaysScalars(t *testing.T) {
	for _, c := range caseConfigs() {
		var sc Scalars
		for step := int64(1); step <= 12; step++ {
			want, wv, next, err := CoefficientsWith[float32](c.rule, step, step == 1, sc)
			if err != nil {
				t.Fatal(err)
			}
			sc = next
			got, gv, err := Coefficients[float32](c.rule, step)
			if err != nil {
				t.Fatal(err)
			}
			if got != want || gv != wv {
				t.Fatalf("%#v step %d: Coefficients %+v %v, chained %+v %v", c.rule, step, got, gv, want, wv)
			}
		}
	}
	if _, _, _, err := CoefficientsWith[float32](DefaultNAdam(), 0, true, Scalars{}); err == nil {
		t.Error("CoefficientsWith step 0: no error")
	}
	// Past mu_product's underflow (about step 1,000 for β1 = 0.9), and at
	// a step number no loop could reach: ASGD's scalars depend on the
	// previous step's number alone, and NAdam's product stays 0.
	for _, rule := range []Rule{DefaultNAdam(), ASGD{LR: 0.05, Lambd: 0.1, Alpha: 0.5, T0: 100}} {
		var sc Scalars
		for step := int64(1); step <= 3000; step++ {
			want, wv, next, err := CoefficientsWith[float64](rule, step, step == 1, sc)
			if err != nil {
				t.Fatal(err)
			}
			sc = next
			if step%500 != 0 {
				continue
			}
			if got, gv, err := Coefficients[float64](rule, step); err != nil || got != want || gv != wv {
				t.Fatalf("%#v step %d: Coefficients %+v %v %v, chained %+v %v", rule, step, got, gv, err, want, wv)
			}
		}
		if _, _, err := Coefficients[float64](rule, 1<<50); err != nil {
			t.Fatalf("%#v step 2^50: %v", rule, err)
		}
	}
}
