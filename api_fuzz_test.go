package optim

import (
	"math"
	"testing"

	"github.com/simdoptim/optim/internal/testvals"
	"github.com/simdoptim/optim/kernels"
)

// The fuzz targets of the public API take a length, hyperparameters and raw
// bytes that become float bits (so every NaN, infinity and subnormal can
// appear): New and Coefficients must reject exactly the invalid
// hyperparameters, with an error rather than a panic, and a few Steps must
// give the bits of generic applied by hand from torch's initial state. That
// every kernel set computes generic's bits is fuzzed in package kernels.
//
//	go test -fuzz=FuzzNewAdam -fuzztime=10s

// fuzzRule checks rule (valid tells whether torch would accept it) on a
// parameter of length n%301 at alignment offset off%16 for 1+steps%4 steps.
func fuzzRule(t *testing.T, rule Rule, valid bool, n, off, steps int, data []byte) {
	n, off, steps = n%301, off%16, 1+steps%4
	fuzzRuleT[float32](t, rule, valid, n, off, steps, data)
	fuzzRuleT[float64](t, rule, valid, n, off, steps, data)
}

func fuzzRuleT[T testFloat](t *testing.T, rule Rule, valid bool, n, off, steps int, data []byte) {
	valid = valid && fitsIn[T](derefRule(rule))
	in := &testvals.FuzzInput[T]{Data: data}
	p0 := make([]T, n)
	in.Fill(p0)
	grads := make([][]T, steps)
	for s := range grads {
		grads[s] = make([]T, n)
		in.Fill(grads[s])
	}

	// The public API, on the dispatched set, from torch's initial state,
	// with the parameter at element offset off from an allocation's start.
	p := make([]T, off+n)[off:]
	copy(p, p0)
	opt, err := New[T](rule, p)
	if valid != (err == nil) {
		t.Fatalf("New(%#v): error %v, want an error: %v", rule, err, !valid)
	}
	if _, _, cerr := Coefficients[T](rule, 1); (cerr == nil) != valid {
		t.Fatalf("Coefficients(%#v): error %v, want an error: %v", rule, cerr, !valid)
	}
	if !valid {
		return
	}
	kind := mustKernelKind(t, rule)
	ref := kernels.Kernel[T](kernels.Generic(), kind)
	_, v1, _ := Coefficients[T](rule, 1)
	used := [5]bool{true, true}
	used[2], used[3], used[4] = kernels.Uses(kind, v1)

	// Generic by hand from the same initial state as New's.
	want := [5][]T{append([]T(nil), p0...)}
	for k := 2; k < 5; k++ {
		if used[k] {
			want[k] = make([]T, n)
			if a, ok := derefRule(rule).(Adagrad); ok {
				for i := range want[k] {
					want[k][i] = T(a.InitialAccumulatorValue)
				}
			}
		}
	}
	for s := range steps {
		if err := opt.Step(grads[s]); err != nil {
			t.Fatal(err)
		}
		c, v, err := Coefficients[T](rule, int64(s+1))
		if err != nil {
			t.Fatal(err)
		}
		ref(v, &c, want[0], grads[s], want[2], want[3], want[4])
	}
	if i := firstDiff(p, want[0]); i >= 0 {
		t.Fatalf("Step on %s: %s p[%d] = %#x, generic gives %#x", ISA(), dtypeName[T](), i, rawBits(p[i]), rawBits(want[0][i]))
	}
}

// The validity predicates restate torch's documented ranges, independently
// of the validation code under test.
func finiteNonNeg(x float64) bool { return x >= 0 && x <= math.MaxFloat64 }

