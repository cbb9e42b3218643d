package kernels

import (
	"math"
	"testing"

	"github.com/simdoptim/optim/generic"
	"github.com/simdoptim/optim/internal/testvals"
)

// The fuzz targets take a length, an alignment offset, hyperparameters and
// raw bytes that become float bits (so every NaN, infinity and subnormal can
// appear in parameters, gradients and state), build each step's
// coefficients with the rule's coefficient function, run a few steps
// through every supported set and through generic, and demand identical
// bits and intact guards. Hyperparameters are not validated here: whatever
// coefficients a function returns, every set must compute generic's bits.
//
//	go test -fuzz=FuzzAdam -fuzztime=10s ./kernels

// coeffsFunc returns the coefficients of 1-based step number step.
type coeffsFunc[T Float] func(step int64) (Coeffs[T], Variant)

// fuzzKernels runs kind on a parameter of length n%301 at alignment offset
// off%16 for 1+steps%4 steps in every supported set and compares with
// generic.
func fuzzKernels(t *testing.T, kind Kind, n, off, steps int, data []byte,
	c32 coeffsFunc[float32], c64 coeffsFunc[float64]) {
	n, off, steps = n%301, off%16, 1+steps%4
	fuzzKernelsT(t, kind, n, off, steps, data, c32)
	fuzzKernelsT(t, kind, n, off, steps, data, c64)
}

func fuzzKernelsT[T Float](t *testing.T, kind Kind, n, off, steps int, data []byte, coeffs coeffsFunc[T]) {
	in := &testvals.FuzzInput[T]{Data: data}
	_, v1 := coeffs(1)
	u := generic.Rules()[kind].Uses(v1) // every step's variant uses the same slices
	used := [5]bool{true, true, u[0], u[1], u[2]}
	var start, want [5][]T
	for k := range start {
		if used[k] && k != 1 {
			start[k] = make([]T, n)
			in.Fill(start[k])
			want[k] = append([]T(nil), start[k]...)
		}
	}
	grads := make([][]T, steps)
	for s := range grads {
		grads[s] = make([]T, n)
		in.Fill(grads[s])
	}
	ref := Kernel[T](Generic(), kind)
	for s := range steps {
		c, v := coeffs(int64(s + 1))
		ref(v, &c, want[0], grads[s], want[2], want[3], want[4])
	}
	var bufs [5]*guardedBuf[T]
	for k := range bufs {
		bufs[k] = newGuardedBuf[T](k, n+16)
	}
	for _, set := range append(testedSets(t), Generic()) {
		var args [5][]T
		var offs [5]int
		for k := range args {
			if used[k] && k != 1 {
				offs[k] = (off + 5*k) % 16
				args[k] = bufs[k].place(offs[k], n)
				copy(args[k], start[k])
			}
		}
		kernel := Kernel[T](set, kind)
		for s := range steps {
			offs[1] = (off + s) % 16
			args[1] = bufs[1].place(offs[1], n)
			copy(args[1], grads[s])
			c, v := coeffs(int64(s + 1))
			kernel(v, &c, args[0], args[1], args[2], args[3], args[4])
			if i := firstDiff(args[1], grads[s]); i >= 0 {
				t.Fatalf("%s %s: kernel wrote g[%d]", set.name, dtypeName[T](), i)
			}
		}
		for k := range args {
			if !used[k] {
				continue
			}
			if err := bufs[k].check(offs[k], n); err != nil {
				t.Fatalf("%s %s: %v", set.name, dtypeName[T](), err)
			}
			if k != 1 {
				if i := firstDiff(args[k], want[k]); i >= 0 {
					t.Fatalf("%s %s %s[%d] = %#x, generic gives %#x (offset %d, %d steps)",
						set.name, dtypeName[T](), streamNames[k], i, rawBits(args[k][i]), rawBits(want[k][i]), offs[k], steps)
				}
			}
		}
	}
}

