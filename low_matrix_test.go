package optim

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/schedule"
)

// The matrix rules on bfloat16 and float16 parameters (low_matrix.go),
// against a reference written from their definition: Optimizer[float32]
// stepping the widened values, with the stored values rounded after each
// step.

// lowMatrixParams narrows matrixInputs' params and grads to H, and adds an
// AdamW parameter first (so that its index, which stochastic rounding's
// bits depend on, is 0 both here and in an optimizer of its own).
func lowMatrixParams[H BFloat16 | Float16](steps int) (params [][]H, grads [][][]H) {
	p32, g32 := matrixInputs[float32](steps)
	f := formatOf[H]()
	narrow := func(x []float32) []H {
		out := make([]H, len(x))
		for i, v := range x {
			out[i] = H(f.Narrow(v))
		}
		return out
	}
	bias := make([]float32, 41)
	for i := range bias {
		bias[i] = float32(i%13)/8 - 0.75
	}
	params = append(params, narrow(bias))
	for _, p := range p32 {
		params = append(params, narrow(p))
	}
	for s, gs := range g32 {
		step := [][]H{narrow(bias)}
		for i := range step[0] {
			step[0][i] = H(f.Narrow(float32((i+s)%7-3) / 64))
		}
		for _, g := range gs {
			step = append(step, narrow(g))
		}
		grads = append(grads, step)
	}
	return params, grads
}