// fitsIn restates, for a rule within torch's ranges, the package's own
// conditions: Eps positive, and every scalar T sees finite (and Eps not
// rounded to zero).
func fitsIn[T testFloat](r Rule) bool {
	finite := func(x float64) bool { y := float64(T(x)); return !math.IsInf(y, 0) && !math.IsNaN(y) }
	switch r := r.(type) {
	case SGD:
		return finite(-r.LR) && finite(r.WeightDecay)
	case Adagrad:
		return r.Eps > 0 && T(r.Eps) != 0 && finite(r.Eps) && finite(-r.LR) && finite(r.WeightDecay)
	case RMSProp:
		return r.Eps > 0 && T(r.Eps) != 0 && finite(r.Eps) && finite(-r.LR) && finite(r.WeightDecay)
	case Adam:
		ok := r.Eps > 0 && T(r.Eps) != 0 && finite(r.Eps) && finite(-(r.LR / (1 - r.Beta1))) && finite(r.WeightDecay)
		if r.Decoupled && r.WeightDecay != 0 {
			ok = ok && finite(1-float64(r.LR*r.WeightDecay))
		}
		return ok
	case Rprop:
		return finite(r.LR) && finite(r.EtaPlus) && finite(r.StepSizeMin) && finite(r.StepSizeMax) &&
			T(r.EtaMinus) > 0 && T(r.EtaMinus) < 1 && T(r.EtaPlus) > 1
	case ASGD:
		// eta is a float32 scalar whatever T is.
		eta := float64(float32(r.LR))
		return !math.IsInf(eta, 0) && finite(-eta) && finite(1-float64(r.Lambd*eta)) && finite(r.WeightDecay)
	case Lion:
		return finite(-r.LR) && (r.WeightDecay == 0 || finite(1-float64(r.LR*r.WeightDecay)))
	}
	return false
}
func inUnit(x float64) bool { return x >= 0 && x < 1 }

func FuzzNewSGD(f *testing.F) {
	seed := testvals.FuzzSeed()
	f.Add(uint16(17), uint8(3), 1e-3, 0.0, 0.0, 0.0, false, false, uint8(2), seed)
	f.Add(uint16(300), uint8(15), 0.1, 0.9, 0.0, 0.01, true, false, uint8(3), seed)
	f.Add(uint16(33), uint8(1), 0.5, 0.9, 0.5, 1e-4, false, true, uint8(3), seed[7:])
	f.Add(uint16(8), uint8(0), 0.1, 0.0, 0.0, 0.0, true, false, uint8(1), seed) // Nesterov without momentum
	f.Add(uint16(8), uint8(0), 0.1, 1.0, 0.0, 0.0, false, false, uint8(1), seed)
	f.Add(uint16(8), uint8(0), math.NaN(), 0.5, 0.0, 0.0, false, false, uint8(1), seed)
	f.Add(uint16(0), uint8(0), 1e300, 0.5, 1.0, 1e300, false, true, uint8(1), []byte{})
	f.Fuzz(func(t *testing.T, n uint16, off uint8, lr, momentum, dampening, wd float64, nesterov, maximize bool, steps uint8, data []byte) {
		r := SGD{LR: lr, Momentum: momentum, Dampening: dampening, WeightDecay: wd, Nesterov: nesterov, Maximize: maximize}
		valid := finiteNonNeg(lr) && inUnit(momentum) && dampening >= 0 && dampening <= 1 && finiteNonNeg(wd) &&
			(!nesterov || momentum > 0 && dampening == 0)
		fuzzRule(t, r, valid, int(n), int(off), int(steps), data)
	})
}

func FuzzNewAdagrad(f *testing.F) {
	seed := testvals.FuzzSeed()
	f.Add(uint16(17), uint8(3), 1e-2, 0.0, 0.0, 0.0, 1e-10, false, uint8(3), seed)
	f.Add(uint16(300), uint8(9), 0.1, 0.01, 0.1, 0.5, 1e-8, true, uint8(3), seed[3:])
	f.Add(uint16(5), uint8(0), 0.1, -1.0, 0.0, 0.0, 1e-10, false, uint8(1), seed)
	f.Add(uint16(5), uint8(0), 0.1, 0.0, 0.0, math.Inf(1), 1e-10, false, uint8(1), seed)
	f.Add(uint16(64), uint8(4), 1e300, 1e300, 1e300, 1e300, 0.0, false, uint8(2), []byte{0xff, 0x7f})
	f.Fuzz(func(t *testing.T, n uint16, off uint8, lr, lrDecay, wd, initAcc, eps float64, maximize bool, steps uint8, data []byte) {
		r := Adagrad{LR: lr, LRDecay: lrDecay, WeightDecay: wd, InitialAccumulatorValue: initAcc, Eps: eps, Maximize: maximize}
		valid := finiteNonNeg(lr) && finiteNonNeg(lrDecay) && finiteNonNeg(wd) && finiteNonNeg(initAcc) && finiteNonNeg(eps)
		fuzzRule(t, &r, valid, int(n), int(off), int(steps), data)
	})
}