func FuzzSGD(f *testing.F) {
	seed := testvals.FuzzSeed()
	f.Add(uint16(17), uint8(3), 1e-3, 0.0, 0.0, 0.0, false, false, uint8(2), seed)
	f.Add(uint16(300), uint8(15), 0.1, 0.9, 0.0, 0.01, true, false, uint8(3), seed)
	f.Add(uint16(33), uint8(1), 0.5, 0.9, 0.5, 1e-4, false, true, uint8(3), seed[7:])
	f.Add(uint16(8), uint8(0), math.NaN(), 0.5, 0.0, 0.0, false, false, uint8(1), seed)
	f.Add(uint16(0), uint8(0), 1e300, 0.5, 1.0, 1e300, false, true, uint8(1), []byte{})
	f.Fuzz(func(t *testing.T, n uint16, off uint8, lr, momentum, dampening, wd float64, nesterov, maximize bool, steps uint8, data []byte) {
		fuzzKernels(t, KindSGD, int(n), int(off), int(steps), data,
			func(step int64) (Coeffs[float32], Variant) {
				return generic.SGDCoeffs[float32](lr, momentum, dampening, wd, nesterov, maximize, step == 1)
			},
			func(step int64) (Coeffs[float64], Variant) {
				return generic.SGDCoeffs[float64](lr, momentum, dampening, wd, nesterov, maximize, step == 1)
			})
	})
}

func FuzzAdagrad(f *testing.F) {
	seed := testvals.FuzzSeed()
	f.Add(uint16(17), uint8(3), 1e-2, 0.0, 0.0, 1e-10, false, uint8(3), seed)
	f.Add(uint16(300), uint8(9), 0.1, 0.01, 0.1, 1e-8, true, uint8(3), seed[3:])
	f.Add(uint16(64), uint8(4), 1e300, 1e300, 1e300, 0.0, false, uint8(2), []byte{0xff, 0x7f})
	f.Fuzz(func(t *testing.T, n uint16, off uint8, lr, lrDecay, wd, eps float64, maximize bool, steps uint8, data []byte) {
		fuzzKernels(t, KindAdagrad, int(n), int(off), int(steps), data,
			func(step int64) (Coeffs[float32], Variant) {
				return generic.AdagradCoeffs[float32](lr, lrDecay, wd, eps, maximize, step)
			},
			func(step int64) (Coeffs[float64], Variant) {
				return generic.AdagradCoeffs[float64](lr, lrDecay, wd, eps, maximize, step)
			})
	})
}

func FuzzRMSProp(f *testing.F) {
	seed := testvals.FuzzSeed()
	f.Add(uint16(17), uint8(3), 1e-2, 0.99, 1e-8, 0.0, 0.0, false, false, uint8(3), seed)
	f.Add(uint16(300), uint8(11), 1e-2, 0.3, 1e-8, 0.1, 0.9, true, true, uint8(3), seed[5:])
	f.Add(uint16(100), uint8(2), 1e-2, 0.99, 1e-8, 0.0, 0.5, true, false, uint8(2), seed)
	f.Fuzz(func(t *testing.T, n uint16, off uint8, lr, alpha, eps, wd, momentum float64, centered, maximize bool, steps uint8, data []byte) {
		fuzzKernels(t, KindRMSProp, int(n), int(off), int(steps), data,
			func(int64) (Coeffs[float32], Variant) {
				return generic.RMSPropCoeffs[float32](lr, alpha, eps, wd, momentum, centered, maximize)
			},
			func(int64) (Coeffs[float64], Variant) {
				return generic.RMSPropCoeffs[float64](lr, alpha, eps, wd, momentum, centered, maximize)
			})
	})
}