// newLowMatrix makes an AdamW group over params[0] and one group per
// matrix case over the rest.
func newLowMatrix[H BFloat16 | Float16](t testing.TB, opts LowOptions, params [][]H) *LowOptimizer[H] {
	t.Helper()
	groups := []LowGroup[H]{{Rule: DefaultAdamW(), Params: params[:1]}}
	for k, c := range matrixCases() {
		groups = append(groups, LowGroup[H]{Rule: c.rule, Params: params[k+1 : k+2], Shapes: []Shape{c.shape}})
	}
	o, err := NewLowGroups(opts, groups...)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestLowMatrixMatchesDefinition: for both formats, both storages and both
// roundings, with 1, 2 and 3 workers, every step of every matrix case
// gives the bits of Optimizer[float32] on the widened parameter, gradient
// and state followed by the rounding of each stored value; the AdamW
// parameter beside them steps as in an optimizer of its own.
func TestLowMatrixMatchesDefinition(t *testing.T) {
	t.Run("bf16", lowMatrixMatchesDefinition[BFloat16])
	t.Run("f16", lowMatrixMatchesDefinition[Float16])
}

func lowMatrixMatchesDefinition[H BFloat16 | Float16](t *testing.T) {
	lowParallelMin(t, 16)
	f := formatOf[H]()
	for _, c := range lowCkOptions {
		for _, workers := range []int{1, 2, 3} {
			params, grads := lowMatrixParams[H](5)
			o := newLowMatrix(t, c.opts, params)
			if err := o.SetWorkers(workers); err != nil {
				t.Fatal(err)
			}
			// The reference: float32 parameters and state, rounded as
			// the definition says after every step.
			ref32 := make([][]float32, len(params)-1)
			for k, p := range params[1:] {
				ref32[k] = widenAll(f, u16s(p))
			}
			var groups []Group[float32]
			for k, mc := range matrixCases() {
				groups = append(groups, Group[float32]{Rule: mc.rule, Params: ref32[k : k+1], Shapes: []Shape{mc.shape}})
			}
			ref, err := NewGroups(groups...)
			if err != nil {
				t.Fatal(err)
			}
			alone, err := NewLow(DefaultAdamW(), c.opts, slices.Clone(params[0]))
			if err != nil {
				t.Fatal(err)
			}
			for s, gs := range grads {
				if err := o.Step(gs...); err != nil {
					t.Fatal(err)
				}
				g32 := make([][]float32, len(gs)-1)
				for k, g := range gs[1:] {
					g32[k] = widenAll(f, u16s(g))
				}
				if err := ref.Step(g32...); err != nil {
					t.Fatal(err)
				}
				if err := alone.Step(gs[0]); err != nil {
					t.Fatal(err)
				}
				for k, mc := range matrixCases() {
					i := k + 1
					want := make([]uint16, len(ref32[k]))
					if c.opts.Stochastic {
						generic.NarrowSRSlice(f, want, ref32[k], generic.SR{Seed: c.opts.Seed, Param: uint32(i), Step: uint64(s + 1)})
					} else {
						for j, x := range ref32[k] {
							want[j] = f.Narrow(x)
						}
					}
					copy(ref32[k], widenAll(f, want))
					st, _ := ref.State(k)
					gotSt, _ := o.State(i)
					for _, key := range []string{"momentum_buffer", "row_var", "col_var", "variance"} {
						w, g := *st.field(key), *gotSt.field(key)
						if !c.opts.StateFloat32 {
							for j, x := range w {
								w[j] = f.Widen(f.Narrow(x)) // in place: the reference's own state
							}
						}
						if j := firstDiff(g, w); j >= 0 || len(g) != len(w) {
							t.Fatalf("%s, %d workers, %s, step %d: state %s differs at %d (%d values, want %d)",
								c.name, workers, mc.name, s+1, key, j, len(g), len(w))
						}
					}
					if !slices.Equal(o.params[i], want) {
						t.Fatalf("%s, %d workers, %s, step %d: the parameter differs from the definition",
							c.name, workers, mc.name, s+1)
					}
					if gotSt.Step != int64(s+1) {
						t.Fatalf("%s: step count %d after %d steps", mc.name, gotSt.Step, s+1)
					}
				}
				if !slices.Equal(params[0], halves[H](alone.params[0])) {
					t.Fatalf("%s, %d workers, step %d: the AdamW parameter differs from an optimizer of its own", c.name, workers, s+1)
				}
			}
			o.Close()
			ref.Close()
			alone.Close()
		}
	}
}

// widenAll returns the float32 values of the bits x of format f.
func widenAll(f generic.Format, x []uint16) []float32 {
	out := make([]float32, len(x))
	for i, h := range x {
		out[i] = f.Widen(h)
	}
	return out
}

// lowMatrixDigest is the FNV-64a hash of every parameter and state bit of
// the matrix cases on 16-bit storage after each of matrixDigestSteps
// steps: bfloat16 then float16, each with the four storage and rounding
// choices of lowCkOptions. It must come out of every kernel set, on arm64
// (qemu-aarch64) and for every worker count. Recorded from the logged
// value.
const lowMatrixDigest uint64 = 0xff5dce23e8ba3e3

// TestDigestLowMatrix checks lowMatrixDigest with 1, 2 and 3 workers.
func TestDigestLowMatrix(t *testing.T) {
	checkDigestWorkers(t, "low-precision matrix", lowMatrixDigest, func(d *digestWriter, w int) {
		lowMatrixDigestRun[BFloat16](t, d, w)
		lowMatrixDigestRun[Float16](t, d, w)
	})
}

func lowMatrixDigestRun[H BFloat16 | Float16](t *testing.T, d *digestWriter, workers int) {
	for _, c := range lowCkOptions {
		params, grads := lowMatrixParams[H](matrixDigestSteps)
		o := newLowMatrix(t, c.opts, params)
		if err := o.SetWorkers(workers); err != nil {
			t.Fatal(err)
		}
		for _, gs := range grads {
			if err := o.Step(gs...); err != nil {
				t.Fatal(err)
			}
			for i := range params {
				d.word(uint64(len(o.params[i])))
				for _, h := range o.params[i] {
					d.word(uint64(h))
				}
				for k := range 3 {
					if s := o.state16[i][k]; s != nil {
						d.word(uint64(len(s)))
						for _, h := range s {
							d.word(uint64(h))
						}
					}
					if s := o.state32[i][k]; s != nil {
						digestSlice(d, s)
					}
				}
			}
		}
		o.Close()
	}
}

// TestLowMatrixCheckpointRoundTrip: for both formats and every storage and
// rounding, a checkpoint of the matrix cases after three steps loads into
// a new optimizer, saves to the same bytes, and both continue with the
// same bits; the state tensors have torch's shapes and the file's dtype.
func TestLowMatrixCheckpointRoundTrip(t *testing.T) {
	t.Run("bf16", lowMatrixCheckpointRoundTrip[BFloat16])
	t.Run("f16", lowMatrixCheckpointRoundTrip[Float16])
}

func lowMatrixCheckpointRoundTrip[H BFloat16 | Float16](t *testing.T) {
	for _, c := range lowCkOptions {
		params, grads := lowMatrixParams[H](6)
		a := newLowMatrix(t, c.opts, params)
		for _, gs := range grads[:3] {
			if err := a.Step(gs...); err != nil {
				t.Fatal(err)
			}
		}
		var buf bytes.Buffer
		if err := a.Save(&buf); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		freshParams := make([][]H, len(params))
		for i, p := range params {
			freshParams[i] = slices.Clone(p)
		}
		b := newLowMatrix(t, c.opts, freshParams)
		if err := b.Load(bytes.NewReader(data)); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if x, y := lowFingerprint(a), lowFingerprint(b); x != y {
			t.Fatalf("%s: the loaded state differs:\n%s\n%s", c.name, x, y)
		}
		var again bytes.Buffer
		if err := b.Save(&again); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.Bytes(), data) {
			t.Fatalf("%s: saving the loaded state gives other bytes", c.name)
		}
		for _, gs := range grads[3:] {
			if err := a.Step(gs...); err != nil {
				t.Fatal(err)
			}
			if err := b.Step(gs...); err != nil {
				t.Fatal(err)
			}
		}
		for i := range params {
			if !slices.Equal(params[i], freshParams[i]) {
				t.Fatalf("%s: param %d differs after resuming", c.name, i)
			}
		}
		// Adafactor's factors of the 6 × 10 matrix (param 7) are saved
		// with torch's shapes, in the state's dtype.
		want := `"state.7.row_var":{"dtype":"BF16","shape":[6,1]`
		if formatOf[H]() != formatOf[BFloat16]() {
			want = strings.Replace(want, "BF16", "F16", 1)
		}
		if c.opts.StateFloat32 {
			want = strings.Replace(strings.Replace(want, "BF16", "F32", 1), "F16", "F32", 1)
		}
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("%s: the checkpoint lacks %s", c.name, want)
		}
		a.Close()
		b.Close()
	}
}

