package optim

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

func mustScaler(t *testing.T, cfg GradScalerConfig) *GradScaler {
	t.Helper()
	s, err := NewGradScaler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGradScalerDefaults(t *testing.T) {
	cfg := DefaultGradScalerConfig()
	if cfg != (GradScalerConfig{InitScale: 65536, GrowthFactor: 2, BackoffFactor: 0.5, GrowthInterval: 2000}) {
		t.Errorf("defaults %+v", cfg)
	}
	if s := mustScaler(t, cfg); s.Scale() != 65536 || !s.Enabled() {
		t.Errorf("scale %v", s.Scale())
	}
	// The scale is a float32, as torch's tensor.
	if s := mustScaler(t, GradScalerConfig{InitScale: 0.1, GrowthFactor: 2, BackoffFactor: 0.5, GrowthInterval: 1}); s.Scale() != float64(float32(0.1)) {
		t.Errorf("scale %v, want float32(0.1)", s.Scale())
	}
}

func TestGradScalerConfigErrors(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct {
		arg    string
		mutate func(*GradScalerConfig)
	}{
		{"InitScale", func(c *GradScalerConfig) { c.InitScale = 0 }},
		{"InitScale", func(c *GradScalerConfig) { c.InitScale = -1 }},
		{"InitScale", func(c *GradScalerConfig) { c.InitScale = nan }},
		{"InitScale", func(c *GradScalerConfig) { c.InitScale = 1e39 }},  // +Inf as a float32
		{"InitScale", func(c *GradScalerConfig) { c.InitScale = 1e-46 }}, // 0 as a float32
		{"GrowthFactor", func(c *GradScalerConfig) { c.GrowthFactor = 1 }},
		{"GrowthFactor", func(c *GradScalerConfig) { c.GrowthFactor = nan }},
		{"GrowthFactor", func(c *GradScalerConfig) { c.GrowthFactor = inf }},
		{"BackoffFactor", func(c *GradScalerConfig) { c.BackoffFactor = 1 }},
		{"BackoffFactor", func(c *GradScalerConfig) { c.BackoffFactor = 0 }},
		{"BackoffFactor", func(c *GradScalerConfig) { c.BackoffFactor = nan }},
		{"GrowthInterval", func(c *GradScalerConfig) { c.GrowthInterval = 0 }},
	} {
		cfg := DefaultGradScalerConfig()
		c.mutate(&cfg)
		_, err := NewGradScaler(cfg)
		var ae *HyperparameterError
		if !errors.As(err, &ae) || ae.Field != c.arg || !strings.Contains(err.Error(), c.arg) {
			t.Errorf("%+v: error %v, want an *HyperparameterError for %s", cfg, err, c.arg)
		}
	}
}

// scalerFixture is an optimizer with two params and grads for it.
type scalerFixture struct {
	p, q   []float32
	opt    *Optimizer[float32]
	gp, gq []float32
}

func newScalerFixture(t *testing.T) *scalerFixture {
	f := &scalerFixture{p: []float32{1, 2, 3}, q: []float32{-1}}
	var err error
	if f.opt, err = New[float32](DefaultAdam(), f.p, f.q); err != nil {
		t.Fatal(err)
	}
	f.gp, f.gq = make([]float32, 3), make([]float32, 1)
	return f
}

func (f *scalerFixture) setGrads(gp []float32, gq float32) {
	copy(f.gp, gp)
	f.gq[0] = gq
}

// TestScaledStepMatchesManual: a clean ScaledStep is Step on the grads
// multiplied by float32(1/float64(scale)), in the element type.
func TestScaledStepMatchesManual(t *testing.T) {
	cfg := GradScalerConfig{InitScale: 3, GrowthFactor: 2, BackoffFactor: 0.5, GrowthInterval: 10}
	s := mustScaler(t, cfg)
	f := newScalerFixture(t)
	twin := newScalerFixture(t)
	inv := float32(1.0 / 3.0) // float32(1/float64(float32(3)))
	for step := range 5 {
		gp := []float32{0.3 * float32(step+1), -0.7, 1e-3}
		f.setGrads(gp, 2.5)
		twin.setGrads([]float32{gp[0] * inv, gp[1] * inv, gp[2] * inv}, 2.5*inv)
		if skipped, err := ScaledStep(s, f.opt, f.gp, f.gq); skipped || err != nil {
			t.Fatalf("step %d: %v %v", step, skipped, err)
		}
		s.Update()
		if err := twin.opt.Step(twin.gp, twin.gq); err != nil {
			t.Fatal(err)
		}
		if firstDiff(f.gp, twin.gp) >= 0 || firstDiff(f.gq, twin.gq) >= 0 {
			t.Fatalf("step %d: unscaled grads %v %v, want %v %v", step, f.gp, f.gq, twin.gp, twin.gq)
		}
		if firstDiff(f.p, twin.p) >= 0 || firstDiff(f.q, twin.q) >= 0 {
			t.Fatalf("step %d: params differ from the manual step", step)
		}
	}
	// float64 grads are multiplied by the float32 inverse widened.
	g := []float64{1, 1e300}
	p := []float64{0, 0}
	o, _ := New[float64](DefaultSGD(), p)
	if _, err := ScaledStep(s, o, g); err != nil || g[0] != float64(inv) || g[1] != 1e300*float64(inv) {
		t.Errorf("float64 unscale: %v %v", g, err)
	}
}

func TestScaledStepSkips(t *testing.T) {
	s := mustScaler(t, DefaultGradScalerConfig())
	f := newScalerFixture(t)
	f.setGrads([]float32{1, 2, 3}, 4)
	if _, err := ScaledStep(s, f.opt, f.gp, f.gq); err != nil {
		t.Fatal(err)
	}
	s.Update()
	st, _ := f.opt.State(0)
	save := [][]float32{slices.Clone(f.p), slices.Clone(f.q), slices.Clone(st.ExpAvg), slices.Clone(st.ExpAvgSq)}
	for _, bad := range []float32{float32(math.Inf(-1)), float32(math.NaN())} {
		f.setGrads([]float32{1, bad, 3}, 4)
		inv := float32(1 / s.Scale())
		skipped, err := ScaledStep(s, f.opt, f.gp, f.gq)
		if !skipped || err != nil {
			t.Fatalf("%v: skipped %v, err %v", bad, skipped, err)
		}
		got := [][]float32{f.p, f.q, st.ExpAvg, st.ExpAvgSq}
		for i := range got {
			if firstDiff(got[i], save[i]) >= 0 {
				t.Fatalf("%v: a skipped step changed the optimizer", bad)
			}
		}
		if f.opt.Steps() != 1 {
			t.Fatalf("steps %d after skipping", f.opt.Steps())
		}
		// The grads are unscaled even when skipping, as torch does.
		if f.gp[0] != inv || f.gq[0] != 4*inv {
			t.Fatalf("grads %v %v not unscaled", f.gp, f.gq)
		}
		s.Update()
	}
	if s.Scale() != 65536/4 {
		t.Errorf("scale after two skips %v, want 16384", s.Scale())
	}
}

// TestScalerUpdateRule follows torch's _amp_update_scale_ step by step with
// factors that are not powers of two, where the float64 product rounded to
// float32 (torch) differs from a float32 product.
func TestScalerUpdateRule(t *testing.T) {
	cfg := GradScalerConfig{InitScale: 3, GrowthFactor: 1.1, BackoffFactor: 0.3, GrowthInterval: 3}
	s := mustScaler(t, cfg)
	f := newScalerFixture(t)
	want := float32(3)
	tracker := 0
	grow := func() { want = float32(float64(want) * 1.1) }
	back := func() { want = float32(float64(want) * 0.3) }
	differs := false
	for i, inf := range []bool{false, false, false, false, true, false, false, false, false, false, false, true, true, false, false, false} {
		gp := []float32{1, 2, 3}
		if inf {
			gp[1] = float32(math.Inf(1))
		}
		f.setGrads(gp, 1)
		old := want
		if skipped, err := ScaledStep(s, f.opt, f.gp, f.gq); skipped != inf || err != nil {
			t.Fatalf("iteration %d: skipped %v, err %v", i, skipped, err)
		}
		s.Update()
		switch {
		case inf:
			back()
			tracker = 0
			differs = differs || float32(old)*float32(0.3) != want
		case tracker+1 == 3:
			grow()
			tracker = 0
			differs = differs || float32(old)*float32(1.1) != want
		default:
			tracker++
		}
		if s.Scale() != float64(want) || s.State().GrowthTracker != tracker {
			t.Fatalf("iteration %d: scale %v tracker %d, want %v and %d", i, s.Scale(), s.State().GrowthTracker, want, tracker)
		}
	}
	if !differs {
		t.Error("no update where float32 arithmetic would have differed: the test does not tell the two apart")
	}
}

func TestScalerGrowthCapped(t *testing.T) {
	s := mustScaler(t, GradScalerConfig{InitScale: 0x1p127, GrowthFactor: 2, BackoffFactor: 0.5, GrowthInterval: 1})
	f := newScalerFixture(t)
	if _, err := ScaledStep(s, f.opt, f.gp, f.gq); err != nil {
		t.Fatal(err)
	}
	s.Update()
	if s.Scale() != 0x1p127 || s.State().GrowthTracker != 0 {
		t.Errorf("scale %v tracker %d: a growth past float32's range must be dropped", s.Scale(), s.State().GrowthTracker)
	}
}

func TestScalerDecayedScale(t *testing.T) {
	s := mustScaler(t, GradScalerConfig{InitScale: 0x1p-120, GrowthFactor: 2, BackoffFactor: 0.5, GrowthInterval: 5})
	f := newScalerFixture(t)
	// 2^-127 has an inverse below MaxFloat32 (2^127); 2^-128 does not.
	for range 7 {
		f.setGrads([]float32{float32(math.NaN()), 0, 0}, 0)
		if _, err := ScaledStep(s, f.opt, f.gp, f.gq); err != nil {
			t.Fatal(err)
		}
		s.Update()
	}
	if s.Scale() != 0x1p-127 {
		t.Fatalf("scale %v", s.Scale())
	}
	f.setGrads([]float32{0, 0, 0}, 0)
	if _, err := ScaledStep(s, f.opt, f.gp, f.gq); err != nil {
		t.Fatalf("scale 2^-127: %v", err)
	}
	s.Update()
	f.setGrads([]float32{float32(math.NaN()), 0, 0}, 0)
	if _, err := ScaledStep(s, f.opt, f.gp, f.gq); err != nil {
		t.Fatal(err)
	}
	s.Update() // 2^-128
	f.setGrads([]float32{1, 2, 3}, 4)
	var se *ScaleError
	if _, err := ScaledStep(s, f.opt, f.gp, f.gq); !errors.As(err, &se) {
		t.Fatalf("scale %v: error %v, want *ScaleError", s.Scale(), err)
	}
	if f.gp[0] != 1 || f.gq[0] != 4 {
		t.Error("grads written on error")
	}
}

func TestUnscaleThenStep(t *testing.T) {
	s := mustScaler(t, GradScalerConfig{InitScale: 8, GrowthFactor: 2, BackoffFactor: 0.5, GrowthInterval: 100})
	f := newScalerFixture(t)
	f.setGrads([]float32{8, 16, 24}, 80)
	found, err := Unscale(s, f.opt, f.gp, f.gq)
	if found || err != nil || f.gp[0] != 1 || f.gq[0] != 10 {
		t.Fatalf("Unscale: %v %v %v %v", found, err, f.gp, f.gq)
	}
	// Clip between unscaling and stepping, as torch's recipe does.
	if _, err := ClipGradNorm(1, 2, false, f.gp, f.gq); err != nil {
		t.Fatal(err)
	}
	clipped := slices.Clone(f.gq)
	var stage *ScalerStageError
	if _, err := Unscale(s, f.opt, f.gp, f.gq); !errors.As(err, &stage) {
		t.Errorf("second Unscale: %v", err)
	}
	if skipped, err := ScaledStep(s, f.opt, f.gp, f.gq); skipped || err != nil {
		t.Fatalf("ScaledStep: %v %v", skipped, err)
	}
	if f.gq[0] != clipped[0] {
		t.Error("ScaledStep unscaled the grads a second time")
	}
	if _, err := ScaledStep(s, f.opt, f.gp, f.gq); !errors.As(err, &stage) {
		t.Errorf("second ScaledStep: %v", err)
	}
	if _, err := Unscale(s, f.opt, f.gp, f.gq); !errors.As(err, &stage) {
		t.Errorf("Unscale after ScaledStep: %v", err)
	}
	s.Update()
	if _, err := Unscale(s, f.opt, f.gp, f.gq); err != nil {
		t.Errorf("Unscale after Update: %v", err)
	}
}

func TestScalerTwoOptimizers(t *testing.T) {
	s := mustScaler(t, GradScalerConfig{InitScale: 4, GrowthFactor: 2, BackoffFactor: 0.5, GrowthInterval: 1})
	a, b := newScalerFixture(t), newScalerFixture(t)
	a.setGrads([]float32{1, 2, 3}, 4)
	b.setGrads([]float32{1, float32(math.Inf(1)), 3}, 4)
	if skipped, _ := ScaledStep(s, a.opt, a.gp, a.gq); skipped {
		t.Error("a skipped")
	}
	if skipped, _ := ScaledStep(s, b.opt, b.gp, b.gq); !skipped {
		t.Error("b did not skip")
	}
	s.Update()
	if s.Scale() != 2 {
		t.Errorf("scale %v, want a backoff to 2 (one optimizer found an Inf)", s.Scale())
	}
}

func TestScaledStepErrors(t *testing.T) {
	s := mustScaler(t, DefaultGradScalerConfig())
	f := newScalerFixture(t)
	f.setGrads([]float32{1, 2, 3}, 4)
	var gm *ShapeError
	var ov *OverlapError
	if _, err := ScaledStep(s, f.opt, f.gp); !errors.As(err, &gm) {
		t.Errorf("one grad for two params: %v", err)
	}
	if _, err := ScaledStep(s, f.opt, f.gp[:2], f.gq); !errors.As(err, &gm) {
		t.Errorf("short grad: %v", err)
	}
	if _, err := ScaledStep(s, f.opt, f.p, f.gq); !errors.As(err, &ov) || ov.B.Kind != "param" {
		t.Errorf("grad aliasing a param: %v", err)
	}
	shared := []float32{1, 2, 3}
	if _, err := Unscale(s, f.opt, shared, shared[1:2]); !errors.As(err, &ov) || ov.B.Kind == "param" {
		t.Errorf("grads aliasing each other: %v", err)
	}
	if f.gp[0] != 1 || shared[0] != 1 || f.opt.Steps() != 0 {
		t.Error("something was written on error")
	}
	// Nothing was recorded: Update changes nothing.
	s.Update()
	if s.Scale() != 65536 || s.State().GrowthTracker != 0 {
		t.Errorf("Update after failed calls changed the scaler: %+v", s.State())
	}
}

func TestScalerDisabled(t *testing.T) {
	cfg := DefaultGradScalerConfig()
	cfg.Disabled = true
	s := mustScaler(t, cfg)
	f := newScalerFixture(t)
	f.setGrads([]float32{1, float32(math.Inf(1)), 3}, 4)
	if s.Scale() != 1 || s.Enabled() {
		t.Errorf("disabled scale %v", s.Scale())
	}
	if found, err := Unscale(s, f.opt, f.gp, f.gq); found || err != nil || f.gp[0] != 1 {
		t.Errorf("disabled Unscale: %v %v", found, err)
	}
	// Like torch: a plain step, no check.
	if skipped, err := ScaledStep(s, f.opt, f.gp, f.gq); skipped || err != nil || f.opt.Steps() != 1 {
		t.Errorf("disabled ScaledStep: %v %v", skipped, err)
	}
	s.Update()
	if s.State().Scale != 65536 {
		t.Errorf("disabled Update changed the scale")
	}
}

func TestScalerStateRestore(t *testing.T) {
	cfg := GradScalerConfig{InitScale: 1024, GrowthFactor: 1.5, BackoffFactor: 0.25, GrowthInterval: 7}
	s := mustScaler(t, cfg)
	f := newScalerFixture(t)
	run := func(s *GradScaler, f *scalerFixture, n int) {
		for i := range n {
			g := []float32{1, 2, 3}
			if i%5 == 4 {
				g[0] = float32(math.NaN())
			}
			f.setGrads(g, 1)
			if _, err := ScaledStep(s, f.opt, f.gp, f.gq); err != nil {
				t.Fatal(err)
			}
			s.Update()
		}
	}
	run(s, f, 13)
	blob, err := json.Marshal(s.State())
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"scale"`, `"growth_factor"`, `"backoff_factor"`, `"growth_interval"`, `"_growth_tracker"`} {
		if !strings.Contains(string(blob), key) {
			t.Errorf("state JSON %s lacks %s", blob, key)
		}
	}
	var st GradScalerState
	if err := json.Unmarshal(blob, &st); err != nil {
		t.Fatal(err)
	}
	r := mustScaler(t, DefaultGradScalerConfig())
	if err := r.Restore(st); err != nil {
		t.Fatal(err)
	}
	if r.State() != s.State() {
		t.Fatalf("restored %+v, saved %+v", r.State(), s.State())
	}
	g := newScalerFixture(t)
	run(s, f, 20)
	run(r, g, 20)
	if r.State() != s.State() {
		t.Errorf("after 20 more iterations: restored %+v, original %+v", r.State(), s.State())
	}
	// Invalid states are refused and change nothing.
	before := r.State()
	for _, bad := range []GradScalerState{
		{Scale: 0, GrowthFactor: 2, BackoffFactor: 0.5, GrowthInterval: 3},
		{Scale: 1, GrowthFactor: 2, BackoffFactor: 0.5, GrowthInterval: 3, GrowthTracker: 3},
		{Scale: 1, GrowthFactor: 2, BackoffFactor: 0.5, GrowthInterval: 3, GrowthTracker: -1},
		{Scale: 1, GrowthFactor: 0.5, BackoffFactor: 0.5, GrowthInterval: 3},
	} {
		var ae *HyperparameterError
		if err := r.Restore(bad); !errors.As(err, &ae) {
			t.Errorf("Restore(%+v): %v", bad, err)
		}
	}
	if r.State() != before {
		t.Error("a failed Restore changed the scaler")
	}
	if err := r.SetScale(3.3); err != nil || r.Scale() != float64(float32(3.3)) {
		t.Errorf("SetScale: %v %v", err, r.Scale())
	}
	if err := r.SetScale(-1); err == nil {
		t.Error("SetScale(-1) accepted")
	}
}

func TestScaledStepAllocatesNothing(t *testing.T) {
	s := mustScaler(t, GradScalerConfig{InitScale: 4, GrowthFactor: 2, BackoffFactor: 0.5, GrowthInterval: 3})
	f := newScalerFixture(t)
	f.setGrads([]float32{1, 2, 3}, 4)
	loop := func() {
		ScaledStep(s, f.opt, f.gp, f.gq)
		s.Update()
	}
	loop() // the first iteration records the optimizer
	if n := testing.AllocsPerRun(20, loop); n != 0 {
		t.Errorf("%v allocations per iteration", n)
	}
}

// BenchmarkScaledStep measures what the non-finite check costs on top of
// an Adam step: Step alone, StepIfFinite (one more read of g) and
// ScaledStep with Update (one read and one write of g, unscaling and
// checking together). SetBytes counts Adam's 7 accesses per parameter for
// all three, so the MB/s differences are the cost of the extra pass.
func BenchmarkScaledStep(b *testing.B) {
	for _, n := range []int{1 << 16, 1 << 20, 1 << 24} {
		for _, mode := range []string{"step", "step_if_finite", "scaled_step"} {
			b.Run(fmt.Sprintf("adam/float32/%s/n=%d", mode, n), func(b *testing.B) {
				if n > 1<<20 && testing.Short() {
					b.Skip("large size skipped under -short")
				}
				p, g := make([]float32, n), make([]float32, n)
				for i := range g {
					g[i] = float32(i%1000) * 0x1p-10
				}
				opt, err := New[float32](DefaultAdam(), p)
				if err != nil {
					b.Fatal(err)
				}
				// Scale 1: the unscaled grads are the grads, so every
				// iteration does the same work.
				s := mustScalerB(b, GradScalerConfig{InitScale: 1, GrowthFactor: 2, BackoffFactor: 0.5, GrowthInterval: 1 << 30})
				b.SetBytes(int64(7 * 4 * n))
				if err := opt.Step(g); err != nil { // first touch of the state, outside the timing
					b.Fatal(err)
				}
				for b.Loop() {
					switch mode {
					case "step":
						err = opt.Step(g)
					case "step_if_finite":
						_, err = opt.StepIfFinite(g)
					default:
						_, err = ScaledStep(s, opt, g)
						s.Update()
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func mustScalerB(b *testing.B, cfg GradScalerConfig) *GradScaler {
	s, err := NewGradScaler(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return s
}