func FuzzAdam(f *testing.F) {
	seed := testvals.FuzzSeed()
	f.Add(uint16(17), uint8(3), 1e-3, 0.9, 0.999, 1e-8, 0.0, false, false, false, uint8(3), seed)
	f.Add(uint16(300), uint8(13), 1e-3, 0.9, 0.999, 1e-8, 1e-2, true, true, false, uint8(3), seed[1:])
	f.Add(uint16(129), uint8(7), 0.5, 0.25, 0.5, 0.0, 0.5, true, false, true, uint8(3), seed)
	f.Add(uint16(31), uint8(1), 1e300, 0.0, 0.0, 1e300, 1e300, true, true, true, uint8(3), []byte{0x01, 0x00, 0x80})
	f.Fuzz(func(t *testing.T, n uint16, off uint8, lr, beta1, beta2, eps, wd float64, amsgrad, decoupled, maximize bool, steps uint8, data []byte) {
		fuzzKernels(t, KindAdam, int(n), int(off), int(steps), data,
			func(step int64) (Coeffs[float32], Variant) {
				return generic.AdamCoeffs[float32](lr, beta1, beta2, eps, wd, amsgrad, decoupled, maximize, step)
			},
			func(step int64) (Coeffs[float64], Variant) {
				return generic.AdamCoeffs[float64](lr, beta1, beta2, eps, wd, amsgrad, decoupled, maximize, step)
			})
	})
}

// withScalars returns the coefficient function of a rule with scalar state
// (NAdam, ASGD): the coefficients of step number step come from the state
// that steps 1 to step-1 left, replayed once from init, so that every set
// sees the same step from the same state.
func withScalars[T Float](init generic.Scalars, f func(step int64, sc generic.Scalars) (Coeffs[T], Variant, generic.Scalars)) coeffsFunc[T] {
	states := []generic.Scalars{init} // states[s]: what steps 1 to s left
	return func(step int64) (Coeffs[T], Variant) {
		for int64(len(states)) < step {
			_, _, next := f(int64(len(states)), states[len(states)-1])
			states = append(states, next)
		}
		c, v, _ := f(step, states[step-1])
		return c, v
	}
}

// from shifts f's steps: step s of the result is step first+s of f.
func (f coeffsFunc[T]) from(first int64) coeffsFunc[T] {
	return func(step int64) (Coeffs[T], Variant) { return f(first + step) }
}

// The rules whose coefficients change with the step number (bias
// corrections, RAdam's rectification, NAdam's momentum schedule) take a
// start: the fuzzed steps are start%1000+1 on, so that later steps (RAdam
// is rectified from about step 6 on) are reached too.

func FuzzNAdam(f *testing.F) {
	seed := testvals.FuzzSeed()
	f.Add(uint16(17), uint8(3), 2e-3, 0.9, 0.999, 1e-8, 0.0, 4e-3, false, false, uint16(0), uint8(3), seed)
	f.Add(uint16(300), uint8(13), 2e-3, 0.9, 0.999, 1e-8, 1e-2, 4e-3, true, true, uint16(40), uint8(3), seed[1:])
	f.Add(uint16(129), uint8(7), 0.5, 0.25, 0.5, 0.0, 0.5, 0.5, false, false, uint16(7), uint8(2), seed)
	f.Add(uint16(31), uint8(1), 1e300, 0.0, 0.0, 1e300, 1e300, 1e300, true, true, uint16(1), uint8(3), []byte{0x01, 0x00, 0x80})
	f.Fuzz(func(t *testing.T, n uint16, off uint8, lr, beta1, beta2, eps, wd, momentumDecay float64, decoupled, maximize bool, start uint16, steps uint8, data []byte) {
		first := int64(start % 1000)
		fuzzKernels(t, KindNAdam, int(n), int(off), int(steps), data,
			withScalars(generic.Scalars{1}, func(step int64, sc generic.Scalars) (Coeffs[float32], Variant, generic.Scalars) {
				return generic.NAdamCoeffs[float32](lr, beta1, beta2, eps, wd, momentumDecay, decoupled, maximize, step, sc)
			}).from(first),
			withScalars(generic.Scalars{1}, func(step int64, sc generic.Scalars) (Coeffs[float64], Variant, generic.Scalars) {
				return generic.NAdamCoeffs[float64](lr, beta1, beta2, eps, wd, momentumDecay, decoupled, maximize, step, sc)
			}).from(first))
	})
}

