package optim

import (
	"errors"
	"math"
	"slices"
	"testing"
)

// TestLowSetStateRestoresState: for both formats, both storages, both
// roundings and rules of every kind of state, setting every parameter's
// State on a fresh optimizer gives the state a checkpoint would (the
// parameter that had no gradient yet and the empty one included), and
// both continue bit for bit.
func TestLowSetStateRestoresState(t *testing.T) {
	t.Run("bfloat16", func(t *testing.T) { lowSetStateRoundTrip[BFloat16](t) })
	t.Run("float16", func(t *testing.T) { lowSetStateRoundTrip[Float16](t) })
}

func lowSetStateRoundTrip[H BFloat16 | Float16](t *testing.T) {
	eachLowCkCase(t, func(t *testing.T, rule Rule, opts LowOptions) {
		o, params := lowCkRun[H](t, rule, opts)
		for s := range 3 {
			lowCkStep(t, o, params, s)
		}
		fresh, freshParams := lowCkRun[H](t, rule, opts)
		for i := range params {
			copy(freshParams[i], params[i])
			st, err := o.State(i)
			if err != nil {
				t.Fatal(err)
			}
			if err := fresh.SetState(i, st); err != nil {
				t.Fatalf("param %d: %v", i, err)
			}
		}
		if a, b := lowFingerprint(fresh), lowFingerprint(o); a != b {
			t.Fatalf("the state set differs:\n%s\n%s", a, b)
		}
		lowResumesAlike(t, o, params, fresh, freshParams)
	})
}

// TestLowSetStateRounds: a state kept in the parameters' format takes each
// value rounded to nearest even (a tie to even and an odd case among
// them), and State reports the rounded values; float32 state keeps them
// exactly.
func TestLowSetStateRounds(t *testing.T) {
	values := []float32{1 + 0x1p-9, 1 + 3*0x1p-9, -2.5e-3, 70000, float32(math.Inf(-1))}
	for _, c := range []struct {
		name    string
		float32 bool
	}{{"param-state", false}, {"float32-state", true}} {
		t.Run(c.name, func(t *testing.T) {
			p := make([]BFloat16, len(values))
			o, err := NewLow(DefaultAdam(), LowOptions{StateFloat32: c.float32}, p)
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			sq := []float32{1, 2, 3, 4, 5}
			if err := o.SetState(0, State[float32]{Step: 7, ExpAvg: values, ExpAvgSq: sq}); err != nil {
				t.Fatal(err)
			}
			st, err := o.State(0)
			if err != nil {
				t.Fatal(err)
			}
			if st.Step != 7 {
				t.Errorf("Step %d, want 7", st.Step)
			}
			for j, v := range values {
				want := v
				if !c.float32 {
					want = BFloat16From(v).Float32()
				}
				if got := st.ExpAvg[j]; math.Float32bits(got) != math.Float32bits(want) {
					t.Errorf("exp_avg[%d] = %v after setting %v, want %v", j, got, v, want)
				}
			}
		})
	}
}

// TestLowSetStateRefusesWithoutChange: what Optimizer.SetState refuses,
// LowOptimizer.SetState refuses with the same error types, and changes
// nothing.
func TestLowSetStateRefusesWithoutChange(t *testing.T) {
	o, params := lowCkRun[BFloat16](t, DefaultNAdam(), LowOptions{})
	for s := range 3 {
		lowCkStep(t, o, params, s)
	}
	good, err := o.State(0)
	if err != nil {
		t.Fatal(err)
	}
	n := len(params[0])
	before := lowFingerprint(o)
	var (
		ie *IndexError
		se *StateError
		sh *ShapeError
	)
	for _, c := range []struct {
		name string
		i    int
		st   State[float32]
		as   any
	}{
		{"index", len(params), good, &ie},
		{"negative index", -1, good, &ie},
		{"half the state", 0, State[float32]{Step: 3, ExpAvg: good.ExpAvg, MuProduct: 1}, &se},
		{"short slice", 0, State[float32]{Step: 3, ExpAvg: good.ExpAvg, ExpAvgSq: make([]float32, n-1), MuProduct: 1}, &sh},
		{"infinite scalar", 0, State[float32]{Step: 3, ExpAvg: good.ExpAvg, ExpAvgSq: good.ExpAvgSq, MuProduct: float32(math.Inf(1))}, &se},
		{"negative step", 0, State[float32]{Step: -1, ExpAvg: good.ExpAvg, ExpAvgSq: good.ExpAvgSq, MuProduct: 1}, nil},
	} {
		err := o.SetState(c.i, c.st)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if c.as != nil && !errors.As(err, c.as) {
			t.Errorf("%s: %T (%v), want %T", c.name, err, err, c.as)
		}
		if lowFingerprint(o) != before {
			t.Fatalf("%s: refused, but the state changed", c.name)
		}
	}
}

// TestLowSetStateKeepsUnusedSlot: a slot the rule does not use (the
// momentum buffer of SGD without momentum) is kept when given, reported
// by State and guarded against overlapping gradients, and dropped by a
// later SetState without it, as Optimizer.SetState does.
func TestLowSetStateKeepsUnusedSlot(t *testing.T) {
	p := make([]BFloat16, 8)
	o, err := NewLow(SGD{LR: 0.1}, LowOptions{}, p)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	buf := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	if err := o.SetState(0, State[float32]{Step: 2, MomentumBuffer: buf}); err != nil {
		t.Fatal(err)
	}
	st, err := o.State(0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.MomentumBuffer, buf) {
		t.Errorf("momentum_buffer %v, want %v", st.MomentumBuffer, buf)
	}
	if err := o.Step(unsafeBF16(o.state16[0][0])); err == nil {
		t.Error("a gradient over the kept momentum buffer is accepted")
	}
	if err := o.SetState(0, State[float32]{Step: 2}); err != nil {
		t.Fatal(err)
	}
	if o.state16[0][0] != nil {
		t.Error("the momentum buffer is kept after a SetState without it")
	}
	if err := o.Step(make([]BFloat16, len(p))); err != nil {
		t.Fatal(err)
	}
}