// TestLowMatrixSetState: State reports a matrix rule's slots widened, and
// SetState restores them (rounded into the parameters' format unless the
// state is float32); a slot of the wrong length or of another rule is
// refused without a change.
func TestLowMatrixSetState(t *testing.T) {
	for _, c := range lowCkOptions[:2] {
		params, grads := lowMatrixParams[BFloat16](2)
		o := newLowMatrix(t, c.opts, params)
		if st, _ := o.State(7); st.RowVar != nil || st.Step != 0 {
			t.Errorf("%s: state before the first step: %+v", c.name, st)
		}
		for _, gs := range grads {
			if err := o.Step(gs...); err != nil {
				t.Fatal(err)
			}
		}
		before := lowFingerprint(o)
		muon, _ := o.State(1)
		ada, _ := o.State(7)
		if len(muon.MomentumBuffer) != 35 || len(ada.RowVar) != 6 || len(ada.ColVar) != 10 || ada.Variance != nil || ada.Step != 2 {
			t.Fatalf("%s: State: %d momentum values, row_var %d, col_var %d, variance %v, step %d",
				c.name, len(muon.MomentumBuffer), len(ada.RowVar), len(ada.ColVar), ada.Variance, ada.Step)
		}
		var shapeErr *ShapeError
		bad := ada
		bad.RowVar = bad.RowVar[:5]
		if err := o.SetState(7, bad); !errors.As(err, &shapeErr) {
			t.Errorf("%s: a short row_var: %v, want a *ShapeError", c.name, err)
		}
		var stateErr *StateError
		bad = ada
		bad.Variance = make([]float32, 60)
		if err := o.SetState(7, bad); !errors.As(err, &stateErr) {
			t.Errorf("%s: variance beside row_var and col_var: %v, want a *StateError", c.name, err)
		}
		if lowFingerprint(o) != before {
			t.Fatalf("%s: a refused SetState changed the state", c.name)
		}
		// Values between two bfloat16 numbers are rounded in.
		muon.MomentumBuffer[0] = 1 + 0x1p-9
		muon.Step = 5
		if err := o.SetState(1, muon); err != nil {
			t.Fatal(err)
		}
		got, _ := o.State(1)
		want := float32(1 + 0x1p-9)
		if !c.opts.StateFloat32 {
			want = 1
		}
		if got.MomentumBuffer[0] != want || got.Step != 5 {
			t.Errorf("%s: after SetState: momentum %v, step %d; want %v, 5", c.name, got.MomentumBuffer[0], got.Step, want)
		}
		// All nil: no state, as before the first step.
		if err := o.SetState(7, State[float32]{}); err != nil {
			t.Fatal(err)
		}
		if st, _ := o.State(7); st.RowVar != nil {
			t.Errorf("%s: a state set to none still reports row_var", c.name)
		}
		o.Close()
	}
}