func FuzzRAdam(f *testing.F) {
	seed := testvals.FuzzSeed()
	f.Add(uint16(17), uint8(3), 1e-3, 0.9, 0.999, 1e-8, 0.0, false, false, uint16(0), uint8(3), seed)
	f.Add(uint16(300), uint8(13), 1e-3, 0.9, 0.999, 1e-8, 1e-2, true, true, uint16(4), uint8(3), seed[1:])
	f.Add(uint16(129), uint8(7), 0.5, 0.25, 0.9, 0.0, 0.5, false, false, uint16(30), uint8(3), seed)
	f.Add(uint16(31), uint8(1), 1e300, 0.0, 0.0, 1e300, 1e300, true, true, uint16(2), uint8(3), []byte{0x01, 0x00, 0x80})
	f.Fuzz(func(t *testing.T, n uint16, off uint8, lr, beta1, beta2, eps, wd float64, decoupled, maximize bool, start uint16, steps uint8, data []byte) {
		first := int64(start % 1000)
		fuzzKernels(t, KindRAdam, int(n), int(off), int(steps), data,
			func(step int64) (Coeffs[float32], Variant) {
				return generic.RAdamCoeffs[float32](lr, beta1, beta2, eps, wd, decoupled, maximize, first+step)
			},
			func(step int64) (Coeffs[float64], Variant) {
				return generic.RAdamCoeffs[float64](lr, beta1, beta2, eps, wd, decoupled, maximize, first+step)
			})
	})
}

func FuzzAdamax(f *testing.F) {
	seed := testvals.FuzzSeed()
	f.Add(uint16(17), uint8(3), 2e-3, 0.9, 0.999, 1e-8, 0.0, false, uint16(0), uint8(3), seed)
	f.Add(uint16(300), uint8(13), 2e-3, 0.3, 0.999, 1e-8, 1e-2, true, uint16(9), uint8(3), seed[1:])
	f.Add(uint16(31), uint8(1), 1e300, 0.0, 0.0, 1e300, 1e300, true, uint16(1), uint8(3), []byte{0x01, 0x00, 0x80})
	f.Fuzz(func(t *testing.T, n uint16, off uint8, lr, beta1, beta2, eps, wd float64, maximize bool, start uint16, steps uint8, data []byte) {
		first := int64(start % 1000)
		fuzzKernels(t, KindAdamax, int(n), int(off), int(steps), data,
			func(step int64) (Coeffs[float32], Variant) {
				return generic.AdamaxCoeffs[float32](lr, beta1, beta2, eps, wd, maximize, first+step)
			},
			func(step int64) (Coeffs[float64], Variant) {
				return generic.AdamaxCoeffs[float64](lr, beta1, beta2, eps, wd, maximize, first+step)
			})
	})
}

func FuzzAdadelta(f *testing.F) {
	seed := testvals.FuzzSeed()
	f.Add(uint16(17), uint8(3), 1.0, 0.9, 1e-6, 0.0, false, uint8(3), seed)
	f.Add(uint16(300), uint8(9), 0.5, 0.3, 1e-6, 1e-2, true, uint8(3), seed[3:])
	f.Add(uint16(64), uint8(4), 1e300, 1e300, 0.0, 1e300, false, uint8(2), []byte{0xff, 0x7f})
	f.Fuzz(func(t *testing.T, n uint16, off uint8, lr, rho, eps, wd float64, maximize bool, steps uint8, data []byte) {
		fuzzKernels(t, KindAdadelta, int(n), int(off), int(steps), data,
			func(int64) (Coeffs[float32], Variant) {
				return generic.AdadeltaCoeffs[float32](lr, rho, eps, wd, maximize)
			},
			func(int64) (Coeffs[float64], Variant) {
				return generic.AdadeltaCoeffs[float64](lr, rho, eps, wd, maximize)
			})
	})
}

