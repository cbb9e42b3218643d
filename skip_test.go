package optim

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/simdoptim/optim/internal/safetensors"
)

// Parameters without a gradient: a nil gradient skips its parameter exactly
// as torch skips a parameter whose grad is None.

// skipInputs are three params and their gradients over steps: param 0 has
// one at every step, param 1 at some (nil at the others), param 2 never.
func skipInputs[T testFloat](steps int) (params [][]T, grads [][][]T) {
	p, g := apiInputs[T](11, steps)
	params = [][]T{p[0], p[2], p[4]} // lengths 5, 33, 64
	for s := range g {
		g1 := g[s][2]
		if s%3 == 0 || s == 1 {
			g1 = nil
		}
		grads = append(grads, [][]T{g[s][0], g1, nil})
	}
	return params, grads
}

// TestStepNilGradSkipsParam: a nil gradient leaves its parameter, its state
// and its step count untouched (no update, no weight decay), and the others
// step exactly as they would without it; a parameter stepped only now and
// then follows exactly the trajectory of its own steps.
func TestStepNilGradSkipsParam(t *testing.T) {
	testStepNilGradSkipsParam[float32](t)
	testStepNilGradSkipsParam[float64](t)
}

func testStepNilGradSkipsParam[T testFloat](t *testing.T) {
	const steps = 9
	for _, c := range caseConfigs() {
		for _, workers := range []int{1, 3} {
			params, grads := skipInputs[T](steps)
			initial2 := append([]T(nil), params[2]...)
			// The reference: each parameter alone, stepped at its own steps.
			ref := [][]T{append([]T(nil), params[0]...), append([]T(nil), params[1]...)}
			alone := make([]*Optimizer[T], 2)
			for i := range alone {
				o, err := New(c.rule, ref[i])
				if err != nil {
					t.Fatal(err)
				}
				alone[i] = o
			}
			opt, err := New(c.rule, params...)
			if err != nil {
				t.Fatal(err)
			}
			if workers > 1 {
				lowParallelMin(t, 16)
				if err := opt.SetWorkers(workers); err != nil {
					t.Fatal(err)
				}
			}
			for s := range steps {
				if err := opt.Step(grads[s]...); err != nil {
					t.Fatalf("%#v: step %d with a nil gradient: %v", c.rule, s, err)
				}
				for i, o := range alone {
					if grads[s][i] != nil {
						if err := o.Step(grads[s][i]); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			opt.Close()
			for i := range alone {
				if j := firstDiff(params[i], ref[i]); j >= 0 {
					t.Errorf("%#v, %d workers: param %d [%d] = %v, stepped alone %v", c.rule, workers, i, j, params[i][j], ref[i][j])
				}
				got, _ := opt.State(i)
				want, _ := alone[i].State(0)
				if got.Step != want.Step {
					t.Errorf("%#v: param %d: %d steps, stepped alone %d", c.rule, i, got.Step, want.Step)
				}
				gs, ws := stateSlices(got), stateSlices(want)
				for k := range gs {
					if j := firstDiff(gs[k], ws[k]); j >= 0 {
						t.Errorf("%#v: param %d: state %d differs from the param stepped alone at [%d]", c.rule, i, k, j)
					}
				}
			}
			if j := firstDiff(params[2], initial2); j >= 0 {
				t.Errorf("%#v: param 2, which never had a gradient, changed at [%d]: %v, was %v", c.rule, j, params[2][j], initial2[j])
			}
			st, err := opt.State(2)
			if err != nil {
				t.Fatal(err)
			}
			if st.Step != 0 {
				t.Errorf("%#v: param 2, which never had a gradient, has step count %d", c.rule, st.Step)
			}
			for _, s := range stateSlices(st) {
				if s != nil {
					t.Errorf("%#v: param 2, which never had a gradient, has state %v (torch's state[p] is empty)", c.rule, st)
					break
				}
			}
		}
	}
}

// TestNeverSteppedParamHasNoCheckpointState: a parameter that never had a
// gradient has no tensors in a checkpoint, as in torch's state dict, and the
// checkpoint loads into a fresh optimizer, which then continues bit for bit.
func TestNeverSteppedParamHasNoCheckpointState(t *testing.T) {
	for _, c := range caseConfigs() {
		params, grads := skipInputs[float64](6)
		opt, err := New(c.rule, params...)
		if err != nil {
			t.Fatal(err)
		}
		for s := range 4 {
			if err := opt.Step(grads[s]...); err != nil {
				t.Fatalf("%#v: %v", c.rule, err)
			}
		}
		file, h := saveHeader(t, opt)
		for _, tn := range h.Tensors {
			if strings.HasPrefix(tn.Name, "state.2.") {
				t.Errorf("%#v: the checkpoint has %s for a parameter that never had a gradient", c.rule, tn.Name)
			}
		}
		copies := clone2(params)
		resumed, err := New(c.rule, copies...)
		if err != nil {
			t.Fatal(err)
		}
		if err := resumed.Load(bytes.NewReader(file)); err != nil {
			t.Fatalf("%#v: loading a checkpoint with a never-stepped parameter: %v", c.rule, err)
		}
		for s := 4; s < 6; s++ {
			if err := opt.Step(grads[s]...); err != nil {
				t.Fatal(err)
			}
			if err := resumed.Step(grads[s]...); err != nil {
				t.Fatal(err)
			}
		}
		for i := range params {
			if j := firstDiff(copies[i], params[i]); j >= 0 {
				t.Errorf("%#v: resumed param %d differs at [%d]", c.rule, i, j)
			}
		}
		if st, _ := resumed.State(2); st.Step != 0 || stateSlices(st)[0] != nil {
			t.Errorf("%#v: after Load, the never-stepped param 2 has state %+v", c.rule, st)
		}
	}
}

// TestStepWrongLengthMentionsNil: the error for a gradient of the wrong
// length says that nil is how to give none.
func TestStepWrongLengthMentionsNil(t *testing.T) {
	opt, err := New[float32](DefaultAdamW(), make([]float32, 5), make([]float32, 4))
	if err != nil {
		t.Fatal(err)
	}
	err = opt.Step(make([]float32, 5), make([]float32, 0))
	var se *ShapeError
	if !errors.As(err, &se) {
		t.Fatalf("Step with an empty gradient for a param of 4: %v, want a *ShapeError", err)
	}
	wantError(t, "an empty gradient", err, "grad 1 has length 0", "param 1 has length 4", `nil`, "no gradient")
}

// saveHeader saves o and returns the file and its header.
func saveHeader[T testFloat](t *testing.T, o *Optimizer[T]) ([]byte, *safetensors.Header) {
	t.Helper()
	var buf bytes.Buffer
	if err := o.Save(&buf); err != nil {
		t.Fatal(err)
	}
	h, err := safetensors.ReadHeader(bytes.NewReader(buf.Bytes()), safetensors.Unlimited(1<<20), nil)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), h
}

// TestStepsCountsAFrozenFirstParam: Steps counts the steps taken when the
// first parameter never has a gradient (it used to report that
// parameter's 0).
func TestStepsCountsAFrozenFirstParam(t *testing.T) {
	o, err := New[float32](DefaultAdamW(), make([]float32, 3), make([]float32, 2))
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if err := o.Step(nil, make([]float32, 2)); err != nil {
			t.Fatal(err)
		}
	}
	if o.Steps() != 4 {
		t.Errorf("Steps() = %d after 4 steps of which param 0 took none", o.Steps())
	}
}