func FuzzNewRMSProp(f *testing.F) {
	seed := testvals.FuzzSeed()
	f.Add(uint16(17), uint8(3), 1e-2, 0.99, 1e-8, 0.0, 0.0, false, false, uint8(3), seed)
	f.Add(uint16(300), uint8(11), 1e-2, 0.3, 1e-8, 0.1, 0.9, true, true, uint8(3), seed[5:])
	f.Add(uint16(100), uint8(2), 1e-2, 0.99, 1e-8, 0.0, 0.5, true, false, uint8(2), seed)
	f.Add(uint16(4), uint8(0), 1e-2, 1.0, 1e-8, 0.0, 0.0, false, false, uint8(1), seed)
	f.Add(uint16(4), uint8(0), 1e-2, 0.5, math.Inf(-1), 0.0, 0.0, false, false, uint8(1), seed)
	f.Fuzz(func(t *testing.T, n uint16, off uint8, lr, alpha, eps, wd, momentum float64, centered, maximize bool, steps uint8, data []byte) {
		r := RMSProp{LR: lr, Alpha: alpha, Eps: eps, WeightDecay: wd, Momentum: momentum, Centered: centered, Maximize: maximize}
		valid := finiteNonNeg(lr) && inUnit(alpha) && finiteNonNeg(eps) && finiteNonNeg(wd) && inUnit(momentum)
		fuzzRule(t, r, valid, int(n), int(off), int(steps), data)
	})
}

func FuzzNewAdam(f *testing.F) {
	seed := testvals.FuzzSeed()
	f.Add(uint16(17), uint8(3), 1e-3, 0.9, 0.999, 1e-8, 0.0, false, false, false, uint8(3), seed)
	f.Add(uint16(300), uint8(13), 1e-3, 0.9, 0.999, 1e-8, 1e-2, true, true, false, uint8(3), seed[1:])
	f.Add(uint16(129), uint8(7), 0.5, 0.25, 0.5, 0.0, 0.5, true, false, true, uint8(3), seed)
	f.Add(uint16(3), uint8(0), 1e-3, 1.0, 0.999, 1e-8, 0.0, false, false, false, uint8(1), seed)
	f.Add(uint16(3), uint8(0), 1e-3, 0.9, math.NaN(), 1e-8, 0.0, false, false, false, uint8(1), seed)
	f.Add(uint16(3), uint8(0), -1e-3, 0.9, 0.999, 1e-8, 0.0, false, false, false, uint8(1), seed)
	f.Add(uint16(31), uint8(1), 1e300, 0.0, 0.0, 1e300, 1e300, true, true, true, uint8(3), []byte{0x01, 0x00, 0x80})
	f.Fuzz(func(t *testing.T, n uint16, off uint8, lr, beta1, beta2, eps, wd float64, amsgrad, decoupled, maximize bool, steps uint8, data []byte) {
		r := Adam{LR: lr, Beta1: beta1, Beta2: beta2, Eps: eps, WeightDecay: wd, AMSGrad: amsgrad, Decoupled: decoupled, Maximize: maximize}
		valid := finiteNonNeg(lr) && inUnit(beta1) && inUnit(beta2) && finiteNonNeg(eps) && finiteNonNeg(wd)
		fuzzRule(t, r, valid, int(n), int(off), int(steps), data)
	})
}