// TestLowMatrixNoAllocs: a step of every matrix case on 16-bit storage
// allocates nothing, on one worker or two (but under the race detector,
// which empties the sync.Pool of the composed stochastic kernels' buffers).
func TestLowMatrixNoAllocs(t *testing.T) {
	lowParallelMin(t, 16)
	for _, c := range lowCkOptions {
		params, grads := lowMatrixParams[BFloat16](1)
		o := newLowMatrix(t, c.opts, params)
		for _, w := range []int{1, 2} {
			if err := o.SetWorkers(w); err != nil {
				t.Fatal(err)
			}
			if err := o.Step(grads[0]...); err != nil { // the plan and the pool
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(5, func() {
				if err := o.Step(grads[0]...); err != nil {
					t.Fatal(err)
				}
			}); n != 0 && !underRace {
				t.Errorf("%s: a step on %d workers allocates %v times", c.name, w, n)
			}
		}
		o.Close()
	}
}

// TestLowMatrixLoopFeatures: the training loop's features reach the matrix
// rules on 16-bit storage: a non-finite gradient skips the whole step
// (StepIfFinite, ScaledStepLow), clipping scales their gradients as the
// others', a group's rule and rate change between steps (Muon's bfloat16
// iteration switched on, which needs more scratch), and a schedule drives
// their rate.
func TestLowMatrixLoopFeatures(t *testing.T) {
	params, grads := lowMatrixParams[BFloat16](3)
	o := newLowMatrix(t, LowOptions{}, params)
	defer o.Close()
	before := lowFingerprint(o)
	bad := slices.Clone(grads[0])
	bad[7] = slices.Clone(bad[7])
	bad[7][3] = BFloat16(0x7F80) // +Inf in Adafactor's gradient
	if skipped, err := o.StepIfFinite(bad...); err != nil || !skipped {
		t.Fatalf("StepIfFinite with an infinite gradient: skipped %v, %v", skipped, err)
	}
	s, err := NewGradScaler(DefaultGradScalerConfig())
	if err != nil {
		t.Fatal(err)
	}
	if skipped, err := ScaledStepLow(s, o, bad...); err != nil || !skipped {
		t.Fatalf("ScaledStepLow with an infinite gradient: skipped %v, %v", skipped, err)
	}
	if lowFingerprint(o) != before {
		t.Fatal("a skipped step changed the optimizer")
	}
	if _, err := o.ClipGradNorm(0.5, 2, true, grads[0]...); err != nil {
		t.Fatal(err)
	}
	if n, _ := o.GradNorm(2, grads[0]...); n > 0.5*(1+1e-2) {
		t.Errorf("the norm after clipping to 0.5 is %v", n)
	}
	if err := o.Step(grads[0]...); err != nil {
		t.Fatal(err)
	}
	r := o.GroupRule(3).(Muon) // muon/big (48 × 80), the float32 iteration
	r.NSBFloat16 = true
	if err := o.SetGroupRule(3, r); err != nil {
		t.Fatal(err)
	}
	sched, err := schedule.New(o, schedule.StepLR{StepSize: 1, Gamma: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	lr := o.GroupLR(1)
	if err := o.Step(grads[1]...); err != nil {
		t.Fatal(err)
	}
	if err := sched.Step(); err != nil {
		t.Fatal(err)
	}
	if got := o.GroupLR(1); got != lr*0.5 {
		t.Errorf("Muon's rate after a StepLR step: %v, want %v", got, lr*0.5)
	}
	if err := o.Step(grads[2]...); err != nil {
		t.Fatal(err)
	}
	if st, _ := o.State(1); st.Step != 3 {
		t.Errorf("Muon's step count %d after three steps", st.Step)
	}
}

// TestLowMatrixAddGroup: a matrix group added to a LowOptimizer that has
// stepped (AddGroup) steps as in an optimizer of its own, beside the
// others, with one worker or two.
func TestLowMatrixAddGroup(t *testing.T) {
	lowParallelMin(t, 16)
	for _, workers := range []int{1, 2} {
		params, grads := lowMatrixParams[BFloat16](3)
		// AdamW and the first two cases, Muon's.
		cases := matrixCases()
		o, err := NewLowGroups(LowOptions{},
			LowGroup[BFloat16]{Rule: DefaultAdamW(), Params: params[:1]},
			LowGroup[BFloat16]{Rule: cases[0].rule, Params: params[1:2], Shapes: []Shape{cases[0].shape}},
			LowGroup[BFloat16]{Rule: cases[1].rule, Params: params[2:3], Shapes: []Shape{cases[1].shape}})
		if err != nil {
			t.Fatal(err)
		}
		if err := o.SetWorkers(workers); err != nil {
			t.Fatal(err)
		}
		if err := o.Step(grads[0][:3]...); err != nil {
			t.Fatal(err)
		}
		c := cases[6] // adafactor/matrix, 6 × 10
		added := slices.Clone(params[7])
		if err := o.AddGroup(LowGroup[BFloat16]{Rule: c.rule, Params: [][]BFloat16{added}, Shapes: []Shape{c.shape}}); err != nil {
			t.Fatal(err)
		}
		alone, err := NewLowGroups(LowOptions{}, LowGroup[BFloat16]{Rule: c.rule, Params: [][]BFloat16{params[7]}, Shapes: []Shape{c.shape}})
		if err != nil {
			t.Fatal(err)
		}
		for _, gs := range grads[1:] {
			if err := o.Step(append(slices.Clone(gs[:3]), gs[7])...); err != nil {
				t.Fatal(err)
			}
			if err := alone.Step(gs[7]); err != nil {
				t.Fatal(err)
			}
		}
		if !slices.Equal(added, params[7]) {
			t.Errorf("%d workers: the added Adafactor parameter differs from an optimizer of its own", workers)
		}
		if o.Shape(3).String() != "[6, 10]" {
			t.Errorf("the added parameter's shape is %v", o.Shape(3))
		}
		o.Close()
		alone.Close()
	}
}
