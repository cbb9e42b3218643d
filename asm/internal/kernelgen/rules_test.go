package kernelgen

import (
	"slices"
	"testing"

	"github.com/simdoptim/optim/generic"
)

// TestStateParams checks the parameter names of the state slices: the
// state keys in lower camel case, refused when one is not an identifier or
// repeats another parameter's name.
func TestStateParams(t *testing.T) {
	rule := func(keys ...string) generic.RuleDesc {
		r := generic.RuleDesc{GoName: "Test"}
		for _, k := range keys {
			r.Slots = append(r.Slots, generic.Slot{Key: k})
		}
		return r
	}
	got, err := StateParams(rule("exp_avg", "max_exp_avg_sq", "ax"))
	if want := []string{"expAvg", "maxExpAvgSq", "ax"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("StateParams = %v, %v; want %v", got, err, want)
	}
	for _, keys := range [][]string{{"g"}, {"type"}, {"2nd"}, {"exp_avg", "expAvg"}} {
		if got, err := StateParams(rule(keys...)); err == nil {
			t.Errorf("keys %q give %v, want an error", keys, got)
		}
	}
}

// TestUsedUnder checks how the documentation states when a slot is used:
// not at all when always, by the bits that decide it when some do, and by
// the list of variants otherwise.
func TestUsedUnder(t *testing.T) {
	r := generic.RuleDesc{Axes: [][]generic.Variant{{0, generic.VarWeightDecay}, {0, generic.VarAMSGrad}}}
	for _, tc := range []struct {
		used func(generic.Variant) bool
		want string
	}{
		{func(generic.Variant) bool { return true }, ""},
		{func(v generic.Variant) bool { return v&generic.VarAMSGrad != 0 }, "under VarAMSGrad"},
		{func(v generic.Variant) bool { return v == generic.VarWeightDecay|generic.VarAMSGrad }, "under VarWeightDecay | VarAMSGrad"},
		{func(v generic.Variant) bool { return v != generic.VarAMSGrad }, "under the variants 0, VarWeightDecay, VarWeightDecay | VarAMSGrad"},
		{func(generic.Variant) bool { return false }, "under no variant"},
	} {
		if got := usedUnder(r, generic.Slot{Used: tc.used}); got != tc.want {
			t.Errorf("usedUnder = %q, want %q", got, tc.want)
		}
	}
}