func FuzzNewRprop(f *testing.F) {
	seed := testvals.FuzzSeed()
	f.Add(uint16(17), uint8(3), 1e-2, 0.5, 1.2, 1e-6, 50.0, false, uint8(3), seed)
	f.Add(uint16(300), uint8(5), 0.1, 0.25, 2.0, 0.01, 0.5, true, uint8(3), seed[2:])
	f.Add(uint16(4), uint8(0), 1e-2, 1.0, 1.2, 1e-6, 50.0, false, uint8(1), seed)
	f.Add(uint16(4), uint8(0), 1e-2, 0.5, 1.2, 60.0, 50.0, false, uint8(1), seed)
	f.Add(uint16(4), uint8(0), 1e-2, 0.99999999999, 1.00000000001, 0.0, 1e39, false, uint8(2), seed)
	f.Fuzz(func(t *testing.T, n uint16, off uint8, lr, etaMinus, etaPlus, lo, hi float64, maximize bool, steps uint8, data []byte) {
		r := Rprop{LR: lr, EtaMinus: etaMinus, EtaPlus: etaPlus, StepSizeMin: lo, StepSizeMax: hi, Maximize: maximize}
		valid := finiteNonNeg(lr) && etaMinus > 0 && etaMinus < 1 && etaPlus > 1 && etaPlus <= math.MaxFloat64 &&
			finiteNonNeg(lo) && finiteNonNeg(hi) && lo <= hi
		fuzzRule(t, r, valid, int(n), int(off), int(steps), data)
	})
}

func FuzzNewASGD(f *testing.F) {
	seed := testvals.FuzzSeed()
	f.Add(uint16(17), uint8(3), 1e-2, 1e-4, 0.75, 1e6, 0.0, false, uint8(3), seed)
	f.Add(uint16(300), uint8(5), 0.05, 0.1, 0.5, 1.0, 0.01, true, uint8(3), seed[4:])
	f.Add(uint16(4), uint8(0), 1e39, 0.0, 0.75, 1e6, 0.0, false, uint8(1), seed)
	f.Add(uint16(4), uint8(0), 1e-2, 1e-4, math.NaN(), 1e6, 0.0, false, uint8(1), seed)
	f.Add(uint16(9), uint8(0), 1e-2, 1e300, -3.0, -5.0, 1e300, false, uint8(3), seed)
	f.Fuzz(func(t *testing.T, n uint16, off uint8, lr, lambd, alpha, t0, wd float64, maximize bool, steps uint8, data []byte) {
		r := ASGD{LR: lr, Lambd: lambd, Alpha: alpha, T0: t0, WeightDecay: wd, Maximize: maximize}
		finite := func(x float64) bool { return !math.IsInf(x, 0) && !math.IsNaN(x) }
		valid := finiteNonNeg(lr) && finiteNonNeg(lambd) && finiteNonNeg(alpha) && finite(t0) && finiteNonNeg(wd)
		fuzzRule(t, &r, valid, int(n), int(off), int(steps), data)
	})
}

func FuzzNewLion(f *testing.F) {
	seed := testvals.FuzzSeed()
	f.Add(uint16(17), uint8(3), 1e-4, 0.9, 0.99, 0.0, false, uint8(3), seed)
	f.Add(uint16(300), uint8(5), 1e-2, 0.5, 0.9, 0.1, true, uint8(3), seed[6:])
	f.Add(uint16(4), uint8(0), 1e-4, 1.0, 1.0, 0.0, false, uint8(2), seed)
	f.Add(uint16(4), uint8(0), 1e20, 0.9, 0.99, 1e20, false, uint8(1), seed)
	f.Fuzz(func(t *testing.T, n uint16, off uint8, lr, beta1, beta2, wd float64, maximize bool, steps uint8, data []byte) {
		r := Lion{LR: lr, Beta1: beta1, Beta2: beta2, WeightDecay: wd, Maximize: maximize}
		valid := finiteNonNeg(lr) && beta1 >= 0 && beta1 <= 1 && beta2 >= 0 && beta2 <= 1 && finiteNonNeg(wd)
		fuzzRule(t, r, valid, int(n), int(off), int(steps), data)
	})
}