func FuzzRprop(f *testing.F) {
	seed := testvals.FuzzSeed()
	f.Add(uint16(17), uint8(3), 1e-2, 0.5, 1.2, 1e-6, 50.0, false, uint8(3), seed)
	f.Add(uint16(300), uint8(11), 1e-2, 0.5, 1.2, 1e-6, 50.0, true, uint8(3), seed[5:])
	f.Add(uint16(100), uint8(2), 0.5, 0.25, 2.0, 0.0, 1.0, false, uint8(2), seed)
	f.Add(uint16(33), uint8(1), math.NaN(), 0.0, math.Inf(1), math.NaN(), 0.0, true, uint8(3), []byte{0x01, 0x00, 0x80})
	f.Fuzz(func(t *testing.T, n uint16, off uint8, lr, etaMinus, etaPlus, stepMin, stepMax float64, maximize bool, steps uint8, data []byte) {
		fuzzKernels(t, KindRprop, int(n), int(off), int(steps), data,
			func(step int64) (Coeffs[float32], Variant) {
				return generic.RpropCoeffs[float32](lr, etaMinus, etaPlus, stepMin, stepMax, maximize, step == 1)
			},
			func(step int64) (Coeffs[float64], Variant) {
				return generic.RpropCoeffs[float64](lr, etaMinus, etaPlus, stepMin, stepMax, maximize, step == 1)
			})
	})
}

func FuzzASGD(f *testing.F) {
	seed := testvals.FuzzSeed()
	f.Add(uint16(17), uint8(3), 1e-2, 1e-4, 0.75, 1e6, 0.0, false, uint8(3), seed)
	f.Add(uint16(300), uint8(11), 1e-2, 1e-4, 0.75, 1.0, 1e-2, true, uint8(3), seed[5:])
	f.Add(uint16(100), uint8(2), 0.5, 0.5, 0.5, 0.0, 0.5, false, uint8(4), seed)
	f.Add(uint16(64), uint8(4), 1e300, 1e300, 1e300, math.NaN(), 1e300, true, uint8(2), []byte{0xff, 0x7f})
	f.Fuzz(func(t *testing.T, n uint16, off uint8, lr, lambd, alpha, t0, wd float64, maximize bool, steps uint8, data []byte) {
		fuzzKernels(t, KindASGD, int(n), int(off), int(steps), data,
			withScalars(generic.ASGDInit(lr), func(step int64, sc generic.Scalars) (Coeffs[float32], Variant, generic.Scalars) {
				return generic.ASGDCoeffs[float32](lr, lambd, alpha, t0, wd, maximize, step, sc)
			}),
			withScalars(generic.ASGDInit(lr), func(step int64, sc generic.Scalars) (Coeffs[float64], Variant, generic.Scalars) {
				return generic.ASGDCoeffs[float64](lr, lambd, alpha, t0, wd, maximize, step, sc)
			}))
	})
}

func FuzzLion(f *testing.F) {
	seed := testvals.FuzzSeed()
	f.Add(uint16(17), uint8(3), 1e-4, 0.9, 0.99, 0.0, false, uint8(3), seed)
	f.Add(uint16(300), uint8(13), 1e-4, 0.9, 0.99, 1e-2, true, uint8(3), seed[1:])
	f.Add(uint16(31), uint8(1), 1e300, 0.0, 1e300, 1e300, true, uint8(3), []byte{0x01, 0x00, 0x80})
	f.Fuzz(func(t *testing.T, n uint16, off uint8, lr, beta1, beta2, wd float64, maximize bool, steps uint8, data []byte) {
		fuzzKernels(t, KindLion, int(n), int(off), int(steps), data,
			func(int64) (Coeffs[float32], Variant) {
				return generic.LionCoeffs[float32](lr, beta1, beta2, wd, maximize)
			},
			func(int64) (Coeffs[float64], Variant) {
				return generic.LionCoeffs[float64](lr, beta1, beta2, wd, maximize)
			})
	})
}
